"""The command palette: every dashboard action, named for the server it acts on.

On the fleet screen each server gets its own commands ("Interrupt gpu1"); on a
server's screen only that server's are offered. Each command calls the same
``action_*`` method as the key binding, so both paths behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import FleetApp

__all__ = ["FleetCommands"]

Command = tuple[str, Callable[[], object], str]


class FleetCommands(Provider):
    """Server actions (open, interrupt, clear, free, add, remove), sweeps, monitor restart."""

    def _commands(self) -> Iterator[Command]:
        from .screens.server import ServerScreen

        app = cast("FleetApp", self.app)
        screen = self.screen
        if isinstance(screen, ServerScreen):
            urls = [screen.url]
            yield (
                "Delete selected pending prompts",
                screen.action_delete_pending,
                "Remove the marked prompts from this server's queue",
            )
            yield ("Back to the fleet", screen.action_back, "Every server at a glance")
        else:
            urls = [s.url for s in app.fleet.servers]
        yield ("Add server", app.action_add_server, "Watch another ComfyUI server")
        yield ("Run a sweep…", app.action_run_sweep, "Run a sweep spec on the watched servers")
        if app.engine_error is not None:
            yield (
                "Restart the fleet monitor",
                app.action_restart_engine,
                f"It stopped: {app.engine_error}",
            )
        for url in urls:
            name = app.server_name(url)
            if not isinstance(screen, ServerScreen):
                yield (f"Open {name}", partial(app.action_open_server, url), f"{url} in depth")
            yield (
                f"Interrupt {name}",
                partial(app.action_interrupt, url),
                "Stop the running prompt",
            )
            yield (
                f"Clear queue of {name}",
                partial(app.action_clear_queue, url),
                "Remove every pending prompt",
            )
            yield (
                f"Free memory on {name}",
                partial(app.action_free_memory, url),
                "Unload models (POST /free)",
            )
            yield (
                f"Remove {name}",
                partial(app.action_remove_server, url),
                "Stop watching this server",
            )

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
