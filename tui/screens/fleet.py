"""The fleet view: one card per server, laid out for 1 to 64 servers.

The screen watches the app's ``fleet`` and ``now`` reactives and pushes each
changed server's snapshot down into its card; cards that did not change are not
touched, and cards scrolled out of view (or under another screen) are told so
(``ServerCard.offscreen``) and skip their redraws until they are seen again.
Columns follow the terminal width; when the cards would not fit the screen,
they switch to a compact form (``-compact``) that keeps the gauges and the
running node and drops the rest.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.events import Resize, ScreenResume, ScreenSuspend
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Label

from sweeps.state import FleetSnapshot

from ..widgets.footer import SteadyFooter
from ..widgets.server_card import ServerCard
from ..widgets.sweep_panel import SweepPanel

__all__ = ["FleetScreen", "SteadyFooter", "fleet_summary"]

CARD_WIDTH = 40
"""Minimum width of a card column, in cells."""
CARD_HEIGHT = 7
"""Height of a full card; see ``ServerCard.DEFAULT_CSS``."""
COMPACT_CARD_HEIGHT = 4
"""Height of a ``-compact`` card."""


def fleet_summary(fleet: FleetSnapshot) -> str:
    n = len(fleet.servers)
    noun = "server" if n == 1 else "servers"
    return f"{n} {noun} · {fleet.up} up · {fleet.busy} busy · {fleet.pending} pending"


class CardsScroll(VerticalScroll, can_focus=False, inherit_bindings=False):
    """The scrolling view of the cards, which follows the focused card.

    A focusable scroll view with its own arrow-key bindings took the focus from
    the cards once they overflowed the screen, and its ``up``/``down`` scrolled
    instead of moving between cards: the screen's keys move the focus, and
    focusing a card scrolls it into view.
    """


class FleetScreen(Screen[None]):
    """Every server at a glance. Enter opens the focused one in depth."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="fleet-open", tooltip="Show the server in depth"),
        Binding(
            "i",
            "interrupt",
            "Interrupt",
            id="fleet-interrupt",
            tooltip="Interrupt the running prompt on the focused server",
        ),
        Binding(
            "c",
            "clear_queue",
            "Clear",
            id="fleet-clear-queue",
            tooltip="Remove every pending prompt from the focused server",
        ),
        Binding(
            "f",
            "free_memory",
            "Free",
            id="fleet-free",
            tooltip="Unload models on the focused server",
        ),
        Binding(
            "a", "app.add_server", "Add", id="fleet-add-server", tooltip="Watch another server"
        ),
        Binding(
            "delete,minus",
            "remove_server",
            "Remove",
            id="fleet-remove-server",
            tooltip="Stop watching the focused server",
            key_display="del",
        ),
        Binding(
            "s",
            "app.run_sweep",
            "Sweep",
            id="fleet-run-sweep",
            tooltip="Run a sweep spec on the watched servers",
        ),
        Binding(
            "d",
            "toggle_density",
            "Density",
            id="fleet-density",
            show=False,
            tooltip="Switch between full and compact cards",
        ),
        Binding("down,j", "focus_row(1)", "Next row", id="fleet-down", show=False),
        Binding("up,k", "focus_row(-1)", "Previous row", id="fleet-up", show=False),
        Binding("right,l", "focus_offset(1)", "Next", id="fleet-right", show=False),
        Binding("left,h", "focus_offset(-1)", "Previous", id="fleet-left", show=False),
        Binding("pagedown", "focus_page(1)", "Page down", id="fleet-page-down", show=False),
        Binding("pageup", "focus_page(-1)", "Page up", id="fleet-page-up", show=False),
        Binding("home", "focus_offset(-1_000_000)", "First", id="fleet-first", show=False),
        Binding("end", "focus_offset(1_000_000)", "Last", id="fleet-last", show=False),
    ]

    compact: reactive[bool | None] = reactive(None)
    """None: chosen from the screen size; True or False: the user's choice."""

    def __init__(self) -> None:
        super().__init__()
        self._cards: dict[str, ServerCard] = {}

    def compose(self) -> ComposeResult:
        yield Label(id="summary", markup=False)
        yield SweepPanel(id="sweep")
        with CardsScroll(id="cards-scroll"):
            yield Grid(id="cards")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "fleet", self._fleet_changed)
        self.watch(self.app, "now", self._now_changed, init=False)
        self.watch(self.app, "sweep", self._sweep_changed)
        self.watch(self.app, "engine_error", self._engine_error_changed, init=False)
        scroll = self.query_one("#cards-scroll", VerticalScroll)
        self.watch(scroll, "scroll_y", self._sync_offscreen, init=False)

    @property
    def current_url(self) -> str | None:
        """The focused card's server, else the only or first one."""
        focused = self.focused
        if isinstance(focused, ServerCard):
            return focused.url
        return next(iter(self._cards), None)

    # -- state down -------------------------------------------------------

    def _show_summary(self, fleet: FleetSnapshot) -> None:
        summary = self.query_one("#summary", Label)
        error: str | None = getattr(self.app, "engine_error", None)
        text = fleet_summary(fleet)
        if error is not None:
            text = f"monitor stopped, cards are stale (ctrl+p to restart): {error} · {text}"
        summary.set_class(error is not None, "-error")
        summary.update(text, layout=False)

    def _engine_error_changed(self) -> None:
        self._show_summary(self.app.fleet)  # type: ignore[attr-defined]

    def _fleet_changed(self, fleet: FleetSnapshot) -> None:
        self._show_summary(fleet)
        urls = [s.url for s in fleet.servers]
        gone = [url for url in self._cards if url not in urls]
        for url in gone:
            self._cards.pop(url).remove()
        new = []
        now: float = getattr(self.app, "now", 0.0)
        for snapshot in fleet.servers:
            card = self._cards.get(snapshot.url)
            if card is None:
                card = ServerCard(snapshot, now)
                self._cards[snapshot.url] = card
                new.append(card)
            elif snapshot.url in fleet.changed:
                card.snapshot = snapshot
        if new:
            self.query_one("#cards", Grid).mount_all(new)
        if new or gone:
            self._relayout()
            if self.focused is None and self._cards:
                next(iter(self._cards.values())).focus()

    def _now_changed(self, now: float) -> None:
        for card in self._cards.values():
            card.now = now

    def _sweep_changed(self, progress: object) -> None:
        panel = self.query_one(SweepPanel)
        panel.progress = progress  # type: ignore[assignment]
        panel.display = progress is not None
        self._relayout()

    # -- layout -----------------------------------------------------------

    @on(Resize)
    def _resized(self) -> None:
        self._relayout()

    @on(ScreenSuspend)
    def _suspended(self) -> None:
        if self.app.screen.is_modal:
            return  # a dialog: the cards still show (dimmed) around it
        # Another screen covers this one: nothing here is seen until it comes back.
        for card in self._cards.values():
            card.offscreen = True

    @on(ScreenResume)
    def _resumed(self) -> None:
        self._sync_offscreen()

    def _sync_offscreen(self) -> None:
        """Tell each card whether the scroll view shows it; hidden cards skip their redraws.

        Arithmetic on the grid (rows of equal height, no vertical gutter), not a
        compositor query, so it is cheap enough to run on every scroll step.
        """
        if not self.is_mounted or not self.is_current:
            return
        scroll = self.query_one("#cards-scroll", VerticalScroll)
        height = scroll.scrollable_content_region.height
        grid = self.query_one("#cards", Grid)
        columns = grid.styles.grid_size_columns or 1
        row_height = COMPACT_CARD_HEIGHT if grid.has_class("-compact") else CARD_HEIGHT
        top = round(scroll.scroll_y)
        first, last = top // row_height, (top + max(height, 1) - 1) // row_height
        for index, card in enumerate(self._cards.values()):
            # Before the first layout the height is 0: show everything.
            card.offscreen = height > 0 and not first <= index // columns <= last

    def watch_compact(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        if not self.is_mounted:
            return
        grid = self.query_one("#cards", Grid)
        width, height = self.size
        # A quarter of the screen for per-server sweep lines: 4 of them in 24 rows.
        self.query_one(SweepPanel).server_rows = max(2, min(8, height // 6))
        columns = max(1, min(len(self._cards), width // CARD_WIDTH))
        rows = -(-len(self._cards) // columns) if self._cards else 1
        available = max(1, height - 2 - (self.query_one(SweepPanel).outer_size.height or 0))
        compact = self.compact
        if compact is None:
            compact = rows * CARD_HEIGHT > available
        grid.styles.grid_size_columns = columns
        grid.set_class(compact, "-compact")
        for card in self._cards.values():
            card.set_class(compact, "-compact")
        # Which cards the view shows is known once this layout is done.
        self.call_after_refresh(self._sync_offscreen)

    # -- intent up --------------------------------------------------------

    @on(ServerCard.Selected)
    def _selected(self, event: ServerCard.Selected) -> None:
        self.app.action_open_server(event.url)  # type: ignore[attr-defined]

    def action_open(self) -> None:
        url = self.current_url
        if url is not None:
            self.app.action_open_server(url)  # type: ignore[attr-defined]

    def action_interrupt(self) -> None:
        if (url := self.current_url) is not None:
            self.app.action_interrupt(url)  # type: ignore[attr-defined]

    def action_clear_queue(self) -> None:
        if (url := self.current_url) is not None:
            self.app.action_clear_queue(url)  # type: ignore[attr-defined]

    def action_free_memory(self) -> None:
        if (url := self.current_url) is not None:
            self.app.action_free_memory(url)  # type: ignore[attr-defined]

    def action_remove_server(self) -> None:
        if (url := self.current_url) is not None:
            self.app.action_remove_server(url)  # type: ignore[attr-defined]

    def action_toggle_density(self) -> None:
        grid = self.query_one("#cards", Grid)
        self.compact = not grid.has_class("-compact")

    def action_focus_offset(self, offset: int) -> None:
        """Move focus ``offset`` cards along, clamped to the first and last."""
        cards = list(self._cards.values())
        if not cards:
            return
        focused = self.focused
        index = cards.index(focused) if isinstance(focused, ServerCard) else 0
        cards[max(0, min(len(cards) - 1, index + offset))].focus()

    def action_focus_row(self, rows: int) -> None:
        """Move focus a row of cards up or down."""
        columns = self.query_one("#cards", Grid).styles.grid_size_columns or 1
        self.action_focus_offset(rows * columns)

    def action_focus_page(self, pages: int) -> None:
        """Move focus by as many rows of cards as the view shows."""
        scroll = self.query_one("#cards-scroll", VerticalScroll)
        grid = self.query_one("#cards", Grid)
        row_height = COMPACT_CARD_HEIGHT if grid.has_class("-compact") else CARD_HEIGHT
        rows = max(1, scroll.scrollable_content_region.height // row_height)
        self.action_focus_row(pages * rows)
