"""Acting on servers that misbehave: dead, failing, hung, answering nonsense.

The dashboard must stay responsive and say what happened, never show a traceback
or go quietly stale.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from textual.command import CommandList
from textual.widgets import Label, Static

from sweeps.config import ServerConfig, Timeouts
from sweeps.monitor import FleetMonitor
from sweeps.simulator import NEWEST, SimConfig, Simulator
from sweeps.simulator import routes as sim_routes
from tui.app import FleetApp
from tui.messages import ActionFinished
from tui.screens.add_server import AddServerScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.fleet import FleetScreen
from tui.screens.server import ServerScreen

from .conftest import until
from .test_app import actions_done, card_text, make_app


def notes(app: FleetApp, severity: str | None = None) -> list[tuple[str, str]]:
    return [
        (n.title, str(n.message))
        for n in app._notifications
        if severity is None or n.severity == severity
    ]


async def plain_500(self: object, request: web.Request) -> web.Response:
    return web.Response(status=500, text="500: Internal Server Error")


@pytest.fixture
async def free_fails(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Simulator]:
    """A simulator whose POST /free answers a plain 500 (routes are bound at start)."""
    monkeypatch.setattr(sim_routes._Routes, "post_free", plain_500)
    async with Simulator(SimConfig(speed=0.0)) as server:
        yield server


@pytest.fixture
async def stats_fail(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Simulator]:
    """A simulator that is up (websocket, queue) but whose /system_stats answers 500."""
    monkeypatch.setattr(sim_routes._Routes, "system_stats", plain_500)
    async with Simulator(SimConfig(speed=0.0)) as server:
        yield server


async def test_interrupt_on_a_server_that_just_died(sim: Simulator):
    messages: list[object] = []
    app = make_app(sim.url)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await sim.die()
        await pilot.press("i")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await actions_done(app)
        await until(pilot, lambda: any(isinstance(m, ActionFinished) for m in messages))
        [finished] = [m for m in messages if isinstance(m, ActionFinished)]
        assert not finished.ok
        [(title, message)] = notes(app, "error")
        assert title == "sim0: Server unreachable" and "/interrupt" in message
        await until(pilot, lambda: app.fleet.servers[0].link != "up")
        assert isinstance(app.screen, FleetScreen)


async def test_free_memory_answered_with_500_says_so(free_fails: Simulator):
    app = make_app(free_fails.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("f", "y")
        await actions_done(app)
        await until(pilot, lambda: bool(notes(app, "error")))
        [(title, message)] = notes(app, "error")
        assert title == "sim0: Server failed" and "HTTP 500" in message
        await until(pilot, lambda: "✗ unloaded models failed" in card_text(app, free_fails.url))
        assert not any("Models unloaded" in m for _, m in notes(app))


async def test_clear_queue_on_a_hung_server_says_it_waits_and_keeps_the_ui_alive(sim: Simulator):
    config = ServerConfig(sim.url, name="hung", timeouts=Timeouts(read=2.0))
    app = FleetApp([config], poll_interval=0.1)
    app.ACTION_SLOW_AFTER = 0.2
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        sim.faults.hang_http = True
        try:
            await pilot.press("c", "y")
            # Confirmed, and the server does not answer: the user is told it is waiting...
            await until(pilot, lambda: any(t == "Waiting" for t, _ in notes(app)))
            assert "still waiting" in notes(app)[-1][1]
            # ...and the dashboard goes on answering keys meanwhile.
            assert [w for w in app.workers if w.group == "server-actions" and not w.is_finished]
            await pilot.press("a")
            assert isinstance(app.screen, AddServerScreen)
            await pilot.press("escape")
            await actions_done(app)
            await until(pilot, lambda: bool(notes(app, "error")))
            title, message = notes(app, "error")[-1]
            assert title == "hung: Server timed out" and "POST" in message and "/queue" in message
        finally:
            sim.faults.hang_http = False


async def test_a_server_whose_system_stats_fail_is_up_with_the_error_shown(stats_fail: Simulator):
    app = make_app(stats_fail.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.servers[0].link == "up")
        await until(pilot, lambda: "/system_stats" in card_text(app, stats_fail.url))
        assert "HTTP 500" in card_text(app, stats_fail.url)
        assert app.engine_error is None and not notes(app, "error")


async def test_facts_of_a_dead_server_say_why_instead_of_waiting_forever():
    app = make_app("http://127.0.0.1:9")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.fleet.servers[0].link == "down")
        await pilot.press("enter")
        assert isinstance(app.screen, ServerScreen)
        facts = app.screen.query_one("#facts-view", Static)
        await until(pilot, lambda: "cannot reach" in str(facts.render()))
        assert "Waiting" not in str(facts.render())
        assert not notes(app, "error")  # an outage, shown where it applies: no traceback text


class StoppingMonitor(FleetMonitor):
    """A monitor that dies the way one poll's unexpected answer kills the real one."""

    async def run(self) -> None:
        raise ExceptionGroup(
            "unhandled errors in a TaskGroup",
            [AttributeError("'list' object has no attribute 'get'")],
        )


async def test_a_stopped_monitor_is_said_plainly_and_can_be_restarted(sim: Simulator):
    monitor = StoppingMonitor([ServerConfig(sim.url, name="sim0")], poll_interval=0.1)
    app = FleetApp(monitor=monitor)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine_error is not None)
        [(title, message)] = notes(app, "error")
        assert title == "The fleet monitor stopped"
        assert "AttributeError: 'list' object has no attribute 'get'" in message
        assert "ExceptionGroup" not in message
        summary = app.screen.query_one("#summary", Label)
        assert summary.has_class("-error") and "monitor stopped" in str(summary.render())
        await pilot.press("ctrl+p", *"restart the fleet")
        await until(pilot, lambda: bool(app.screen.query(CommandList).first().option_count))
        await pilot.press("enter")
        await until(pilot, lambda: app.fleet.up == 1)
        assert app.engine_error is None and not summary.has_class("-error")
        assert f"v{NEWEST}" in card_text(app, sim.url)
