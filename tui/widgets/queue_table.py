"""The queue of one server: the running prompt, then pending ones in execution order.

Space marks pending rows for deletion; the screen reads :attr:`QueueTable.marked`.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from sweeps.models import QueueItem, QueueState

from ..units import short_id

__all__ = ["QueueTable"]


def _graph_summary(item: QueueItem) -> str:
    classes = [
        str(node.get("class_type", "?")) for node in item.prompt.values() if isinstance(node, dict)
    ]
    return f"{len(classes)} nodes" + (f": {', '.join(classes[:3])}…" if classes else "")


class QueueTable(DataTable[str | Text]):
    """Running and pending prompts; rows are keyed by prompt id."""

    BINDINGS = [
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="queue-mark",
            tooltip="Mark or unmark a pending prompt for deletion",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.marked: set[str] = set()
        """Pending prompt ids marked for deletion."""
        self._queue: QueueState | None = None
        self._pending: set[str] = set()

    def on_mount(self) -> None:
        self.add_column(" ", key="mark", width=1)
        self.add_column("state", key="state", width=8)
        self.add_column("#", key="number", width=6)
        self.add_column("prompt", key="prompt", width=9)
        self.add_column("graph", key="graph")
        self.show_queue(self._queue)

    def show_queue(self, queue: QueueState | None) -> None:
        """Redraw from a /queue answer; cursor and marks stay on the same prompts."""
        if queue is self._queue and self.row_count:
            return
        self._queue = queue
        if not self.columns:
            return
        cursor_key = self._cursor_key()
        self.clear()
        if queue is None:
            return
        self._pending = {item.prompt_id for item in queue.pending}
        self.marked &= self._pending
        for state, items in (("running", queue.running), ("pending", queue.pending)):
            for item in items:
                mark = "●" if item.prompt_id in self.marked else ""
                number = f"{item.number:g}"
                self.add_row(
                    mark,
                    Text(state, style="bold" if state == "running" else ""),
                    number,
                    Text(short_id(item.prompt_id)),
                    Text(_graph_summary(item)),
                    key=item.prompt_id,
                )
        if cursor_key is not None and cursor_key in self.rows:
            self.move_cursor(row=self.get_row_index(cursor_key))

    def _cursor_key(self) -> str | None:
        if not self.row_count or not self.is_valid_coordinate(self.cursor_coordinate):
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def cursor_prompt(self) -> str | None:
        """The pending prompt under the cursor, if the cursor is on one."""
        key = self._cursor_key()
        return key if key in self._pending else None

    def action_toggle_mark(self) -> None:
        key = self.cursor_prompt()
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self.update_cell(key, "mark", "●" if key in self.marked else "")
