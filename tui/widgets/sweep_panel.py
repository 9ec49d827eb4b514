"""A running sweep: done, failed and total, rate, ETA, per-server share, newest outputs.

Renders a :class:`~sweeps.progress.SweepProgress`; the sweep engine produces them
and the app hands the latest one down. Hidden while no sweep runs.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static

from sweeps.progress import SweepProgress

from ..units import duration

__all__ = ["SweepPanel", "sweep_headline"]


def sweep_headline(p: SweepProgress) -> str:
    rate = f"{p.rate * 60:.1f}/min" if p.rate else "—/min"
    if p.finished:
        eta = f"stopped, {p.remaining} not run" if p.remaining else "finished"
    elif p.stopping:
        eta = f"stopping, {p.running} running"
    else:
        eta = f"ETA {duration(p.eta)}"
    skipped = f" · {p.skipped} done before" if p.skipped else ""
    # Most telling first: the right end is cut in a narrow terminal.
    return (
        f"{p.name}: {p.done} done · {p.failed} failed · {eta} · {rate} · {p.total} total{skipped}"
    )


def _shown_servers(p: SweepProgress, limit: int) -> list[str]:
    """Every server when they fit in ``limit`` rows; else the failing ones first."""
    urls = list(p.servers)
    if len(urls) <= limit:
        return urls
    order = sorted(urls, key=lambda url: -p.servers[url].failed)  # stable: ties keep order
    return order[: max(1, limit - 1)]  # one row says what the others did


def _per_server(p: SweepProgress, limit: int) -> Group:
    table = Table.grid(padding=(0, 2))
    table.add_column("server", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("running", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("note", no_wrap=True, overflow="ellipsis")
    shown = _shown_servers(p, limit)
    for url in shown:
        counts = p.servers[url]
        per_second = p.server_rate(url)
        note = f"retried {counts.retried}: {counts.last_error}" if counts.retried else ""
        left = p.server_eta(url)
        if not note and left is not None and not p.finished:
            note = f"ETA {duration(left)}"  # its planned share, from the cost model
        table.add_row(
            counts.name or url.split("://", 1)[-1],
            f"{counts.done} done",
            Text(f"{counts.failed} failed", style="red" if counts.failed else ""),
            f"{counts.running} running",
            f"{per_second * 60:.1f}/min" if per_second else "—",
            Text(note, style="yellow"),
        )
    hidden = [p.servers[url] for url in p.servers if url not in set(shown)]
    if hidden:
        table.add_row(
            Text(f"+{len(hidden)} more", style="dim"),
            f"{sum(c.done for c in hidden)} done",
            Text(
                f"{sum(c.failed for c in hidden)} failed",
                style="red" if any(c.failed for c in hidden) else "",
            ),
            f"{sum(c.running for c in hidden)} running",
            "",
            "",
        )
    newest = Text(no_wrap=True, overflow="ellipsis")
    if p.latest_outputs:
        newest.append("newest ", style="dim")
        newest.append(", ".join(path.name for path in reversed(p.latest_outputs[-3:])))
    return Group(table, newest)


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
        /* A short bar: the numbers beside it matter more in 80 columns. */
        #sweep-bar Bar { width: 16; }
        #sweep-failure { width: 100%; color: $error; height: auto; max-height: 2; }
        #sweep-servers { height: auto; }
    }
    """

    progress: reactive[SweepProgress | None] = reactive(None)
    server_rows: reactive[int] = reactive(8)
    """At most this many lines of per-server numbers (the fleet screen sets it from its
    height); with more servers the failing ones are listed and one line sums the rest,
    so the outputs and the last failure below stay in view."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(id="sweep-headline", markup=False)
            yield ProgressBar(total=1, show_eta=False, id="sweep-bar")
        yield Static(id="sweep-servers")
        yield Label(id="sweep-failure", markup=False)

    def watch_server_rows(self) -> None:
        self.watch_progress(self.progress)

    def watch_progress(self, progress: SweepProgress | None) -> None:
        if progress is None or not self.is_mounted:
            return
        self.border_title = "sweep"
        self.query_one("#sweep-headline", Label).update(sweep_headline(progress))
        self.query_one("#sweep-bar", ProgressBar).update(
            total=max(1, progress.total - progress.skipped), progress=progress.completed
        )
        self.query_one("#sweep-servers", Static).update(_per_server(progress, self.server_rows))
        failure = self.query_one("#sweep-failure", Label)
        failure.update(f"✗ {progress.last_failure}" if progress.last_failure else "")
        failure.display = bool(progress.last_failure)
