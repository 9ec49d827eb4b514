"""What the ComfyUI web frontend fetches at startup besides users and settings.

No frontend is bundled, but the JSON routes it calls must answer as a server
with no custom nodes does (``{}`` translations, no templates, no subgraphs),
and ``GET /`` answers 200 with HTML: tools poll it to see whether a server is
up. Anything else outside the API falls to the static web root (empty here),
as upstream's ``web.static('/', web_root)``: 404 for GET and HEAD, 405 otherwise.
"""

from __future__ import annotations

from aiohttp import web

from sweeps.simulator.middleware import Handler

__all__ = ["EXTENSIONS", "frontend_routes"]

EXTENSIONS = [
    "/extensions/core/groupNode.js",
    "/extensions/core/clipspace.js",
    "/extensions/core/widgetInputs.js",
    "/extensions/core/groupNodeManage.js",
]
_INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ComfyUI</title></head>
<body><p>Simulated ComfyUI 0.8.0 (comfyfleet): API only, no web frontend.</p></body>
</html>
"""


async def root(request: web.Request) -> web.Response:
    """``get_root``: index.html, never cached."""
    return web.Response(
        text=_INDEX_HTML,
        content_type="text/html",
        headers={"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"},
    )


async def extensions(request: web.Request) -> web.Response:
    return web.json_response(EXTENSIONS)


async def empty_object(request: web.Request) -> web.Response:
    """``/i18n``, ``/workflow_templates``, ``/global_subgraphs``: nothing from custom nodes."""
    return web.json_response({})


async def no_subgraph(request: web.Request) -> web.Response:
    """``/global_subgraphs/{id}`` for an unknown id: ``null`` with 200."""
    return web.json_response(None)


def frontend_routes() -> list[tuple[str, str, Handler]]:
    return [
        ("GET", "/", root),
        ("GET", "/extensions", extensions),
        ("GET", "/i18n", empty_object),
        ("GET", "/workflow_templates", empty_object),
        ("GET", "/global_subgraphs", empty_object),
        ("GET", "/global_subgraphs/{id}", no_subgraph),
    ]
