"""One server at a glance: link, versions, VRAM gauge and history, queue, running prompt.

The card renders a :class:`~sweeps.state.ServerSnapshot` and nothing else; it
never talks to a server. Its lines are built by the pure ``*_line`` functions
below, so what a card says can be tested without an app. Each child widget is
updated only when its text changes, because at 32 busy servers the cards are the
hottest code in the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Sparkline

from sweeps.state import ServerSnapshot

from ..units import age, duration, gib, short_id

__all__ = [
    "ServerCard",
    "detail_line",
    "device_label",
    "facts_line",
    "load_line",
    "node_line",
    "status_line",
]


def device_label(name: str) -> str:
    """``cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync`` reads as ``NVIDIA GeForce RTX 3060``."""
    head = name.split(" : ", 1)[0]
    if head.startswith(("cuda:", "xpu:", "mps")) and " " in head:
        head = head.split(" ", 1)[1]
    return head


def status_line(s: ServerSnapshot, now: float) -> str:
    """The card's subtitle: link state and since when."""
    if s.link == "connecting":
        return "connecting…"
    return f"{s.link} {age(now - s.since)}"


def facts_line(s: ServerSnapshot) -> str:
    host = s.url.split("://", 1)[-1]
    parts = [host] if host != s.name else []
    if s.stats is not None:
        system = s.stats.system
        if system.comfyui_version:
            parts.append(f"v{system.comfyui_version}")
        if system.pytorch_version:
            parts.append(f"torch {system.pytorch_version.split('+', 1)[0]}")
        if s.stats.device is not None:
            parts.append(device_label(s.stats.device.name))
    elif s.link != "up":
        parts.append(s.link_reason or "no answer yet")
    return " · ".join(parts)


def vram_text(s: ServerSnapshot) -> str:
    device = s.stats.device if s.stats is not None else None
    if device is None or not device.vram_total:
        return "—"
    return f"{gib(device.vram_used)}/{gib(device.vram_total)}"


def load_line(s: ServerSnapshot) -> str:
    parts = []
    if s.stats is not None and s.stats.system.ram_total:
        system = s.stats.system
        parts.append(f"RAM {gib(system.ram_total - system.ram_free)}/{gib(system.ram_total)}")
    parts.append(f"run {s.queue_running} · queued {s.queue_pending}")
    crystools = s.crystools
    if crystools is not None:
        if crystools.gpus:
            gpu = crystools.gpus[0]
            if gpu.utilization is not None:
                parts.append(f"GPU {gpu.utilization:.0f}%")
            if gpu.temperature is not None:
                parts.append(f"{gpu.temperature:.0f}°C")
        if crystools.cpu_utilization is not None:
            parts.append(f"CPU {crystools.cpu_utilization:.0f}%")
    return " · ".join(parts)


def node_line(s: ServerSnapshot) -> str:
    running = s.running
    if running is None:
        return "idle"
    if running.node_id is None:
        return "running" if running.ours else "running (another client's prompt)"
    label = running.node.label() if running.node else "node"
    steps = ""
    if running.max:
        steps = f" {running.value:.0f}/{running.max:.0f} {100 * running.value / running.max:.0f}%"
    return f"#{running.node_id} {label}{steps}"


def detail_line(s: ServerSnapshot, now: float) -> str:
    error = s.last_error
    running = s.running
    if error is not None and (running is None or error.at >= running.started):
        return f"✗ {error.message.splitlines()[0] if error.message else error.kind}"
    if running is None:
        return f"{s.finished} finished" if s.finished else ""
    parts = [f"▶ {short_id(running.prompt_id)} {duration(now - running.started)}"]
    if running.cached:
        parts.append(f"{running.cached} cached")
    if running.nodes_total:
        done = min(running.nodes_total, running.nodes_done + running.cached)
        parts.append(f"{done}/{running.nodes_total} nodes")
    return " · ".join(parts)


