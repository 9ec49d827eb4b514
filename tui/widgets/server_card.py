"""One server at a glance: link, versions, VRAM gauge and history, queue, running prompt.

The card renders a :class:`~sweeps.state.ServerSnapshot` and nothing else; it
never talks to a server. It is ONE widget with no children: at 32 servers
streaming progress, ten child widgets per card made Textual's layout and
compositor the dashboard's main cost. :func:`card_lines` lays the card out as
plain ``(text, part)`` runs, so what a card says can be tested without an app;
the widget only maps each part to its component style (``server-card--*``,
coloured in CSS).

Drawing uses the line API: ``render_line`` keeps each content line's strip and
a new snapshot repaints only the lines whose text changed (a progress step is
one line of one card; border, gauge and sparkline are reused). Nothing a card
does asks for a layout. While the fleet screen has scrolled a card out of view
(``offscreen``) it does no work at all and catches up when it scrolls back in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import on
from textual.content import Content
from textual.events import Click
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from sweeps.state import ServerSnapshot

from ..units import age, duration, gib, short_id

__all__ = [
    "ServerCard",
    "card_lines",
    "detail_line",
    "device_label",
    "facts_line",
    "gauge",
    "gpu_readings",
    "load_line",
    "node_line",
    "sparkline",
    "status_line",
]

Run = tuple[str, str]
"""A run of text and the part that styles it: ``""`` (plain) or a ``server-card--<part>`` name."""

CAPTION_WIDTH = 5
GAUGE_WIDTH = 10
VRAM_TEXT_WIDTH = 13
PROGRESS_WIDTH = 10
DEVICE_GAUGE_WIDTH = 5
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


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


def gpu_readings(s: ServerSnapshot) -> str:
    """Crystools' load and temperature: ``GPU 71% 63°C``, or per GPU ``GPU 97/40% 71/52°C``."""
    crystools = s.crystools
    gpus = crystools.gpus if crystools is not None else ()
    loads = [f"{g.utilization:.0f}" for g in gpus if g.utilization is not None]
    temps = [f"{g.temperature:.0f}" for g in gpus if g.temperature is not None]
    figures = ([f"{'/'.join(loads)}%"] if loads else []) + (
        [f"{'/'.join(temps)}°C"] if temps else []
    )
    return f"GPU {' '.join(figures)}" if figures else ""


def load_line(s: ServerSnapshot) -> str:
    """GPU load and temperature first (the figures a user watches), then queue, RAM, CPU."""
    gpus = gpu_readings(s)
    parts = [gpus] if gpus else []
    parts.append(f"run {s.queue_running} · queued {s.queue_pending}")
    if s.stats is not None and s.stats.system.ram_total:
        system = s.stats.system
        parts.append(f"RAM {gib(system.ram_total - system.ram_free)}/{gib(system.ram_total)}")
    crystools = s.crystools
    if crystools is not None and crystools.cpu_utilization is not None:
        parts.append(f"CPU {crystools.cpu_utilization:.0f}%")
    return " · ".join(parts)


def node_line(s: ServerSnapshot) -> str:
    """The running node and its steps (``#3 KSampler «Sampler» 5/20``), or ``idle``."""
    running = s.running
    if running is None:
        return "idle"
    if running.node_id is None:
        return "running" if running.ours else "running (another client's prompt)"
    label = running.node.label() if running.node else "node"
    steps = f" {running.value:.0f}/{running.max:.0f}" if running.max else ""
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


def gauge(fraction: float | None, width: int) -> tuple[str, str]:
    """A bar in half cells, ``width`` cells in all: the filled text and the track text."""
    if width <= 0:
        return "", ""
    halves = round(max(0.0, min(1.0, fraction or 0.0)) * width * 2)
    full, half = divmod(halves, 2)
    filled = "━" * full + ("╸" if half else "")
    return filled, "━" * (width - full - half)


def sparkline(values: Sequence[float], width: int) -> str:
    """Fractions (0 to 1) as block characters, newest on the right; the max of each bucket."""
    if width <= 0 or not values:
        return ""
    if len(values) > width:
        # ``width`` buckets over the whole window, like textual's Sparkline (max per bucket).
        step = len(values) / width
        values = [
            max(values[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))])
            for i in range(width)
        ]
    top = len(SPARK_BLOCKS) - 1
    blocks = "".join(SPARK_BLOCKS[max(0, min(top, int(v * len(SPARK_BLOCKS))))] for v in values)
    return blocks.rjust(width)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, or padded to it."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.ljust(width)


