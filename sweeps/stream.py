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

__all__ = ["USER_AGENT", "WS_MAX_FRAME", "events", "open_socket", "ws_uri"]

USER_AGENT = "comfyfleet"
WS_MAX_FRAME = 256 * 1024 * 1024
"""The largest frame accepted. Previews are small, but SaveImageWebsocket sends
full-size PNGs over /ws; a frame over the limit costs the connection (close 1009)."""


def ws_uri(client: ComfyClient) -> str:
    """The websocket URL: ``/ws`` below the base URL's prefix, or ``/api/ws``.

    The frontend connects to ``/ws``, so that is tried first; a proxy that
    forwards only ``/api`` needs the prefixed form, which ComfyUI also serves.
    """
    uri = client.server.ws_url(client.client_id)
    if client.ws_api_prefix:
        head, _, query = uri.rpartition("/ws?")
        uri = f"{head}/api/ws?{query}"
    return uri


async def open_socket(client: ComfyClient) -> ClientConnection:
    """Connect to /ws under the client's current ``client_id`` and negotiate previews."""
    try:
        socket = await _connect(client)
    except websockets.exceptions.InvalidStatus as exc:
        if exc.response.status_code != 404:
            raise _refused(client, exc) from exc
        client.ws_api_prefix = not client.ws_api_prefix  # the other form, once
        try:
            socket = await _connect(client)
        except websockets.exceptions.InvalidStatus as again:
            client.ws_api_prefix = False
            raise _refused(client, again) from again
    # Must be the first message: it switches previews to type 4 frames (PROTOCOL 6.4).
    flags = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
    try:
        await socket.send(json.dumps(flags))
    except websockets.exceptions.ConnectionClosed as exc:
        await socket.close()
        raise ServerUnreachable(
            f"websocket {_shown(client)} closed at once: {exc}", server=client.url
        ) from exc
    return socket


async def _connect(client: ComfyClient) -> ClientConnection:
    uri = ws_uri(client)
    timeouts = client.server.timeouts
    try:
        return await ws_connect(
            uri,
            additional_headers={**client.server.headers},
            user_agent_header=USER_AGENT,
            open_timeout=timeouts.connect,
            # ComfyUI sends nothing while idle and proxies close idle connections
            # (nginx after 60 s): pings keep the socket alive and find dead ones.
            ping_interval=timeouts.ws_idle,
            ping_timeout=timeouts.ws_idle,
            close_timeout=2,
            max_size=WS_MAX_FRAME,
            # Events are a few hundred bytes and previews already JPEG: deflate would
            # only spend CPU on both ends (32 busy servers: ~1,300 frames a second).
            compression=None,
            proxy=None,
        )
    except websockets.exceptions.InvalidStatus:
        raise
    except TimeoutError as exc:
        raise ServerTimeout(
            f"websocket {_shown(client)} did not open within {timeouts.connect}s",
            server=client.url,
        ) from exc
    except (OSError, ValueError, websockets.exceptions.WebSocketException) as exc:
        raise ServerUnreachable(
            f"websocket {_shown(client)} failed: {exc}", server=client.url
        ) from exc


def _shown(client: ComfyClient) -> str:
    """The websocket URL without its query, for messages."""
    return ws_uri(client).partition("?")[0]


def _refused(client: ComfyClient, exc: websockets.exceptions.InvalidStatus) -> ServerUnreachable:
    status = exc.response.status_code
    message = f"websocket {_shown(client)} was refused with HTTP {status}"
    if status in (401, 403, 407):
        # Said first: a dashboard card shows the start of this as the server's state.
        message = "authentication failed: " + message
        message += (
            ": the server, or a proxy in front of it, wants credentials; give them as this "
            "server's headers (they are sent on the websocket too)"
        )
    elif status == 404:
        message += " (also under /api/ws): progress comes from polling /history instead"
    return ServerUnreachable(message, server=client.url)


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
        opened = False
        try:
            async for frame in socket:
                if isinstance(frame, str):
                    event = parse_text(frame, server=client.url)
                else:
                    event = parse_binary(frame, server=client.url)
                if not opened:
                    # The server registers the socket before its first frame (a
                    # status with our sid), so from here on our events reach us.
                    opened = True
                    sid = event.sid if isinstance(event, Status) else None
                    if sid and sid != client.client_id:
                        # Registered under an id of its own (a proxy dropped the query,
                        # or an old server): prompts must carry that one, as the
                        # frontend's do, or their events go nowhere.
                        client.client_id = sid
                    yield SocketOpened(client.client_id, server=client.url)
                yield event
            clean = socket.close_code in (1000, 1001)
            reason = f"closed by server (code {socket.close_code})"
        except websockets.exceptions.ConnectionClosed as exc:
            reason = f"connection lost: {exc}"
            if exc.sent is not None and exc.sent.code == 1009:
                reason = f"a frame was larger than {WS_MAX_FRAME // 2**20} MiB: {exc}"
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
