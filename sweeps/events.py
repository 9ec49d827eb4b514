"""Typed websocket events, parsed at the edge from ComfyUI's ``/ws`` frames.

One frozen dataclass per message type in PROTOCOL section 2, plus the binary
frames (previews, progress text), plus what the connection itself does
(opened, closed). Nothing downstream of :func:`parse_text` and
:func:`parse_binary` sees raw JSON. Unknown message types become
:class:`UnknownEvent`: kept, never dropped and never fatal, because custom nodes
send their own (``PromptServer.send_sync``).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CrystoolsMonitor",
    "Event",
    "ExecutionCached",
    "ExecutionError",
    "ExecutionInterrupted",
    "ExecutionStart",
    "ExecutionSuccess",
    "Executed",
    "Executing",
    "FeatureFlags",
    "GpuReading",
    "MalformedFrame",
    "NodeProgress",
    "PreviewImage",
    "Progress",
    "ProgressState",
    "ProgressText",
    "SocketClosed",
    "SocketOpened",
    "Status",
    "UnknownEvent",
    "parse_binary",
    "parse_message",
    "parse_text",
]


@dataclass(frozen=True)
class Event:
    """Base of every event. ``server`` is the base URL it came from ("" when replayed)."""

    server: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class PromptEvent(Event):
    """An event about one prompt. ``prompt_id`` is None only where ComfyUI omits it."""

    prompt_id: str | None


@dataclass(frozen=True)
class Status(Event):
    """Queue changed. ``queue_remaining`` counts pending plus running; ``sid`` only on connect."""

    queue_remaining: int
    sid: str | None = None


@dataclass(frozen=True)
class FeatureFlags(Event):
    """The server's answer to our ``feature_flags``: what it supports."""

    flags: Mapping[str, Any]

    @property
    def supports_preview_metadata(self) -> bool:
        return bool(self.flags.get("supports_preview_metadata"))


@dataclass(frozen=True)
class ExecutionStart(PromptEvent):
    timestamp: int | None = None


@dataclass(frozen=True)
class ExecutionCached(PromptEvent):
    """Nodes whose outputs came from the cache, in prompt order."""

    nodes: tuple[str, ...]
    timestamp: int | None = None


@dataclass(frozen=True)
class Executing(PromptEvent):
    """A node started. ``node`` None (with a prompt_id) means the prompt is over and
    its history entry is written (PROTOCOL 6.1). On reconnect the server may send
    this with no ``prompt_id``.
    """

    node: str | None
    display_node: str | None = None

    @property
    def is_done(self) -> bool:
        return self.node is None


@dataclass(frozen=True)
class Progress(PromptEvent):
    """Legacy per-node progress: ``value`` of ``max`` steps."""

    node: str | None
    value: float
    max: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.value / self.max) if self.max else 0.0


@dataclass(frozen=True)
class NodeProgress:
    """One entry of ``progress_state.nodes``."""

    node_id: str
    value: float
    max: float
    state: str
    display_node_id: str | None = None
    parent_node_id: str | None = None
    real_node_id: str | None = None


@dataclass(frozen=True)
class ProgressState(PromptEvent):
    """Cumulative per-node state of the prompt so far (newer than :class:`Progress`)."""

    nodes: tuple[NodeProgress, ...]


@dataclass(frozen=True)
class Executed(PromptEvent):
    """A node produced UI output (``{"images": [...]}`` and the like).

    Also sent for cached output nodes, carrying their old output (PROTOCOL 6.7).
    """

    node: str
    display_node: str | None
    output: Mapping[str, Any] | None


@dataclass(frozen=True)
class ExecutionSuccess(PromptEvent):
    """The prompt succeeded. History may not be written yet: wait for ``Executing(None)``."""

    timestamp: int | None = None


@dataclass(frozen=True)
class ExecutionError(PromptEvent):
    """A node raised. ``exception_type`` ``ExecutionBlocked`` does not stop the prompt."""

    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str
    executed: tuple[str, ...] = ()
    traceback: tuple[str, ...] = ()
    current_inputs: Mapping[str, Any] = field(default_factory=dict)
    current_outputs: tuple[str, ...] = ()
    timestamp: int | None = None


@dataclass(frozen=True)
class ExecutionInterrupted(PromptEvent):
    node_id: str | None
    node_type: str | None
    executed: tuple[str, ...] = ()
    timestamp: int | None = None


@dataclass(frozen=True)
class GpuReading:
    """One GPU in a Crystools monitor message."""

    utilization: float | None = None
    temperature: float | None = None
    vram_total: int | None = None
    vram_used: int | None = None
    vram_used_percent: float | None = None


