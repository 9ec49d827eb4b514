"""Which nodes of the running (or last) prompt took how long, as horizontal bars."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sweeps.state import NodeSpan

from ..units import duration

__all__ = ["Timeline", "render_timeline"]


def render_timeline(spans: tuple[NodeSpan, ...], now: float, width: int) -> Table | Text:
    """One row per executed node: id, name, a bar scaled to the slowest node, seconds."""
    if not spans:
        return Text("No node has run since the dashboard started.", style="dim")
    seconds = [s.seconds if s.seconds is not None else max(0.0, now - s.started) for s in spans]
    longest = max(seconds) or 1.0
    bar_width = max(4, min(40, width - 40))
    table = Table.grid(padding=(0, 1))
    table.add_column("node", justify="right", no_wrap=True)
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("bar", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    for span, took in zip(spans, seconds, strict=True):
        cells = round(bar_width * took / longest)
        running = span.seconds is None
        bar = Text("█" * cells, style="yellow" if running else "cyan")
        bar.append("░" * (bar_width - cells), style="dim")
        label = span.name.label() if span.name else "?"
        table.add_row(f"#{span.node_id}", label, bar, duration(took) + (" …" if running else ""))
    return table


class Timeline(Widget):
    """Renders :attr:`spans`; :attr:`now` ticks the running node's bar."""

    DEFAULT_CSS = """
    Timeline { height: auto; padding: 0 1; }
    """

    spans: reactive[tuple[NodeSpan, ...]] = reactive((), layout=True)
    now: reactive[float] = reactive(0.0)
    prompt_id: reactive[str | None] = reactive(None)

    def render(self) -> Group:
        head = Text(f"prompt {self.prompt_id}" if self.prompt_id else "", style="bold")
        return Group(head, render_timeline(self.spans, self.now, self.size.width))
