"""Long texts and many servers in a small terminal: nothing important is cut off."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console
from textual.widgets import Label, Static

from sweeps.progress import ServerProgress
from tui.screens.confirm import ConfirmScreen
from tui.widgets.sweep_panel import SweepPanel

from .snapshot_apps.fleets import mixed, sweep_progress
from .test_app import make_app

LONG_URL = "http://" + "very-long-hostname-segment." * 6 + "example:8188/" + "prefix/" * 8


async def test_a_long_url_in_a_confirmation_wraps_instead_of_being_cut():
    app = make_app(LONG_URL.rstrip("/"), start_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.pause()
        detail = app.screen.query_one("#detail", Label)
        dialog = app.screen.query_one("#dialog")
        assert dialog.region.right <= 80
        # The whole URL is drawn: as many lines as it needs at the dialog's width.
        assert detail.size.height >= -(-len(LONG_URL) // detail.size.width) > 1
        await pilot.press("escape", "c")
        detail = app.screen.query_one("#detail", Label)
        await pilot.pause()
        assert detail.size.height == 2  # "...; the running one is left alone." in full


def many_servers_sweep() -> object:
    servers = {
        f"http://gpu{i}:8188": ServerProgress(name=f"gpu{i}", done=i, failed=int(i in (5, 40)))
        for i in range(64)
    }
    return replace(sweep_progress(), servers=servers)


async def test_the_sweep_panel_keeps_outputs_and_failure_in_view_with_64_servers():
    app = mixed(64).app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.sweep = many_servers_sweep()  # type: ignore[assignment]
        await pilot.pause()
        await pilot.pause()
        panel = app.screen.query_one(SweepPanel)
        inside = panel.region.shrink(panel.styles.gutter)
        for part in ("#sweep-servers", "#sweep-failure"):
            region = app.screen.query_one(part).region
            assert inside.contains_region(region), (part, region, inside)
        assert panel.outer_size.height <= 12
        console = Console(width=76, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#sweep-servers", Static).content)
        text = console.export_text()
        # In 24 rows: the two failing servers and one more by name, the 61 others summed.
        assert "gpu5 " in text and "gpu40 " in text and "+61 more" in text
        assert "newest 00086-9-sweep_00087_.png" in text
