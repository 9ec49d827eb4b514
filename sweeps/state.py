"""What the fleet looks like right now: a pure fold of events and polls into snapshots.

Nothing here does I/O or reads a clock: every function takes ``now`` (epoch
seconds) and returns a new frozen :class:`ServerSnapshot`, so the dashboard can
hold on to a snapshot while the monitor folds the next frame, and tests can
replay a recorded event sequence and compare the result.

Three inputs feed a server's snapshot:

* websocket events (:func:`apply_event`): link state, the running prompt, its
  executing node and progress, the node timeline, errors, previews, Crystools;
* ``GET /system_stats`` polls (:func:`apply_stats`): versions, device, VRAM and RAM,
  and the VRAM history ring;
* ``GET /queue`` polls (:func:`apply_queue`): running and pending counts, and the
  prompt graphs that give node ids their ``class_type`` and ``_meta.title``.

ComfyUI routes lifecycle events only to the client that submitted the prompt
(PROTOCOL 2.2), so for prompts queued by someone else the running prompt comes
from /queue alone: its id and start, without node or progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .events import (
    CrystoolsMonitor,
    Event,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    PreviewImage,
    Progress,
    ProgressState,
    SocketClosed,
    SocketOpened,
    Status,
)
from .models import QueueItem, QueueState, SystemStats

__all__ = [
    "FleetSnapshot",
    "LastError",
    "LinkState",
    "LogLine",
    "NodeName",
    "NodeSpan",
    "Preview",
    "RunningPrompt",
    "ServerSnapshot",
    "Series",
    "apply_action_error",
    "apply_event",
    "apply_note",
    "apply_poll_error",
    "apply_queue",
    "apply_stats",
    "new_server",
]

LinkState = Literal["connecting", "up", "reconnecting", "down"]

HISTORY_WINDOW = 300.0
"""Seconds of VRAM and RAM history kept for sparklines."""
HISTORY_POINTS = 240
"""At most this many samples per series, whatever the poll interval."""
LOG_LINES = 200
"""Lines of the per-server event log kept in the snapshot."""


@dataclass(frozen=True)
class Series:
    """A bounded time series: the last ``HISTORY_WINDOW`` seconds of one value."""

    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def add(self, now: float, value: float) -> Series:
        cut = now - HISTORY_WINDOW
        start = 0
        while start < len(self.times) and self.times[start] < cut:
            start += 1
        start = max(start, len(self.times) + 1 - HISTORY_POINTS)
        return Series(self.times[start:] + (now,), self.values[start:] + (value,))

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class NodeName:
    """What the submitted graph calls a node."""

    class_type: str
    title: str | None = None

    def label(self) -> str:
        if self.title and self.title != self.class_type:
            return f"{self.class_type} «{self.title}»"
        return self.class_type


@dataclass(frozen=True)
class NodeSpan:
    """One node of the timeline: when it started and how long it ran (None: still running)."""

    node_id: str
    name: NodeName | None
    started: float
    seconds: float | None = None


@dataclass(frozen=True)
class RunningPrompt:
    """The prompt executing on a server, as far as the events tell."""

    prompt_id: str
    started: float
    node_id: str | None = None
    node: NodeName | None = None
    value: float = 0.0
    max: float = 0.0
    cached: int = 0
    nodes_done: int = 0
    nodes_total: int | None = None
    ours: bool = True
    """False when known only from /queue: someone else's client gets its events."""

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.value / self.max) if self.max else None


@dataclass(frozen=True)
class LastError:
    """The most recent thing that went wrong on a server, for one line on its card."""

    at: float
    kind: Literal["execution", "interrupted", "connection", "poll", "action"]
    message: str
    prompt_id: str | None = None
    node_id: str | None = None
    node_type: str | None = None


@dataclass(frozen=True)
class Preview:
    """The latest preview frame: encoded bytes as the server sent them."""

    at: float
    mime_type: str
    image: bytes = field(repr=False)
    prompt_id: str | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class LogLine:
    """One line of a server's event log: link changes, prompts, errors."""

    at: float
    level: Literal["info", "warning", "error"]
    text: str