def _devices_row(s: ServerSnapshot, width: int) -> list[Run]:
    """Every GPU's VRAM on one line (ComfyUI lists all devices since 0.23): a short
    gauge and the figure per device, the figures alone when that is too wide, and
    a count of those that still do not fit (``+2``); the detail view lists them all."""
    devices = [d for d in (s.stats.devices if s.stats is not None else ()) if d.vram_total]
    head: Run = (f"VRAM/{gib(devices[0].vram_total)} " if devices else "VRAM ", "caption")
    for gauge_width in (DEVICE_GAUGE_WIDTH, 0):
        runs: list[Run] = [head]
        used = len(head[0])
        for shown, device in enumerate(devices):
            label = f"{device.index if device.index is not None else shown}:"
            text = f"{' ' if gauge_width else ''}{gib(device.vram_used)} "
            rest = len(devices) - shown
            room = width - used - (len(f"+{rest - 1}") if rest > 1 else 0)
            if len(label) + gauge_width + len(text) > room:
                runs.append((f"+{rest}", "caption"))
                break
            filled, track = gauge(device.vram_used / device.vram_total, gauge_width)
            runs += [(label, "caption"), (filled, "gauge"), (track, "track"), (text, "")]
            used += len(label) + gauge_width + len(text)
        else:
            return runs
    return runs


def _vram_row(s: ServerSnapshot, width: int) -> list[Run]:
    if s.stats is not None and len(s.stats.devices) > 1:
        return _devices_row(s, width)
    filled, track = gauge(s.vram.last, GAUGE_WIDTH)
    spark_width = width - CAPTION_WIDTH - GAUGE_WIDTH - VRAM_TEXT_WIDTH
    return [
        ("VRAM ", "caption"),
        (filled, "gauge"),
        (track, "track"),
        (" " + _fit(vram_text(s), VRAM_TEXT_WIDTH - 1), ""),
        (sparkline(s.vram.values, spark_width), "spark"),
    ]


def _prompt_row(s: ServerSnapshot, width: int) -> list[Run]:
    running = s.running
    text = node_line(s)
    if running is None or not running.max:
        return [(text, "")]
    bar_width = PROGRESS_WIDTH + 1
    filled, track = gauge(running.value / running.max, PROGRESS_WIDTH)
    steps = f" {running.value:.0f}/{running.max:.0f}"
    # Cut the node's name, never its step count.
    label = text[: -len(steps)] if text.endswith(steps) else text
    room = max(0, width - bar_width - len(steps))
    if len(label) > room:
        label = label[: max(0, room - 1)] + "…"
    return [
        ((label + steps).ljust(width - bar_width + 1), ""),
        (filled, "progress"),
        (track, "track"),
    ]


def card_lines(s: ServerSnapshot, now: float, width: int, *, compact: bool) -> list[list[Run]]:
    """The card's content, ``width`` cells wide: five lines, or two when ``compact``.

    Full: facts, VRAM gauge + history, load and queue (+ Crystools), the running
    node with its progress, and the prompt or the last error. Compact keeps the
    gauge and the running node.
    """
    vram = _vram_row(s, width)
    prompt = _prompt_row(s, width)
    down = s.link in ("down", "reconnecting")
    if down and s.link_reason:
        # Why it is down (or refuses us) is what the user needs: wrapped, not cut.
        reason = _wrapped(f"✗ {s.link_reason}", width, 2 if compact else 3)
        if compact:
            return reason
        detail = detail_line(s, now)
        if detail.removeprefix("✗ ") in s.link_reason:
            detail = ""  # the reason above already says it
        known = facts_line(s) if s.stats is not None else s.url.split("://", 1)[-1]
        return [[(known, "muted")], *reason, [(detail, "")]]
    if compact:
        return [vram, prompt]
    detail = detail_line(s, now)
    return [
        [(facts_line(s), "muted" if down else "")],
        vram,
        [(load_line(s), "")],
        prompt,
        [(detail, "error" if detail.startswith("✗") else "")],
    ]


def _wrapped(text: str, width: int, lines: int) -> list[list[Run]]:
    """``text`` over exactly ``lines`` lines of ``width`` cells, the last one cut with "…"."""
    wrapped = textwrap.wrap(" ".join(text.split()), max(1, width)) or [""]
    if len(wrapped) > lines:
        last = " ".join(wrapped[lines - 1 :])
        wrapped = [*wrapped[: lines - 1], _fit(last, width).rstrip()]
    wrapped += [""] * (lines - len(wrapped))
    return [[(line, "error")] for line in wrapped]