class ServerCard(Widget, can_focus=True):
    """A bordered card for one server. Click or Enter opens it in depth."""

    DEFAULT_CSS = """
    ServerCard {
        height: 7;
        border: round $panel-lighten-2;
        border-title-align: left;
        border-subtitle-align: right;
        padding: 0 1;
        Label { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        Horizontal { height: 1; }
        .caption { width: 5; color: $text-muted; }
        #vram-bar { width: auto; }
        #vram-bar Bar { width: 10; }
        #vram-text { width: 13; padding-left: 1; }
        #vram-spark { width: 1fr; }
        #progress { width: auto; }
        #progress Bar { width: 12; }
        &.-compact { height: 4; }
        &.-compact .full { display: none; }
        &.-idle #progress { visibility: hidden; }
    }
    """

    @dataclass
    class Selected(Message):
        """The user chose this server (click or Enter)."""

        url: str

    snapshot: reactive[ServerSnapshot | None] = reactive(None, init=False, repaint=False)
    now: reactive[float] = reactive(0.0, init=False, repaint=False)

    def __init__(self, snapshot: ServerSnapshot, now: float, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.url = snapshot.url
        self._texts: dict[str, str] = {}
        self._vram_at: float | None = None
        self._ready = False
        self.set_reactive(ServerCard.snapshot, snapshot)
        self.set_reactive(ServerCard.now, now)

    def compose(self) -> ComposeResult:
        yield Label(id="facts", classes="full", markup=False)
        with Horizontal(id="vram-row"):
            yield Label("VRAM", classes="caption")
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="vram-bar")
            yield Label(id="vram-text", markup=False)
            yield Sparkline([], id="vram-spark")
        yield Label(id="load", classes="full", markup=False)
        with Horizontal(id="prompt-row"):
            yield Label(id="node", markup=False)
            # No percentage label: its layout=True updates would re-lay out the whole
            # screen on every progress step. The step counts are in the node label.
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="progress")
        yield Label(id="detail", classes="full", markup=False)

    def on_mount(self) -> None:
        self._ready = True
        self._render_snapshot()

    def watch_snapshot(self) -> None:
        self._render_snapshot()

    def watch_now(self) -> None:
        s = self.snapshot
        if s is not None:
            self.border_subtitle = status_line(s, self.now)
            self._set("detail", detail_line(s, self.now))

    def _set(self, widget_id: str, text: str) -> None:
        if self._texts.get(widget_id) != text:
            self._texts[widget_id] = text
            self.query_one(f"#{widget_id}", Label).update(text, layout=False)

    def _render_snapshot(self) -> None:
        s = self.snapshot
        if s is None or not self._ready:
            return
        now = self.now
        running = s.running
        self.border_title = Text(s.name)
        self.border_subtitle = status_line(s, now)
        for link in ("connecting", "up", "reconnecting", "down"):
            self.set_class(s.link == link, f"-{link}")
        self.set_class(running is not None, "-busy")
        self.set_class(running is None, "-idle")
        self.set_class(s.last_error is not None, "-error")
        self._set("facts", facts_line(s))
        self._set("vram-text", vram_text(s))
        self._set("load", load_line(s))
        self._set("node", node_line(s))
        self._set("detail", detail_line(s, now))
        vram = s.vram.last
        self.query_one("#vram-bar", ProgressBar).update(total=1, progress=vram or 0.0)
        latest = s.vram.times[-1] if s.vram.times else None
        if latest != self._vram_at:
            self._vram_at = latest
            self.query_one("#vram-spark", Sparkline).data = list(s.vram.values)
        progress = self.query_one("#progress", ProgressBar)
        if running is not None and running.max:
            progress.update(total=running.max, progress=running.value)
        else:
            progress.update(total=1, progress=0)

    @on(Click)
    def _clicked(self) -> None:
        self.post_message(self.Selected(self.url))

    def key_enter(self) -> None:
        self.post_message(self.Selected(self.url))
