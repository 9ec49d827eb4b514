"""What the keyboard reaches: every action in the footer at 80 columns, arrows between cards."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from tui.app import FleetApp
from tui.screens.fleet import FleetScreen
from tui.screens.server import ServerScreen
from tui.widgets.server_card import ServerCard

from .test_app import make_app


def visible_footer_keys(app: FleetApp) -> dict[str, str]:
    """Description -> key of the footer keys drawn entirely left of the palette hint."""
    keys = list(app.screen.query(FooterKey))
    palette = next(k for k in keys if k.has_class("-command-palette"))
    return {
        k.description: k.key
        for k in keys
        if k is not palette and k.region.right <= palette.region.x and k.region.width
    }


async def test_every_fleet_action_is_in_the_footer_at_80_columns():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = visible_footer_keys(app)
        expected = {"Open", "Interrupt", "Clear", "Free", "Add", "Remove", "Sweep", "Quit"}
        assert expected <= set(shown), shown
        assert shown["Sweep"] == "s" and shown["Remove"] == "delete"


async def test_every_server_action_is_in_the_footer_at_80_columns():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ServerScreen)
        await pilot.pause()
        shown = visible_footer_keys(app)
        assert {"Back", "Interrupt", "Delete", "Clear", "Free", "Mark"} <= set(shown), shown


async def test_the_footer_keeps_its_padding_in_a_wide_terminal():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert not app.screen.query_one("SteadyFooter").compact  # type: ignore[attr-defined]


def focused_index(app: FleetApp) -> int:
    cards = list(app.screen.query(ServerCard))
    focused = app.screen.focused
    assert isinstance(focused, ServerCard), focused
    return cards.index(focused)


async def test_arrow_keys_move_between_cards_when_they_overflow_the_screen():
    urls = [f"http://10.0.0.{i}:8188" for i in range(64)]
    app = make_app(*urls, start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert focused_index(app) == 0  # a card, not the scroll view around them
        await pilot.press("down", "down", "down", "right")
        assert focused_index(app) == 7  # two columns: three rows down, one along
        await pilot.press("end")
        await pilot.pause()
        assert focused_index(app) == 63
        scroll = app.screen.query_one("#cards-scroll")
        card = app.screen.focused
        assert card is not None and scroll.region.contains_region(card.region)
        await pilot.press("pageup")
        assert focused_index(app) < 63
        await pilot.press("home", "enter")
        assert isinstance(app.screen, ServerScreen) and app.screen.url == urls[0]