@dataclass(frozen=True)
class CrystoolsMonitor(Event):
    """``crystools.monitor``: the Crystools extension's periodic hardware reading."""

    cpu_utilization: float | None
    ram_total: int | None
    ram_used: int | None
    ram_used_percent: float | None
    gpus: tuple[GpuReading, ...]


@dataclass(frozen=True)
class UnknownEvent(Event):
    """A JSON message of a type this version does not model (custom nodes send their own)."""

    type: str
    data: Any


@dataclass(frozen=True)
class PreviewImage(Event):
    """A binary preview frame: type 1 (legacy) or type 4 (with metadata)."""

    frame_type: int
    mime_type: str
    image: bytes = field(repr=False)
    prompt_id: str | None = None
    node_id: str | None = None
    display_node_id: str | None = None


@dataclass(frozen=True)
class ProgressText(Event):
    """A binary type 3 frame: text a node reports (broadcast by default)."""

    node_id: str
    text: str


@dataclass(frozen=True)
class MalformedFrame(Event):
    """A frame we could not parse. Reported, never fatal."""

    reason: str
    head: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class SocketOpened(Event):
    """The websocket connected; ``sid`` is the client id the server registered."""

    sid: str | None


@dataclass(frozen=True)
class SocketClosed(Event):
    """The websocket closed. ``retry_in`` is None when we will not reconnect."""

    reason: str
    retry_in: float | None = None


_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


def parse_text(raw: str | bytes, *, server: str = "") -> Event:
    """Parse one text frame. Never raises: bad input gives :class:`MalformedFrame`."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        head = raw.encode() if isinstance(raw, str) else raw
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        return MalformedFrame(f"not JSON: {why}", head[:64], server=server)
    return parse_message(message, server=server)


def parse_message(message: object, *, server: str = "") -> Event:
    """Parse one decoded ``{"type": ..., "data": ...}`` message."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return MalformedFrame("message without a type", repr(message)[:64].encode(), server=server)
    kind: str = message["type"]
    data = message.get("data")
    parser = _PARSERS.get(kind)
    if parser is None or not isinstance(data, dict):
        return UnknownEvent(kind, data, server=server)
    try:
        return parser(data, server)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        try:
            head = json.dumps(message)[:64].encode()
        except (ValueError, TypeError, RecursionError):
            head = kind.encode()[:64]
        return MalformedFrame(
            f"{kind} message missing or mistyped field: {exc}", head, server=server
        )


def parse_binary(frame: bytes, *, server: str = "") -> Event:
    """Parse one binary frame (PROTOCOL 2.4). Never raises."""
    if len(frame) < 4:
        return MalformedFrame("binary frame shorter than its 4-byte type", frame, server=server)
    (kind,) = struct.unpack(">I", frame[:4])
    body = frame[4:]
    if kind == 1:
        if len(body) < 4:
            return MalformedFrame(
                "preview frame without an image format", frame[:64], server=server
            )
        (fmt,) = struct.unpack(">I", body[:4])
        mime = _IMAGE_FORMATS.get(fmt, "application/octet-stream")
        return PreviewImage(1, mime, body[4:], server=server)
    if kind == 3:
        if len(body) < 4:
            return MalformedFrame("text frame without a node id length", frame[:64], server=server)
        (n,) = struct.unpack(">I", body[:4])
        if len(body) < 4 + n:
            return MalformedFrame("text frame shorter than its node id", frame[:64], server=server)
        node = body[4 : 4 + n].decode("utf-8", "replace")
        text = body[4 + n :].decode("utf-8", "replace")
        return ProgressText(node, text, server=server)
    if kind == 4:
        if len(body) < 4:
            return MalformedFrame(
                "preview frame without metadata length", frame[:64], server=server
            )
        (n,) = struct.unpack(">I", body[:4])
        try:
            meta = json.loads(body[4 : 4 + n])
        except (ValueError, RecursionError):
            return MalformedFrame("preview metadata is not JSON", frame[:64], server=server)
        if not isinstance(meta, dict) or len(body) < 4 + n:
            return MalformedFrame("preview metadata is not an object", frame[:64], server=server)
        return PreviewImage(
            4,
            str(meta.get("image_type") or "image/jpeg"),
            body[4 + n :],
            prompt_id=_opt_str(meta.get("prompt_id")),
            node_id=_opt_str(meta.get("node_id")),
            display_node_id=_opt_str(meta.get("display_node_id")),
            server=server,
        )
    return MalformedFrame(f"unknown binary event type {kind}", frame[:64], server=server)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value)


