"""The /ws event stream of one server: connect, negotiate, parse, reconnect.

Frames become :mod:`sweeps.events` values here, and websockets' exceptions
become :mod:`sweeps.errors` ones, so nothing past this module sees either.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from .errors import ClientClosed, ServerTimeout, ServerUnreachable
from .events import Event, SocketClosed, SocketOpened, Status, parse_binary, parse_text

if TYPE_CHECKING:
    from .client import ComfyClient

__all__ = ["USER_AGENT", "WS_MAX_FRAME", "events", "open_socket"]

USER_AGENT = "comfyfleet"
WS_MAX_FRAME = 64 * 1024 * 1024
"""Previews are small, but SaveImageWebsocket sends full-size PNGs over /ws."""


async def open_socket(client: ComfyClient) -> ClientConnection:
    """Connect to /ws under the client's current ``client_id`` and negotiate previews."""
    uri = client.server.ws_url(client.client_id)
    try:
        socket = await ws_connect(
            uri,
            additional_headers={**client.server.headers},
            user_agent_header=USER_AGENT,
            open_timeout=client.server.timeouts.connect,
            ping_interval=client.server.timeouts.ws_idle,
            ping_timeout=client.server.timeouts.ws_idle,
            close_timeout=2,
            max_size=WS_MAX_FRAME,
            proxy=None,
        )
    except TimeoutError as exc:
        raise ServerTimeout(f"websocket {uri} did not open in time", server=client.url) from exc
    except (OSError, websockets.exceptions.WebSocketException) as exc:
        raise ServerUnreachable(f"websocket {uri} failed: {exc}", server=client.url) from exc
    # Must be the first message: it switches previews to type 4 frames (PROTOCOL 6.4).
    flags = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
    try:
        await socket.send(json.dumps(flags))
    except websockets.exceptions.ConnectionClosed as exc:
        await socket.close()
        raise ServerUnreachable(
            f"websocket {uri} closed at once: {exc}", server=client.url
        ) from exc
    return socket


async def events(
    client: ComfyClient,
    *,
    reconnect: bool = True,
    max_backoff: float = 10.0,
) -> AsyncIterator[Event]:
    """Every event from /ws, forever, reconnecting with backoff.

    Yields :class:`SocketOpened` after each connect and :class:`SocketClosed`
    (with ``retry_in``) after each drop, so a consumer knows when events may
    have been missed and should reconcile with /history. Malformed frames
    come through as :class:`MalformedFrame`; nothing here is fatal except
    cancellation.

    If a socket closes without a clean close handshake, the server may still
    hold it; reconnecting under the same ``clientId`` would leave the new
    socket deaf when the old one is finally dropped (PROTOCOL 6.6). So after
    an unclean close a fresh ``client_id`` is used.
    """
    delay = 0.0
    while True:
        if client.closed:
            raise ClientClosed(f"client for {client.url} used after close")
        try:
            socket = await open_socket(client)
        except (ServerUnreachable, ServerTimeout) as exc:
            if not reconnect:
                raise
            delay = min(max_backoff, max(0.25, delay * 2)) * random.uniform(0.8, 1.2)
            yield SocketClosed(str(exc), retry_in=delay, server=client.url)
            await asyncio.sleep(delay)
            continue
        delay = 0.0
        clean = False
        reason = "closed"
        try:
            async for frame in socket:
                if isinstance(frame, str):
                    event = parse_text(frame, server=client.url)
                else:
                    event = parse_binary(frame, server=client.url)
                if isinstance(event, Status) and event.sid is not None:
                    yield SocketOpened(event.sid, server=client.url)
                yield event
            clean = socket.close_code in (1000, 1001)
            reason = f"closed by server (code {socket.close_code})"
        except websockets.exceptions.ConnectionClosed as exc:
            reason = f"connection lost: {exc}"
        finally:
            await socket.close()
        if not clean:
            client.client_id = str(uuid.uuid4())
        if not reconnect:
            yield SocketClosed(reason, retry_in=None, server=client.url)
            return
        delay = 0.25
        yield SocketClosed(reason, retry_in=delay, server=client.url)
        await asyncio.sleep(delay)
