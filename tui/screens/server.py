"""One server in depth: queue, history, node timeline, preview, facts and log.

The live parts (card, queue, timeline, preview, log) come from the app's
``fleet`` snapshots like the fleet view. History and facts are asked of the
server by ``group="server-data"`` workers: history again whenever a prompt
finishes, facts once (and on ``r``).
"""

from __future__ import annotations

from typing import cast

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane
from textual.worker import Worker

from sweeps.errors import FleetError
from sweeps.monitor import FleetMonitor, ServerFacts
from sweeps.state import FleetSnapshot, ServerSnapshot

from ..errors import fleet_error
from ..messages import ActionFinished
from ..units import gib
from ..widgets.event_log import EventLog
from ..widgets.footer import SteadyFooter
from ..widgets.history_table import HistoryTable
from ..widgets.preview import PreviewImage
from ..widgets.queue_table import QueueTable
from ..widgets.server_card import ServerCard, device_label
from ..widgets.timeline import Timeline

__all__ = ["ServerScreen", "render_facts"]


def render_facts(s: ServerSnapshot, facts: ServerFacts | None, error: str | None) -> Table | Text:
    """system_stats plus extensions and model counts, as a two-column grid."""
    if s.stats is None and facts is None:
        return Text(error or "Waiting for /system_stats…", style="red" if error else "dim")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    if s.stats is not None:
        system = s.stats.system
        table.add_row("ComfyUI", system.comfyui_version or "?")
        table.add_row("Python", (system.python_version or "?").split(" ", 1)[0])
        table.add_row("PyTorch", system.pytorch_version or "?")
        table.add_row("OS", system.os)
        table.add_row("RAM", f"{gib(system.ram_total - system.ram_free)} / {gib(system.ram_total)}")
        for device in s.stats.devices:
            table.add_row("Device", f"{device_label(device.name)} ({device.type})")
            table.add_row("VRAM", f"{gib(device.vram_used)} / {gib(device.vram_total)}")
        if system.argv:
            table.add_row("Arguments", " ".join(system.argv[1:]) or "—")
    if facts is not None:
        table.add_row("Extensions", f"{len(facts.extensions)}")
        table.add_row("Embeddings", f"{facts.embeddings}")
        models = ", ".join(f"{folder} {count}" for folder, count in facts.models)
        table.add_row("Models", models or "none found")
    elif error:
        table.add_row("Extensions", Text(error, style="red"))
    return table