@dataclass(frozen=True)
class ServerSnapshot:
    """Everything the dashboard shows about one server, at one moment."""

    url: str
    name: str
    link: LinkState = "connecting"
    since: float = 0.0
    """When ``link`` last went between up and not up."""
    link_reason: str = ""
    stats: SystemStats | None = None
    stats_at: float | None = None
    vram: Series = Series()
    ram: Series = Series()
    queue_remaining: int | None = None
    queue: QueueState | None = None
    running: RunningPrompt | None = None
    graphs: Mapping[str, Mapping[str, NodeName]] = field(default_factory=dict, repr=False)
    """prompt id -> node id -> name, for prompts seen in /queue."""
    timeline: tuple[NodeSpan, ...] = ()
    timeline_prompt: str | None = None
    finished: int = 0
    """Prompts seen finishing; the in-depth view refetches history when it moves."""
    last_error: LastError | None = None
    crystools: CrystoolsMonitor | None = None
    preview: Preview | None = None
    log: tuple[LogLine, ...] = ()
    updated: float = 0.0

    @property
    def queue_running(self) -> int:
        if self.queue is not None:
            return len(self.queue.running)
        return 1 if self.running is not None else 0

    @property
    def queue_pending(self) -> int:
        if self.queue is not None:
            return len(self.queue.pending)
        if self.queue_remaining is not None:
            return max(0, self.queue_remaining - self.queue_running)
        return 0

    @property
    def is_up(self) -> bool:
        return self.link == "up"


@dataclass(frozen=True, eq=False)
class FleetSnapshot:
    """All servers in display order, and which of them changed since the last one.

    Compared by identity: a new snapshot is made only when something changed.
    """

    servers: tuple[ServerSnapshot, ...] = ()
    changed: frozenset[str] = frozenset()

    def get(self, url: str) -> ServerSnapshot | None:
        for server in self.servers:
            if server.url == url:
                return server
        return None

    @property
    def up(self) -> int:
        return sum(1 for s in self.servers if s.is_up)

    @property
    def busy(self) -> int:
        return sum(1 for s in self.servers if s.running is not None)

    @property
    def pending(self) -> int:
        return sum(s.queue_pending for s in self.servers)


def new_server(url: str, name: str, now: float) -> ServerSnapshot:
    return ServerSnapshot(url=url, name=name, since=now, updated=now)


Level = Literal["info", "warning", "error"]


def _log(s: ServerSnapshot, now: float, level: Level, text: str) -> tuple[LogLine, ...]:
    return s.log[-(LOG_LINES - 1) :] + (LogLine(now, level, text),)


def _set_link(s: ServerSnapshot, link: LinkState, reason: str, now: float) -> ServerSnapshot:
    if link == s.link:
        return replace(s, link_reason=reason, updated=now)
    flipped = (link == "up") != (s.link == "up")
    since = now if flipped or s.link == "connecting" else s.since
    level: Level = "info" if link == "up" else "warning"
    text = f"link {link}" + (f": {reason}" if reason else "")
    return replace(
        s, link=link, since=since, link_reason=reason, log=_log(s, now, level, text), updated=now
    )


def _name(s: ServerSnapshot, prompt_id: str | None, node_id: str | None) -> NodeName | None:
    if prompt_id is None or node_id is None:
        return None
    return s.graphs.get(prompt_id, {}).get(node_id)


def _close_span(timeline: tuple[NodeSpan, ...], now: float) -> tuple[NodeSpan, ...]:
    if timeline and timeline[-1].seconds is None:
        last = timeline[-1]
        return timeline[:-1] + (replace(last, seconds=max(0.0, now - last.started)),)
    return timeline


def _start(s: ServerSnapshot, prompt_id: str, now: float) -> ServerSnapshot:
    total = len(s.graphs[prompt_id]) if prompt_id in s.graphs else None
    running = RunningPrompt(prompt_id, started=now, nodes_total=total)
    return replace(
        s,
        running=running,
        timeline=(),
        timeline_prompt=prompt_id,
        log=_log(s, now, "info", f"prompt {prompt_id[:8]} started"),
        updated=now,
    )


