"""Websocket clients and the ordered outbox every server event goes through.

ComfyUI funnels all events through one ``asyncio.Queue`` drained by a single
publisher task, so a client sees events in the order they were produced even
when the HTTP handlers and the worker produce them concurrently. We do the same.

The ``sockets`` dict is keyed by client id and reproduces the real server's
reconnect pitfall (PROTOCOL 2.1): a second socket with the same ``clientId``
replaces the first in the dict, and when the *first* closes, its cleanup pops
the *second*, which silently goes deaf.
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["BinaryType", "SocketHub", "encode_preview", "encode_text_frame"]


class BinaryType:
    """``protocol.BinaryEventTypes``: the big-endian u32 that opens every binary frame."""

    PREVIEW_IMAGE = 1
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


def encode_preview(image: bytes, image_format: str, metadata: dict[str, Any] | None) -> bytes:
    """A preview frame: type 1 (``[1][fmt][bytes]``) or, with metadata, type 4."""
    if metadata is None:
        fmt = 2 if image_format.upper() == "PNG" else 1
        return struct.pack(">II", BinaryType.PREVIEW_IMAGE, fmt) + image
    meta = json.dumps(metadata).encode()
    return struct.pack(">II", BinaryType.PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + image


def encode_text_frame(node_id: str, text: str) -> bytes:
    node = node_id.encode()
    return struct.pack(">II", BinaryType.TEXT, len(node)) + node + text.encode()


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    request: web.Request


class SocketHub:
    """Connected clients, their negotiated flags, and the publisher that feeds them."""

    def __init__(
        self,
        server_features: Callable[[], dict[str, Any]],
        on_connect: Callable[[str], list[dict[str, Any]]],
    ) -> None:
        self._server_features = server_features
        self._on_connect = on_connect
        self.sockets: dict[str, _Client] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self._all: set[_Client] = set()
        self._outbox: asyncio.Queue[tuple[str | bytes, str | None]] = asyncio.Queue()

    # ----- producing

    def send(self, event: str, data: Any, sid: str | None = None) -> None:
        """Queue ``{"type": event, "data": data}`` for ``sid``, or for everyone when None."""
        self._outbox.put_nowait((json.dumps({"type": event, "data": data}), sid))

    def send_bytes(self, frame: bytes, sid: str | None = None) -> None:
        self._outbox.put_nowait((frame, sid))

    def supports_preview_metadata(self, sid: str | None) -> bool:
        if sid is None:
            return False
        flags = self.metadata.get(sid, {}).get("feature_flags", {})
        return bool(flags.get("supports_preview_metadata", False))

    # ----- publishing

    async def publish(self) -> None:
        """Drain the outbox forever; send errors are swallowed, as ComfyUI's are."""
        while True:
            message, sid = await self._outbox.get()
            if sid is None:
                targets = list(self.sockets.values())
            else:
                client = self.sockets.get(sid)
                targets = [client] if client is not None else []
            for client in targets:
                await _send(client.ws, message)
            self._outbox.task_done()

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to the sockets."""
        await self._outbox.join()

    # ----- connections

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /ws``: the real handler's sequence, pitfalls included."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        client = _Client(ws, request)
        self.sockets[sid] = client
        self.metadata[sid] = {"feature_flags": {}}
        self._all.add(client)
        try:
            for message in self._on_connect(sid):
                await _send(ws, json.dumps(message))
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if first_message and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data", {})
                    self.metadata[sid]["feature_flags"] = flags
                    await _send(
                        ws, json.dumps({"type": "feature_flags", "data": self._server_features()})
                    )
                first_message = False
        finally:
            self._all.discard(client)
            self.sockets.pop(sid, None)
            self.metadata.pop(sid, None)
        return ws

    async def drop_all(self, abort: bool = False) -> None:
        """Close every websocket: politely (close frame) or by aborting the TCP connection."""
        clients = list(self._all)
        for client in clients:
            if abort:
                transport = client.request.transport
                if transport is not None:
                    transport.abort()
            else:
                await client.ws.close()

    def transports(self) -> set[object]:
        """The TCP transports of connected websockets (kept when only HTTP is cut)."""
        return {c.request.transport for c in self._all if c.request.transport is not None}

    @property
    def client_count(self) -> int:
        return len(self._all)


async def _send(ws: web.WebSocketResponse, message: str | bytes) -> None:
    if ws.closed:
        return
    try:
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_str(message)
    except (ConnectionError, RuntimeError):
        pass
