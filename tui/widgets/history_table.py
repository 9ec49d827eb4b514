"""One server's recent finished prompts: outcome, duration, outputs, cache hits."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from sweeps.models import HistoryEntry

from ..units import duration, short_id

__all__ = ["HistoryTable"]

_OUTCOME_STYLE = {"success": "green", "failed": "red", "interrupted": "yellow"}


def _seconds(entry: HistoryEntry) -> float | None:
    start, end = entry.started_ms, entry.finished_ms
    return (end - start) / 1000 if start is not None and end is not None else None


def _outputs(entry: HistoryEntry) -> str:
    files = entry.files
    if not files:
        return "—"
    head = files[0].filename
    return head if len(files) == 1 else f"{head} +{len(files) - 1}"


class HistoryTable(DataTable[str | Text]):
    """Newest first; rows keyed by prompt id."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._entries: Sequence[HistoryEntry] = ()

    def on_mount(self) -> None:
        self.add_column("prompt", key="prompt", width=9)
        self.add_column("status", key="status", width=11)
        self.add_column("time", key="time", width=7)
        self.add_column("cached", key="cached", width=6)
        self.add_column("outputs", key="outputs")
        self.show_history(self._entries)

    def show_history(self, entries: Sequence[HistoryEntry]) -> None:
        self._entries = entries
        if not self.columns:
            return
        self.clear()
        for entry in entries:
            outcome = entry.outcome
            self.add_row(
                Text(short_id(entry.prompt_id)),
                Text(outcome, style=_OUTCOME_STYLE.get(outcome, "")),
                duration(_seconds(entry)),
                str(len(entry.cached_nodes)),
                Text(_outputs(entry)),
                key=entry.prompt_id,
            )