class ServerCard(Widget, can_focus=True):
    """A bordered card for one server. Click or Enter opens it in depth."""

    COMPONENT_CLASSES = {
        "server-card--caption",
        "server-card--muted",
        "server-card--gauge",
        "server-card--progress",
        "server-card--track",
        "server-card--spark",
        "server-card--error",
    }

    DEFAULT_CSS = """
    ServerCard {
        height: 7;
        border: round $panel-lighten-2;
        border-title-align: left;
        border-subtitle-align: right;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.-compact { height: 4; }
        & > .server-card--caption { color: $text-muted; }
        & > .server-card--muted { color: $text-muted; }
        & > .server-card--gauge { color: $accent; }
        & > .server-card--progress { color: $success; }
        & > .server-card--track { color: $panel-lighten-1; }
        & > .server-card--spark { color: $primary; }
        & > .server-card--error { color: $error; }
    }
    """

    @dataclass
    class Selected(Message):
        """The user chose this server (click or Enter)."""

        url: str

    snapshot: reactive[ServerSnapshot | None] = reactive(None, init=False, repaint=False)
    now: reactive[float] = reactive(0.0, init=False, repaint=False)
    offscreen: reactive[bool] = reactive(False, init=False, repaint=False)
    """Set by the screen while the card is scrolled out of view: changes wait until it is back."""

    def __init__(self, snapshot: ServerSnapshot, now: float, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.url = snapshot.url
        self._ready = False
        self._stale = False
        self._classes_shown: frozenset[str] = frozenset()
        self._lines: list[list[Run]] = []
        """What each content line says now (``card_lines``)."""
        self._lines_for: tuple[int, bool] = (-1, False)
        """The (width, compact) ``_lines`` were laid out for."""
        self._strips: dict[int, Strip] = {}
        self._part_styles: dict[str, RichStyle] = {}
        """Rendered content lines; one is dropped (and drawn again) only when its text changes."""
        self.set_reactive(ServerCard.snapshot, snapshot)
        self.set_reactive(ServerCard.now, now)

    def on_mount(self) -> None:
        self._ready = True
        self._show()

    def watch_snapshot(self) -> None:
        self._show()

    def watch_now(self) -> None:
        self._show()

    def watch_offscreen(self, offscreen: bool) -> None:
        if not offscreen and self._stale:
            self._show()

    def notify_style_update(self) -> None:
        # Focus, a state class or the theme changed: colours differ, so render every line again.
        super().notify_style_update()
        self._strips.clear()
        self._part_styles.clear()

    @property
    def plain(self) -> str:
        """Everything the card says, as one string (title, subtitle, lines)."""
        s = self.snapshot
        if s is None:
            return ""
        lines = card_lines(s, self.now, 200, compact=self.has_class("-compact"))
        body = " | ".join("".join(text for text, _ in line).rstrip() for line in lines)
        return f"{s.name} [{status_line(s, self.now)}] {body}"

    def _show(self) -> None:
        """Bring the card up to date, repainting only the lines whose text changed (no layout)."""
        s = self.snapshot
        if s is None or not self._ready:
            return
        if self.offscreen:
            self._stale = True
            return
        self._stale = False
        if self.border_title != s.name:
            self.border_title = s.name
        subtitle = status_line(s, self.now)
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
        classes = {f"-{s.link}"}
        if s.running is not None:
            classes.add("-busy")
        if s.last_error is not None:
            classes.add("-error")
        shown = frozenset(classes)
        if shown != self._classes_shown:
            # Only on a state change: a class change restyles the card.
            self.remove_class(*(self._classes_shown - shown))
            self.add_class(*(shown - self._classes_shown))
            self._classes_shown = shown
        width = self.size.width
        layout = (width, self.has_class("-compact"))
        lines = card_lines(s, self.now, width, compact=layout[1])
        if layout != self._lines_for or len(lines) != len(self._lines):
            self._lines, self._lines_for = lines, layout
            self._strips.clear()
            self.refresh()
            return
        changed = [y for y, line in enumerate(lines) if line != self._lines[y]]
        self._lines = lines
        for y in changed:
            self._strips.pop(y, None)
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def render_line(self, y: int) -> Strip:
        """One content line, from the cache unless its text changed since it was drawn."""
        width = self.size.width
        layout = (width, self.has_class("-compact"))
        if layout != self._lines_for and self.snapshot is not None:
            self._lines = card_lines(self.snapshot, self.now, width, compact=layout[1])
            self._lines_for = layout
            self._strips.clear()
        strip = self._strips.get(y)
        if strip is None:
            strip = self._line_strip(self._lines[y] if y < len(self._lines) else [], width)
            self._strips[y] = strip
        return strip

    def _part_style(self, part: str) -> RichStyle:
        style = self._part_styles.get(part)
        if style is None:
            visual = self.visual_style
            if part:
                visual += self.get_visual_style(f"server-card--{part}", partial=True)
            style = self._part_styles[part] = visual.rich_style
        return style

    def _line_strip(self, line: list[Run], width: int) -> Strip:
        """Segments straight from the runs: the hot path, so no Content/Visual round trip."""
        plain = self._part_style("")
        strip = Strip([Segment(text, self._part_style(part)) for text, part in line if text])
        if strip.cell_length > width:
            cut = list(strip.crop(0, width - 1))
            cut.append(Segment("…", cut[-1].style if cut else plain))  # in the cut text's style
            strip = Strip(Segment.simplify(cut))
        return strip.extend_cell_length(width, plain)

    def _line_content(self, line: list[Run], width: int) -> Content:
        runs = [
            (text, self.get_visual_style(f"server-card--{part}", partial=True)) if part else text
            for text, part in line
            if text
        ]
        return Content.assemble(*runs).truncate(width, ellipsis=True)

    def render(self) -> Content:
        """The whole card as one Content (the line API above is what draws it)."""
        s = self.snapshot
        if s is None:
            return Content("")
        width = self.size.width
        lines = card_lines(s, self.now, width, compact=self.has_class("-compact"))
        return Content("\n").join(self._line_content(line, width) for line in lines)

    @on(Click)
    def _clicked(self) -> None:
        self.post_message(self.Selected(self.url))

    def key_enter(self) -> None:
        self.post_message(self.Selected(self.url))
