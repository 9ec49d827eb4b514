"""Test-side websocket recording and message "shapes" for comparing runs with traces.

A shape keeps what must match a recorded trace (message type, node, field
names, the progress map's states and number types, queue counts, binary frame
types) and drops what cannot (ids, timestamps, file counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import struct
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import websockets

from tests.traces import Trace

__all__ = [
    "Frame",
    "Recorder",
    "collapse_progress",
    "open_socket",
    "shape",
    "trace_shapes",
]

Frame = dict[str, Any]
"""A received frame: ``{"kind": "text", "data": msg}`` or ``{"kind": "binary", ...}``."""


def _binary_frame(raw: bytes) -> Frame:
    (event_type,) = struct.unpack(">I", raw[:4])
    frame: Frame = {"kind": "binary", "event_type": event_type, "length": len(raw), "raw": raw}
    if event_type == 4:
        (size,) = struct.unpack(">I", raw[4:8])
        frame["metadata"] = json.loads(raw[8 : 8 + size])
    return frame


class Recorder:
    """Everything one websocket received, with waits that need no sleeps."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                if isinstance(message, bytes):
                    frame = _binary_frame(message)
                else:
                    frame = {"kind": "text", "data": json.loads(message)}
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
        async with self._changed:
            self.frames.append({"kind": "closed"})
            self._changed.notify_all()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames if f["kind"] == "text"]

    async def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float = 10.0, start: int = 0
    ) -> Frame:
        """The first frame (from index ``start``) matching ``predicate``, waiting if needed."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for frame in self.frames[start:]:
                    if predicate(frame):
                        return frame
                await self._changed.wait()

    async def wait_message(
        self, type_: str, timeout: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        def matches(frame: Frame) -> bool:
            if frame["kind"] != "text" or frame["data"]["type"] != type_:
                return False
            data = frame["data"]["data"]
            return all(data.get(k) == v for k, v in fields.items())

        frame = await self.wait_for(matches, timeout)
        return frame["data"]

    async def wait_done(self, prompt_id: str, timeout: float = 10.0) -> None:
        """Until ``executing {node: null}`` for ``prompt_id``: the prompt is in history."""
        await self.wait_message("executing", timeout, node=None, prompt_id=prompt_id)

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda f: f["kind"] == "closed", timeout)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))


@contextlib.asynccontextmanager
async def open_socket(
    ws_url: str, client_id: str | None = None, flags: bool = False
) -> AsyncIterator[Recorder]:
    """Connect (``?clientId=`` when given), optionally negotiate preview metadata, record."""
    url = ws_url if client_id is None else f"{ws_url}?clientId={client_id}"
    async with websockets.connect(url, max_size=None) as ws, asyncio.TaskGroup() as tasks:
        recorder = Recorder(ws)
        if flags:
            await recorder.send(
                {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
            )
        reader = tasks.create_task(recorder.read())
        try:
            yield recorder
        finally:
            reader.cancel()


def _num(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _output_shape(output: Any) -> Any:
    if not isinstance(output, dict):
        return output
    text = json.dumps(output, sort_keys=True)
    text = re.sub(r"_temp_[a-z]{5}_", "_temp_xxxxx_", text)
    return re.sub(r"_\d{5}_\.", "_NNNNN_.", text)


def shape(frame: Frame) -> tuple[Any, ...]:
    """The comparable part of one frame (see the module docstring)."""
    if frame["kind"] == "binary":
        metadata = frame.get("metadata")
        return ("binary", frame["event_type"], tuple(sorted(metadata)) if metadata else None)
    if frame["kind"] != "text":
        return (frame["kind"],)
    msg = frame["data"]
    type_, data = msg["type"], msg["data"]
    if type_ == "progress_state":
        nodes = tuple(
            (n, v["state"], _num(v["value"]), _num(v["max"]), tuple(sorted(v)))
            for n, v in data["nodes"].items()
        )
        return (type_, nodes)
    if type_ == "status":
        return (type_, data["status"]["exec_info"]["queue_remaining"], "sid" in data)
    if type_ in ("executing", "executed"):
        return (type_, data.get("node"), tuple(sorted(data)), _output_shape(data.get("output")))
    if type_ == "execution_cached":
        return (type_, tuple(data["nodes"]), tuple(sorted(data)))
    if type_ == "progress":
        return (type_, data["node"], data["value"], data["max"], tuple(sorted(data)))
    if type_ in ("execution_error", "execution_interrupted"):
        return (
            type_,
            data["node_id"],
            data["node_type"],
            tuple(data["executed"]),
            tuple(sorted(data)),
        )
    return (type_, tuple(sorted(data)) if isinstance(data, dict) else None)


def trace_shapes(trace: Trace, socket: str = "A") -> list[tuple[Any, ...]]:
    """The shapes of what ``socket`` received in a recorded trace."""
    frames: list[Frame] = []
    for event in trace.ws_events(socket):
        if event.kind == "ws_binary":
            frames.append(
                {
                    "kind": "binary",
                    "event_type": event.raw["event_type"],
                    "metadata": event.raw.get("metadata"),
                }
            )
        else:
            frames.append({"kind": "text", "data": event.data})
    return [shape(f) for f in frames]


def collapse_progress(shapes: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Fold each run of progress updates into one marker: their count depends on timing."""
    out: list[tuple[Any, ...]] = []
    for s in shapes:
        is_update = s[0] == "progress" or (
            s[0] == "progress_state" and any(n[1] == "running" and n[3][0] == "int" for n in s[1])
        )
        if is_update:
            if not out or out[-1] != ("progress*",):
                out.append(("progress*",))
            continue
        out.append(s)
    return out
