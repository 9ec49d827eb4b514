"""The ``/internal`` sub-application and the server log it exposes.

Upstream mounts these routes with ``app.add_subapp('/internal', ...)``, so they
have no ``/api`` twin (``/api/internal/logs`` is a 404). The frontend reads
``/internal/logs/raw`` for its terminal panel and subscribes to websocket
``logs`` events through ``PATCH /internal/logs/subscribe``; the log here holds
the lines the simulator "prints" (``got prompt``, ...), timestamped as
``app/logger.py`` does.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sweeps.simulator.sockets import SocketHub

if TYPE_CHECKING:
    from sweeps.simulator.server import Simulator

__all__ = ["ServerLog", "internal_app"]

_TERMINAL_SIZE = {"cols": 80, "rows": 24}
"""``TerminalService.get_terminal_size``'s fallback when there is no terminal."""


class ServerLog:
    """The log ring of ``app/logger.py`` plus ``TerminalService``'s subscribers."""

    def __init__(self, hub: SocketHub, max_entries: int = 300) -> None:
        self.hub = hub
        self.max_entries = max_entries
        self.entries: list[dict[str, str]] = []
        self.subscribers: set[str] = set()
        self._size_sent = False

    def write(self, line: str) -> None:
        """Record one line and push it to subscribed sockets as a ``logs`` event."""
        entry = {"t": datetime.datetime.now().isoformat(), "m": line + "\n"}
        self.entries = [*self.entries, entry][-self.max_entries :]
        for sid in sorted(self.subscribers):
            if sid not in self.hub.sockets:
                self.subscribers.discard(sid)  # upstream unsubscribes departed clients
                continue
            self.hub.send("logs", {"entries": [entry], "size": self.update_size()}, sid)

    def update_size(self) -> dict[str, int] | None:
        """The terminal size the first time, then None while it is unchanged (upstream)."""
        if self._size_sent:
            return None
        self._size_sent = True
        return dict(_TERMINAL_SIZE)


def internal_app(sim: Simulator) -> web.Application:
    """The ``/internal`` sub-application (api_server/routes/internal/internal_routes.py).

    Handlers read ``sim.log`` at call time: a simulated restart replaces it.
    """

    async def get_logs(request: web.Request) -> web.Response:
        return web.json_response("".join(e["t"] + " - " + e["m"] for e in sim.log.entries))

    async def get_raw_logs(request: web.Request) -> web.Response:
        sim.log.update_size()
        return web.json_response({"entries": list(sim.log.entries), "size": dict(_TERMINAL_SIZE)})

    async def subscribe_logs(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        client_id, enabled = body["clientId"], body["enabled"]
        if enabled:
            sim.log.subscribers.add(client_id)
        else:
            sim.log.subscribers.discard(client_id)
        return web.Response(status=200)

    async def get_folder_paths(request: web.Request) -> web.Response:
        return web.json_response({k: list(v) for k, v in sim.models.folder_paths().items()})

    async def get_files(request: web.Request) -> web.Response:
        directory_type = request.match_info["directory_type"]
        if directory_type not in ("output", "input", "temp"):
            return web.json_response({"error": "Invalid directory type"}, status=400)
        directory: Path = sim.files.directory(directory_type)
        entries = [e for e in os.scandir(directory) if e.is_file() and not e.name.startswith(".")]
        entries.sort(key=lambda e: -e.stat().st_mtime)
        return web.json_response([e.name for e in entries], status=200)

    app = web.Application()
    app.router.add_get("/logs", get_logs)
    app.router.add_get("/logs/raw", get_raw_logs)
    app.router.add_patch("/logs/subscribe", subscribe_logs)
    app.router.add_get("/folder_paths", get_folder_paths)
    app.router.add_get("/files/{directory_type}", get_files)
    return app
