"""A running sweep: done, failed and total, rate, ETA, per-server share, newest outputs.

Renders a :class:`~sweeps.monitor.SweepProgress`; the sweep engine produces them
and the app hands the latest one down. Hidden while no sweep runs.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static

from sweeps.monitor import SweepProgress

from ..units import duration

__all__ = ["SweepPanel", "sweep_headline"]


def sweep_headline(p: SweepProgress) -> str:
    rate = f"{p.rate:.1f}/min" if p.rate else "—/min"
    eta = "done" if p.finished else f"ETA {duration(p.eta)}"
    return f"{p.name}: {p.done} done · {p.failed} failed · {p.total} total · {rate} · {eta}"


def _per_server(p: SweepProgress) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column("server", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("latest", no_wrap=True, overflow="ellipsis")
    outputs = [f.filename for f in p.latest_outputs]
    for index, (name, counts) in enumerate(sorted(p.per_server.items())):
        per_min = counts.done * 60.0 / counts.seconds if counts.seconds else None
        table.add_row(
            name,
            str(counts.done),
            Text(str(counts.failed), style="red" if counts.failed else ""),
            f"{per_min:.1f}/min" if per_min else "—",
            outputs[index] if index < len(outputs) else "",
        )
    return table


class SweepPanel(Widget):
    """The sweep's overall progress bar, its numbers, and a line per server."""

    DEFAULT_CSS = """
    SweepPanel {
        height: auto;
        max-height: 12;
        border: round $accent;
        border-title-align: left;
        padding: 0 1;
        display: none;
        Horizontal { height: 1; }
        #sweep-headline { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
        #sweep-bar { width: auto; }
        #sweep-failure { color: $error; height: auto; max-height: 2; }
        #sweep-servers { height: auto; }
    }
    """

    progress: reactive[SweepProgress | None] = reactive(None)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(id="sweep-headline", markup=False)
            yield ProgressBar(total=1, show_eta=False, id="sweep-bar")
        yield Static(id="sweep-servers")
        yield Label(id="sweep-failure", markup=False)

    def watch_progress(self, progress: SweepProgress | None) -> None:
        if progress is None or not self.is_mounted:
            return
        self.border_title = "sweep"
        self.query_one("#sweep-headline", Label).update(sweep_headline(progress))
        self.query_one("#sweep-bar", ProgressBar).update(
            total=max(1, progress.total), progress=progress.done + progress.failed
        )
        self.query_one("#sweep-servers", Static).update(_per_server(progress))
        failure = self.query_one("#sweep-failure", Label)
        failure.update(f"✗ {progress.last_failure}" if progress.last_failure else "")
        failure.display = bool(progress.last_failure)
