"""SVG snapshots of every screen, drawn from fleets in known states (frozen clock, no network).

Regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and review
the diff in ``snapshot_report.html``.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from .snapshot_apps.fleets import mixed, one, pair, sweep_progress


async def _settle(pilot: Pilot[object]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_fleet_idle(snap_compare):
    assert snap_compare(one("idle").app(), run_before=_settle)


def test_fleet_busy_with_progress(snap_compare):
    assert snap_compare(one("busy").app(), run_before=_settle)


def test_fleet_server_down(snap_compare):
    assert snap_compare(one("down").app(), run_before=_settle)


def test_fleet_execution_error(snap_compare):
    assert snap_compare(one("failed").app(), run_before=_settle)


def test_fleet_every_gpu_and_why_a_server_refuses_at_80_columns(snap_compare):
    assert snap_compare(pair("multi_gpu", "refused").app(), run_before=_settle)


def test_fleet_16_servers_large_terminal(snap_compare):
    assert snap_compare(mixed(16).app(), terminal_size=(160, 48), run_before=_settle)


def test_fleet_16_servers_80x24_is_compact(snap_compare):
    assert snap_compare(mixed(16).app(), run_before=_settle)


def test_fleet_64_servers(snap_compare):
    assert snap_compare(mixed(64).app(), terminal_size=(200, 60), run_before=_settle)


def test_server_queue(snap_compare):
    assert snap_compare(one("busy").app(), press=["enter"], run_before=_settle)


def test_server_history(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("enter", "]")
        await _settle(pilot)

    assert snap_compare(one("busy").app(), run_before=run_before)


def test_server_timeline(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("enter", "]", "]")
        await _settle(pilot)

    assert snap_compare(one("busy").app(), run_before=run_before)


def test_server_preview(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("enter", "]", "]", "]")
        await _settle(pilot)

    assert snap_compare(one("busy").app(), run_before=run_before)


def test_server_facts(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("enter", "[", "[")
        await _settle(pilot)

    assert snap_compare(one("busy").app(), run_before=run_before)


def test_server_log(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("enter", "[")
        await _settle(pilot)

    assert snap_compare(one("failed").app(), run_before=run_before)


def test_confirm_interrupt(snap_compare):
    assert snap_compare(one("busy").app(), press=["i"], run_before=_settle)


def test_sweep_panel(snap_compare):
    async def run_before(pilot: Pilot[object]) -> None:
        pilot.app.sweep = sweep_progress()  # type: ignore[attr-defined]
        await _settle(pilot)

    assert snap_compare(mixed(2).app(), terminal_size=(100, 30), run_before=run_before)


def test_start_sweep_dialog(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the typed path names no file, wherever the tests run

    async def run_before(pilot: Pilot[object]) -> None:
        await pilot.press("s", *"sweeps/nightly.yaml")
        # The cursor blinks every 0.5 s from the last key: on a loaded machine the
        # screenshot could land in its "off" half. A steady cursor is always drawn.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await _settle(pilot)

    assert snap_compare(mixed(2).app(), run_before=run_before)


def test_fleet_64_servers_80x24_with_a_sweep(snap_compare):
    """The smallest terminal, the most servers, a sweep: compact cards, a capped panel."""

    async def run_before(pilot: Pilot[object]) -> None:
        from .test_layout import many_servers_sweep

        pilot.app.sweep = many_servers_sweep()  # type: ignore[attr-defined]
        await _settle(pilot)

    assert snap_compare(mixed(64).app(), terminal_size=(80, 24), run_before=run_before)
