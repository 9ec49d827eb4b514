"""The real server's aiohttp middlewares, in its order, plus the simulator's fault hook.

``cache_control`` and the default ``origin_only`` middleware (server.py,
middleware/cache_middleware.py) change what every client sees: a browser-style
request whose ``Origin`` names another host than the loopback ``Host`` gets a
bare 403, and *any* ``OPTIONS`` request gets an empty 200 without reaching a
handler. The catch-all error mapping stands in for aiohttp's behaviour when a
handler raises: the real server shows a plain-text 500.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

if TYPE_CHECKING:
    from sweeps.simulator.server import Simulator

__all__ = [
    "INTERNAL_ERROR_TEXT",
    "Handler",
    "cache_control",
    "error_to_500",
    "fault_gate",
    "origin_only",
    "plain_500",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INTERNAL_ERROR_TEXT = "500 Internal Server Error\n\nServer got itself in trouble"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def plain_500() -> web.Response:
    """What aiohttp answers when a handler raises: the real server's answer to bad input."""
    return web.Response(status=500, text=INTERNAL_ERROR_TEXT)


@web.middleware
async def cache_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``middleware/cache_middleware.py``: no-cache for js/css/index*.json, ages for images."""
    response = await handler(request)
    name = request.path.rsplit("/", 1)[-1]
    if request.path.endswith((".js", ".css")) or (
        name.startswith("index") and name.endswith(".json")
    ):
        response.headers.setdefault("Cache-Control", "no-cache")
    elif request.path.lower().endswith(_IMAGE_SUFFIXES):
        if response.status == 404:
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        elif response.status in (200, 201, 202, 203, 204, 205, 206, 301, 308):
            response.headers.setdefault("Cache-Control", "public, max-age=86400")
        elif response.status in (302, 303, 307):
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
    return response


async def _is_loopback(host: str | None) -> bool:
    """``server.is_loopback``: an IP literal, or a name that resolves only to loopback."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    loopback = False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            if not ipaddress.ip_address(info[4][0]).is_loopback:
                return loopback
            loopback = True
    return loopback


async def origin_refused(host: str, origin: str) -> bool:
    """True when ComfyUI's origin check answers 403 (PROTOCOL 1.1).

    Only a loopback ``Host`` is checked; a port is compared only when both
    sides carry one, and an empty side (``Origin: null``) always passes.
    """
    host_domain: str | None = host.lower()
    parsed = urllib.parse.urlparse(origin)
    origin_domain: str | None = parsed.netloc.lower()
    host_parsed = urllib.parse.urlsplit("//" + (host_domain or ""))
    origin_port, host_port = parsed.port, host_parsed.port  # a bad port raises: a 500
    loopback = await _is_loopback(host_parsed.hostname)
    if origin_port is None:
        host_domain = host_parsed.hostname
    if host_port is None:
        origin_domain = parsed.hostname
    if loopback and host_domain and origin_domain:
        return host_domain != origin_domain
    return False


@web.middleware
async def origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``create_origin_only_middleware``: cross-origin 403, and OPTIONS answered here."""
    if "Host" in request.headers and "Origin" in request.headers:
        if await origin_refused(request.headers["Host"], request.headers["Origin"]):
            return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


def fault_gate(sim: Simulator) -> Middleware:
    """Hold every request while ``sim.faults.hang_http`` is set; answer none while not listening.

    ``die()`` and ``refuse_connections()`` cut the connections aiohttp knows of, but
    one the loop was still accepting as the listener closed is not known yet: it
    would go on answering for a dead server. Its requests are cut here instead.
    """

    @web.middleware
    async def hang(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not sim.listening:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone
        await sim.faults.wait_http()
        return await handler(request)

    return hang


@web.middleware
async def error_to_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A handler crash (bad JSON, wrong types) becomes aiohttp's plain-text 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return plain_500()
