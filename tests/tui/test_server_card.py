"""The server card: what its lines say, and that it redraws only what changed and what is seen."""

from __future__ import annotations

from textual.containers import VerticalScroll

from sweeps.events import Progress
from tui.app import FleetApp
from tui.widgets.server_card import ServerCard, card_lines, gauge, sparkline

from .snapshot_apps.fleets import T0, mixed, one, pair


def text(line: list[tuple[str, str]]) -> str:
    return "".join(run for run, _ in line)


def drawn(card: ServerCard) -> list[str]:
    """What the card's content lines show (its line cache: what was last painted)."""
    return [card.render_line(y).text for y in range(card.size.height)]


def card(app: FleetApp, url: str) -> ServerCard:
    return next(c for c in app.screen.query(ServerCard) if c.url == url)


def test_gauge_fills_in_half_cells():
    assert gauge(0.0, 4) == ("", "━━━━")
    assert gauge(0.5, 4) == ("━━", "━━")
    assert gauge(0.6, 4) == ("━━╸", "━")
    assert gauge(1.5, 4) == ("━━━━", "")
    assert gauge(None, 3) == ("", "━━━")


def test_sparkline_keeps_the_newest_on_the_right_and_buckets_by_max():
    assert sparkline([0.0, 0.5, 1.0], 5) == "  ▁▅█"
    assert sparkline([0.0, 1.0, 0.0, 0.0], 2) == "█▁"
    assert sparkline([], 3) == ""


def test_a_busy_card_says_everything_in_five_lines():
    fleet = one("busy")
    snapshot = fleet.monitor.snapshot(fleet.urls[0])
    lines = card_lines(snapshot, T0, 60, compact=False)
    facts, vram, load, prompt, detail = (text(line) for line in lines)
    assert "v0.8.0" in facts and "torch 2.14.1" in facts and "RTX 4090" in facts
    assert vram.startswith("VRAM ━") and "G/24.0G" in vram and vram.rstrip()[-1] in "▁▂▃▄▅▆▇█"
    assert "RAM 11.0G/64.0G" in load and "run 1 · queued 3" in load
    assert "GPU 97%" in load and "71°C" in load and "CPU 23%" in load  # Crystools
    assert prompt.startswith("#3 KSampler «Sampler» 12/20") and "━" in prompt
    assert detail.startswith("▶ 5f0c6f1e 40s") and "3 cached" in detail
    assert len(vram) == len(prompt) == 60  # laid out to the width; free text is cut when drawn
    compact = [text(line) for line in card_lines(snapshot, T0, 34, compact=True)]
    assert len(compact) == 2 and compact[0].startswith("VRAM") and "12/20" in compact[1]


def test_every_gpu_of_a_server_is_on_its_card():
    fleet = pair("multi_gpu")
    snapshot = fleet.monitor.snapshot(fleet.urls[0])
    wide = [text(line) for line in card_lines(snapshot, T0, 76, compact=False)]
    assert wide[1].split() == [
        "VRAM/24.0G", "0:━━━━━", "14.0G", "1:━━━━━", "15.5G", "2:━━━╸━", "17.0G", "3:━━━━━", "18.5G"
    ]  # fmt: skip
    # Crystools' load and temperature of each GPU, first on the load line.
    assert wide[2].startswith("GPU 97/77/57/37% 71/66/61/56°C · run 1 · queued 3")
    # Narrower: the figures without gauges, then a count of the devices left out.
    assert text(card_lines(snapshot, T0, 48, compact=True)[0]).split() == [
        "VRAM/24.0G", "0:14.0G", "1:15.5G", "2:17.0G", "3:18.5G"
    ]  # fmt: skip
    assert text(card_lines(snapshot, T0, 30, compact=True)[0]).split() == [
        "VRAM/24.0G", "0:14.0G", "1:15.5G", "+2"
    ]  # fmt: skip