def _running_for(s: ServerSnapshot, prompt_id: str | None, now: float) -> ServerSnapshot:
    """The snapshot with a running prompt for ``prompt_id`` (started now if new to us)."""
    if prompt_id is None:
        return s
    if s.running is None or s.running.prompt_id != prompt_id:
        return _start(s, prompt_id, now)
    return s


def _finish(
    s: ServerSnapshot, prompt_id: str | None, now: float, text: str, level: Level
) -> ServerSnapshot:
    if s.running is None or (prompt_id is not None and s.running.prompt_id != prompt_id):
        return s
    return replace(
        s,
        running=None,
        timeline=_close_span(s.timeline, now),
        finished=s.finished + 1,
        log=_log(s, now, level, text),
        updated=now,
    )


def apply_event(s: ServerSnapshot, event: Event, now: float) -> ServerSnapshot:
    """Fold one websocket event into the snapshot. Unknown events change nothing."""
    match event:
        case SocketOpened():
            return _set_link(s, "up", "", now)
        case SocketClosed(reason=reason, retry_in=retry_in):
            link: LinkState = "reconnecting" if s.link == "up" and retry_in is not None else "down"
            s = _set_link(s, link, reason, now)
            previous = s.last_error
            at = previous.at if previous is not None and previous.kind == "connection" else now
            return replace(s, last_error=LastError(at, "connection", reason))
        case Status(queue_remaining=remaining):
            return replace(s, queue_remaining=remaining, updated=now)
        case ExecutionStart(prompt_id=pid) if pid is not None:
            return _start(s, pid, now)
        case ExecutionCached(prompt_id=pid, nodes=nodes):
            s = _running_for(s, pid, now)
            if s.running is None:
                return s
            return replace(s, running=replace(s.running, cached=len(nodes)), updated=now)
        case Executing(node=None, prompt_id=pid):
            return _finish(s, pid, now, f"prompt {(pid or '?')[:8]} finished", "info")
        case Executing(node=node, prompt_id=pid):
            s = _running_for(s, pid, now)
            if s.running is None:
                return s
            name = _name(s, s.running.prompt_id, node)
            done = s.running.nodes_done + (1 if s.running.node_id is not None else 0)
            running = replace(
                s.running, node_id=node, node=name, value=0.0, max=0.0, nodes_done=done
            )
            timeline = _close_span(s.timeline, now) + (NodeSpan(str(node), name, now),)
            return replace(s, running=running, timeline=timeline, updated=now)
        case Progress(prompt_id=pid, node=node, value=value, max=top):
            s = _running_for(s, pid, now)
            if s.running is None:
                return s
            running = replace(s.running, value=value, max=top)
            if node is not None and node != s.running.node_id:
                running = replace(running, node_id=node, node=_name(s, running.prompt_id, node))
            return replace(s, running=running, updated=now)
        case ProgressState(prompt_id=pid, nodes=nodes):
            if pid is None or s.running is None or s.running.prompt_id != pid:
                return s
            finished = sum(1 for n in nodes if n.state == "finished")
            if finished == s.running.nodes_done:
                return s  # re-sent with every progress step: most carry no news
            return replace(s, running=replace(s.running, nodes_done=finished), updated=now)
        case ExecutionSuccess(prompt_id=pid):
            return replace(s, timeline=_close_span(s.timeline, now), updated=now)
        case ExecutionError(exception_type="ExecutionBlocked"):
            return s
        case ExecutionError():
            where = f" in node {event.node_id} ({event.node_type})" if event.node_id else ""
            message = f"{event.exception_type}: {event.exception_message.strip()}"
            error = LastError(
                now, "execution", message, event.prompt_id, event.node_id, event.node_type
            )
            return replace(
                s,
                last_error=error,
                timeline=_close_span(s.timeline, now),
                log=_log(s, now, "error", f"{message}{where}"),
                updated=now,
            )
        case ExecutionInterrupted():
            message = f"interrupted at node {event.node_id} ({event.node_type})"
            error = LastError(
                now, "interrupted", message, event.prompt_id, event.node_id, event.node_type
            )
            return replace(
                s,
                last_error=error,
                timeline=_close_span(s.timeline, now),
                log=_log(s, now, "warning", message),
                updated=now,
            )
        case CrystoolsMonitor():
            return replace(s, crystools=event, updated=now)
        case PreviewImage():
            pid = event.prompt_id or (s.running.prompt_id if s.running else None)
            preview = Preview(now, event.mime_type, event.image, pid, event.node_id)
            return replace(s, preview=preview, updated=now)
    return s