class ServerScreen(Screen[None]):
    """Everything about one server. Escape goes back to the fleet."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="server-back", tooltip="Back to the fleet"),
        Binding(
            "i",
            "interrupt",
            "Interrupt",
            id="server-interrupt",
            tooltip="Interrupt the running prompt",
        ),
        Binding(
            "x",
            "delete_pending",
            "Delete",
            id="server-delete-pending",
            tooltip="Delete the marked pending prompts (space marks)",
        ),
        Binding(
            "c",
            "clear_queue",
            "Clear",
            id="server-clear-queue",
            tooltip="Remove every pending prompt",
        ),
        Binding("f", "free_memory", "Free", id="server-free", tooltip="Unload models"),
        Binding(
            "right_square_bracket",
            "tab(1)",
            "Tab",
            id="server-next-tab",
            key_display="]",
            tooltip="Next tab ([ goes back)",
        ),
        Binding(
            "left_square_bracket",
            "tab(-1)",
            "Previous tab",
            id="server-previous-tab",
            key_display="[",
            show=False,
        ),
        Binding(
            "r",
            "refresh",
            "Refresh",
            id="server-refresh",
            show=False,
            tooltip="Ask the server for history and facts again",
        ),
    ]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._finished = -1
        self._facts: ServerFacts | None = None
        self._facts_error: str | None = None

    @property
    def monitor(self) -> FleetMonitor:
        return cast(FleetMonitor, self.app.monitor)  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        fleet = cast(FleetSnapshot, self.app.fleet)  # type: ignore[attr-defined]
        snapshot = fleet.get(self.url)
        assert snapshot is not None
        yield ServerCard(snapshot, self.app.now, id="card")  # type: ignore[attr-defined]
        with TabbedContent(id="tabs"):
            with TabPane("Queue", id="tab-queue"):
                yield QueueTable(id="queue")
            with TabPane("History", id="tab-history"):
                yield HistoryTable(id="history")
            with TabPane("Timeline", id="tab-timeline"):
                yield Timeline(id="timeline")
            with TabPane("Preview", id="tab-preview"):
                yield PreviewImage(id="preview")
            with TabPane("Facts", id="tab-facts"):
                yield Static(id="facts-view")
            with TabPane("Log", id="tab-log"):
                yield EventLog(id="log")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#card", ServerCard).can_focus = False
        self.watch(self.app, "fleet", self._fleet_changed)
        self.watch(self.app, "now", self._now_changed)
        self.load_facts()
        self.query_one(QueueTable).focus()

    def _fleet_changed(self, fleet: FleetSnapshot) -> None:
        snapshot = fleet.get(self.url)
        if snapshot is None:
            return
        if fleet.changed and self.url not in fleet.changed and self._finished >= 0:
            return
        self.query_one("#card", ServerCard).snapshot = snapshot
        self.query_one(QueueTable).show_queue(snapshot.queue)
        timeline = self.query_one(Timeline)
        timeline.spans = snapshot.timeline
        timeline.prompt_id = snapshot.timeline_prompt
        preview = self.query_one(PreviewImage)
        if preview.preview is not snapshot.preview:
            preview.preview = snapshot.preview
        self.query_one(EventLog).show_lines(snapshot.log)
        self.query_one("#facts-view", Static).update(
            render_facts(snapshot, self._facts, self._facts_error)
        )
        if snapshot.finished != self._finished:
            self._finished = snapshot.finished
            self.load_history()

    def _now_changed(self, now: float) -> None:
        self.query_one("#card", ServerCard).now = now
        self.query_one(Timeline).now = now

    # -- data from the server ---------------------------------------------

    @work(group="server-data", exclusive=True, exit_on_error=False, description="history")
    async def load_history(self) -> None:
        try:
            entries = await self.monitor.history(self.url)
        except KeyError:
            return  # the server was removed meanwhile
        except (FleetError, ExceptionGroup) as exc:
            if (error := fleet_error(exc)) is None:
                raise
            self.notify(str(error), title="History unavailable", severity="warning", markup=False)
            return
        self.query_one(HistoryTable).show_history(entries)

    @work(group="server-facts", exclusive=True, exit_on_error=False, description="facts")
    async def load_facts(self) -> None:
        try:
            self._facts = await self.monitor.facts(self.url)
            self._facts_error = None
        except KeyError:
            return
        except (FleetError, ExceptionGroup) as exc:
            # facts() asks concurrently: an outage arrives as a group of FleetErrors.
            if (error := fleet_error(exc)) is None:
                raise
            self._facts_error = str(error)
        snapshot = self.app.fleet.get(self.url)  # type: ignore[attr-defined]
        if snapshot is not None:
            self.query_one("#facts-view", Static).update(
                render_facts(snapshot, self._facts, self._facts_error)
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: let the app show this screen's failures too.
        self.app.on_worker_state_changed(event)  # type: ignore[attr-defined]

    @on(ActionFinished)
    def _action_finished(self, event: ActionFinished) -> None:
        if event.url == self.url:
            self.load_history()

    # -- actions ----------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_tab(self, step: int) -> None:
        """Show the next (``step`` 1) or previous (-1) tab."""
        tabs = self.query_one(TabbedContent)
        panes = [pane.id for pane in tabs.query(TabPane)]
        if tabs.active in panes:
            tabs.active = str(panes[(panes.index(tabs.active) + step) % len(panes)])

    def action_refresh(self) -> None:
        self.load_history()
        self.load_facts()

    def action_interrupt(self) -> None:
        self.app.action_interrupt(self.url)  # type: ignore[attr-defined]

    def action_clear_queue(self) -> None:
        self.app.action_clear_queue(self.url)  # type: ignore[attr-defined]

    def action_free_memory(self) -> None:
        self.app.action_free_memory(self.url)  # type: ignore[attr-defined]

    def action_delete_pending(self) -> None:
        table = self.query_one(QueueTable)
        ids = sorted(table.marked)
        if not ids and (cursor := table.cursor_prompt()) is not None:
            ids = [cursor]
        self.app.delete_pending(self.url, ids)  # type: ignore[attr-defined]
