"""The add-server dialog with what people type: no scheme, garbage, duplicates, dead hosts."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label

from sweeps.simulator import Simulator
from tui.app import FleetApp
from tui.screens.add_server import AddServerScreen, check_server
from tui.screens.fleet import FleetScreen

from .conftest import until
from .test_app import card_text, make_app


async def type_url(app: FleetApp, pilot: object, url: str, name: str = "") -> None:
    await pilot.press("a")  # type: ignore[attr-defined]
    assert isinstance(app.screen, AddServerScreen)
    app.screen.query_one("#url", Input).value = url
    app.screen.query_one("#name", Input).value = name
    await pilot.press("enter")  # type: ignore[attr-defined]


def dialog_error(app: FleetApp) -> str:
    return str(app.screen.query_one("#error", Label).render())


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://[::1", "invalid ipv6 url"),  # urlsplit's ValueError was a traceback before
        ("http://gpu1:99999", "port"),
        ("gpu1:http", "port"),
        ("http://bad host:8188", "'bad host'"),
        ("!!!", "'!!!'"),
        ("ftp://gpu1", "is not valid"),
        ("   ", "a url is needed"),
    ],
)
async def test_a_url_that_cannot_be_watched_keeps_the_dialog_open(url: str, says: str):
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_url(app, pilot, url)
        assert isinstance(app.screen, AddServerScreen)
        assert says in dialog_error(app).lower()
        assert len(app.monitor.servers) == 1
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


@pytest.mark.parametrize("typed", ["http://127.0.0.1:9", "127.0.0.1:9", "http://127.0.0.1:9/"])
async def test_a_server_already_watched_is_refused_in_the_dialog(typed: str):
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_url(app, pilot, typed, "again")
        assert isinstance(app.screen, AddServerScreen)
        assert "already watched (as sim0)" in dialog_error(app)
        assert [s.name for s in app.monitor.servers] == ["sim0"]


async def test_no_scheme_means_http_and_the_server_comes_up(sim: Simulator, sim2: Simulator):
    app = make_app(sim.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await type_url(app, pilot, sim2.url.removeprefix("http://"), "second")
        assert isinstance(app.screen, FleetScreen)
        await until(pilot, lambda: app.fleet.up == 2)
        assert "second" in [s.name for s in app.fleet.servers]


async def test_an_unreachable_host_is_added_and_shown_down(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await type_url(app, pilot, "http://127.0.0.1:9", "nowhere")
        assert isinstance(app.screen, FleetScreen)
        await until(pilot, lambda: app.fleet.get("http://127.0.0.1:9") is not None)
        await until(pilot, lambda: "down" in card_text(app, "http://127.0.0.1:9"))
        assert "✗" in card_text(app, "http://127.0.0.1:9")
        assert app.fleet.up == 1  # the other server is untouched
        assert app.engine_error is None


def test_check_server_accepts_what_servers_are_called():
    for url in ("gpu3:8188", "https://user:pw@host/comfy/", "http://[::1]:8188", "my_box.lan"):
        assert not isinstance(check_server(url), str), url