def _ms(value: object) -> int | None:
    """A timestamp in ms; custom servers send floats, strings or nothing."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return _int(value)


def _status(d: dict[str, Any], server: str) -> Event:
    status = d.get("status")
    info = status.get("exec_info") if isinstance(status, dict) else None
    remaining = info.get("queue_remaining") if isinstance(info, dict) else None
    return Status(_int(remaining) or 0, _opt_str(d.get("sid")), server=server)


def _feature_flags(d: dict[str, Any], server: str) -> Event:
    return FeatureFlags(dict(d), server=server)


def _execution_start(d: dict[str, Any], server: str) -> Event:
    return ExecutionStart(_opt_str(d.get("prompt_id")), _ms(d.get("timestamp")), server=server)


def _execution_cached(d: dict[str, Any], server: str) -> Event:
    return ExecutionCached(
        _opt_str(d.get("prompt_id")), _ids(d.get("nodes")), _ms(d.get("timestamp")), server=server
    )


def _executing(d: dict[str, Any], server: str) -> Event:
    return Executing(
        _opt_str(d.get("prompt_id")),
        _opt_str(d["node"]),
        _opt_str(d.get("display_node")),
        server=server,
    )


def _progress(d: dict[str, Any], server: str) -> Event:
    return Progress(
        _opt_str(d.get("prompt_id")),
        _opt_str(d.get("node")),
        float(d["value"]),
        float(d["max"]),
        server=server,
    )


def _node_progress(key: object, n: object) -> NodeProgress | None:
    """One ``progress_state`` entry; None when it has no usable numbers."""
    if not isinstance(n, dict):
        return None
    value, top = _num(n.get("value")), _num(n.get("max"))
    if value is None or top is None:
        return None
    return NodeProgress(
        node_id=str(n.get("node_id", key)),
        value=value,
        max=top,
        state=str(n.get("state") or "running"),
        display_node_id=_opt_str(n.get("display_node_id")),
        parent_node_id=_opt_str(n.get("parent_node_id")),
        real_node_id=_opt_str(n.get("real_node_id")),
    )


def _progress_state(d: dict[str, Any], server: str) -> Event:
    raw = d["nodes"]
    pairs = raw.items() if isinstance(raw, dict) else enumerate(raw)
    nodes = tuple(p for p in (_node_progress(k, n) for k, n in pairs) if p is not None)
    return ProgressState(_opt_str(d.get("prompt_id")), nodes, server=server)


def _executed(d: dict[str, Any], server: str) -> Event:
    output = d.get("output")
    return Executed(
        _opt_str(d.get("prompt_id")),
        str(d["node"]),
        _opt_str(d.get("display_node")),
        output if isinstance(output, dict) else None,
        server=server,
    )


def _execution_success(d: dict[str, Any], server: str) -> Event:
    return ExecutionSuccess(_opt_str(d.get("prompt_id")), _ms(d.get("timestamp")), server=server)


def _lines(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(t) for t in value) if isinstance(value, list | tuple) else ()


def _execution_error(d: dict[str, Any], server: str) -> Event:
    inputs = d.get("current_inputs")
    return ExecutionError(
        _opt_str(d.get("prompt_id")),
        _opt_str(d.get("node_id")),
        _opt_str(d.get("node_type")),
        str(d.get("exception_type") or "Exception"),
        str(d.get("exception_message") or ""),
        executed=_ids(d.get("executed")),
        traceback=_lines(d.get("traceback")),
        current_inputs=inputs if isinstance(inputs, dict) else {},
        current_outputs=_ids(d.get("current_outputs")),
        timestamp=_ms(d.get("timestamp")),
        server=server,
    )


def _execution_interrupted(d: dict[str, Any], server: str) -> Event:
    return ExecutionInterrupted(
        _opt_str(d.get("prompt_id")),
        _opt_str(d.get("node_id")),
        _opt_str(d.get("node_type")),
        _ids(d.get("executed")),
        _ms(d.get("timestamp")),
        server=server,
    )


def _num(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _crystools(d: dict[str, Any], server: str) -> Event:
    gpus = tuple(
        GpuReading(
            utilization=_num(g.get("gpu_utilization")),
            temperature=_num(g.get("gpu_temperature")),
            vram_total=_int(g.get("vram_total")),
            vram_used=_int(g.get("vram_used")),
            vram_used_percent=_num(g.get("vram_used_percent")),
        )
        for g in _list(d.get("gpus"))
        if isinstance(g, dict)
    )
    return CrystoolsMonitor(
        _num(d.get("cpu_utilization")),
        _int(d.get("ram_total")),
        _int(d.get("ram_used")),
        _num(d.get("ram_used_percent")),
        gpus,
        server=server,
    )


_PARSERS = {
    "status": _status,
    "feature_flags": _feature_flags,
    "execution_start": _execution_start,
    "execution_cached": _execution_cached,
    "executing": _executing,
    "progress": _progress,
    "progress_state": _progress_state,
    "executed": _executed,
    "execution_success": _execution_success,
    "execution_error": _execution_error,
    "execution_interrupted": _execution_interrupted,
    "crystools.monitor": _crystools,
}