def apply_stats(s: ServerSnapshot, stats: SystemStats, now: float) -> ServerSnapshot:
    """Fold a ``/system_stats`` answer: facts, and one sample of VRAM and RAM use."""
    device = stats.device
    vram = s.vram
    if device is not None and device.vram_total:
        vram = vram.add(now, device.vram_used / device.vram_total)
    ram = s.ram
    if stats.system.ram_total:
        used = stats.system.ram_total - stats.system.ram_free
        ram = ram.add(now, used / stats.system.ram_total)
    last_error = s.last_error
    if last_error is not None and last_error.kind == "poll":
        last_error = None
    return replace(
        s, stats=stats, stats_at=now, vram=vram, ram=ram, last_error=last_error, updated=now
    )


def _graph_names(item: QueueItem) -> dict[str, NodeName]:
    names: dict[str, NodeName] = {}
    for node_id, node in item.prompt.items():
        if not isinstance(node, Mapping):
            continue
        meta: Any = node.get("_meta")
        title = meta.get("title") if isinstance(meta, Mapping) else None
        names[str(node_id)] = NodeName(str(node.get("class_type", "?")), _opt(title))
    return names


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def apply_queue(s: ServerSnapshot, queue: QueueState, now: float) -> ServerSnapshot:
    """Fold a ``/queue`` answer: counts, graph names, and the running prompt reconciled.

    A running prompt we hold that the server no longer runs is over (we missed its
    end while the socket was down); one the server runs that we do not hold was
    queued by another client, whose events we never see.
    """
    graphs = dict(s.graphs) if s.running is not None else {}
    if s.running is not None:
        graphs = {k: v for k, v in graphs.items() if k == s.running.prompt_id}
    for item in queue.running + queue.pending:
        graphs[item.prompt_id] = s.graphs.get(item.prompt_id) or _graph_names(item)
    s = replace(
        s, queue=queue, queue_remaining=len(queue.running) + len(queue.pending), graphs=graphs
    )
    running_ids = [item.prompt_id for item in queue.running]
    if s.running is not None and s.running.prompt_id not in running_ids:
        s = _finish(s, s.running.prompt_id, now, f"prompt {s.running.prompt_id[:8]} ended", "info")
    if s.running is None and running_ids:
        pid = running_ids[0]
        running = RunningPrompt(pid, now, ours=False)
        s = replace(s, running=running, timeline=(), timeline_prompt=pid)
    if s.running is not None:
        names = graphs.get(s.running.prompt_id, {})
        running = replace(
            s.running,
            nodes_total=len(names) or s.running.nodes_total,
            node=names.get(s.running.node_id or "", s.running.node),
        )
        timeline = tuple(
            replace(span, name=names.get(span.node_id, span.name)) for span in s.timeline
        )
        s = replace(s, running=running, timeline=timeline)
    return replace(s, updated=now)


def apply_poll_error(s: ServerSnapshot, message: str, now: float) -> ServerSnapshot:
    """A poll failed. Shown as the last error unless a worse one is already there."""
    if s.last_error is not None and s.last_error.kind in ("connection", "execution"):
        if s.link != "up":
            return s
    return replace(s, last_error=LastError(now, "poll", message), updated=now)


def apply_action_error(s: ServerSnapshot, message: str, now: float) -> ServerSnapshot:
    """A user action (interrupt, clear...) failed: remember it on the card and in the log."""
    return replace(
        s,
        last_error=LastError(now, "action", message),
        log=_log(s, now, "error", message),
        updated=now,
    )


def apply_note(s: ServerSnapshot, text: str, now: float) -> ServerSnapshot:
    """Add an informational line to the server's log (an action's result, say)."""
    return replace(s, log=_log(s, now, "info", text), updated=now)