def test_why_a_server_is_down_is_wrapped_over_the_card_not_cut():
    """At 80 columns a card is 36 cells wide: the reason gets three lines (two compact)."""
    fleet = pair("refused")
    snapshot = fleet.monitor.snapshot(fleet.urls[0])
    full = [text(line).rstrip() for line in card_lines(snapshot, T0, 36, compact=False)]
    assert full[1:4] == [
        "✗ websocket ws://10.0.0.1:8188/ws",
        "refused: HTTP 401 Unauthorized; the",
        "server wants a token: set headers i…",
    ]
    assert full[4] == ""  # the last error is the same reason: not said twice
    compact = [text(line).rstrip() for line in card_lines(snapshot, T0, 36, compact=True)]
    assert compact == full[1:2] + ["refused: HTTP 401 Unauthorized; the…"]


async def test_a_progress_step_repaints_only_the_prompt_row():
    fleet = one("busy")
    url = fleet.urls[0]
    app = fleet.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        shown = card(app, url)
        before = [shown.render_line(y) for y in range(shown.size.height)]
        running = app.fleet.get(url).running  # type: ignore[union-attr]
        assert running is not None
        app.monitor.feed(url, Progress(running.prompt_id, "3", 13, 20))
        app.drain()
        await pilot.pause()
        after = [shown.render_line(y) for y in range(shown.size.height)]
        changed = [y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
        assert changed == [3]
        assert "13/20" in after[3].text


async def test_cards_out_of_view_wait_until_they_are_scrolled_to():
    fleet = mixed(16)
    app = fleet.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        cards = list(app.screen.query(ServerCard))
        hidden = [c for c in cards if c.offscreen]
        assert cards[0].offscreen is False and hidden and hidden[-1] is cards[-1]
        last = cards[-1]  # gpu16: busy, below the fold
        running = app.fleet.get(last.url).running  # type: ignore[union-attr]
        assert running is not None and running.value != 19
        assert not any("19/20" in line for line in drawn(last))
        app.monitor.feed(last.url, Progress(running.prompt_id, "3", 19, 20))
        app.drain()
        await pilot.pause()
        assert not any("19/20" in line for line in drawn(last))  # no work while out of view
        app.screen.query_one("#cards-scroll", VerticalScroll).scroll_end(animate=False)
        await pilot.pause()
        assert last.offscreen is False
        assert any("19/20" in line for line in drawn(last))


async def test_the_fleet_catches_up_after_the_in_depth_view_closes():
    fleet = one("busy")
    url = fleet.urls[0]
    app = fleet.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        fleet_card = next(c for c in app.screen_stack[0].query(ServerCard) if c.url == url)
        assert fleet_card.offscreen is True  # covered: no redraws
        running = app.fleet.get(url).running  # type: ignore[union-attr]
        assert running is not None
        app.monitor.feed(url, Progress(running.prompt_id, "3", 17, 20))
        app.drain()
        await pilot.press("escape")
        await pilot.pause()
        assert fleet_card.offscreen is False
        assert any("17/20" in line for line in drawn(fleet_card))


async def test_cards_behind_a_dialog_keep_updating():
    fleet = one("busy")
    url = fleet.urls[0]
    app = fleet.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        fleet_card = card(app, url)
        await pilot.press("i")  # the interrupt confirmation: the fleet shows around it
        await pilot.pause()
        assert fleet_card.offscreen is False
        running = app.fleet.get(url).running  # type: ignore[union-attr]
        assert running is not None
        app.monitor.feed(url, Progress(running.prompt_id, "3", 18, 20))
        app.drain()
        await pilot.pause()
        assert any("18/20" in line for line in drawn(fleet_card))


async def test_which_cards_are_out_of_view_follows_the_density():
    app = mixed(16).app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()

        def hidden() -> list[int]:
            return [i for i, c in enumerate(app.screen.query(ServerCard)) if c.offscreen]

        compact = hidden()  # 2 columns of 4-line cards in 22 lines: rows 0-5 show
        assert compact == list(range(12, 16))
        await pilot.press("d")  # full cards, 7 lines: rows 0-3 show
        await pilot.pause()
        assert hidden() == list(range(8, 16))
        await pilot.press("d")
        await pilot.pause()
        assert hidden() == compact
