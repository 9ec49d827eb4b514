"""Watch a fleet live: one websocket listener and two pollers per server, one TaskGroup.

:class:`FleetMonitor` is the engine behind ``comfyfleet watch``. It owns a
:class:`~sweeps.connection.ServerConnection` per server, folds every event and
poll into :mod:`sweeps.state` snapshots, and marks the server dirty. A consumer
calls :meth:`FleetMonitor.drain` at its own pace (the dashboard does ~10 times a
second) and gets one :class:`~sweeps.state.FleetSnapshot` for everything that
changed since, so 32 servers sending progress at 20 Hz cost a handful of
redraws per second, not 640.

Per server:

* the websocket listener (``ServerConnection.listen``), reconnecting forever;
* ``GET /system_stats`` every ``poll_interval`` seconds;
* ``GET /queue`` when the queue changes (``status`` events and prompt starts and
  ends), debounced so a burst of events costs one request.

Everything runs inside :meth:`FleetMonitor.run`'s TaskGroup; cancelling it (or
:meth:`FleetMonitor.stop`) closes every socket and HTTP client. Servers can be
added and removed while it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from .client import ComfyClient
from .config import ServerConfig
from .connection import ServerConnection
from .errors import FleetError, ServerError, first_error
from .events import Event, Executing, ExecutionStart, SocketClosed, SocketOpened, Status
from .models import HistoryEntry
from .state import (
    FleetSnapshot,
    ServerSnapshot,
    apply_action_error,
    apply_event,
    apply_note,
    apply_poll_error,
    apply_queue,
    apply_stats,
    new_server,
)

__all__ = ["FleetMonitor", "ServerFacts"]

Clock = Callable[[], float]

_QUEUE_TRIGGERS = (Status, SocketOpened, ExecutionStart, Executing)


@dataclass(frozen=True)
class ServerFacts:
    """Slow-changing facts for the in-depth view, fetched on demand."""

    extensions: tuple[str, ...]
    embeddings: int
    models: tuple[tuple[str, int], ...]
    """(folder, file count), for folders that hold any files."""


@dataclass(eq=False)
class _Server:
    config: ServerConfig
    connection: ServerConnection
    owned: bool
    """False when the connection belongs to someone else (a sweep): we only watch it."""
    queue_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class FleetMonitor:
    """The live state of many servers, updated from their events and polls.

    >>> monitor = FleetMonitor([ServerConfig("gpu1:8188")])  # doctest: +SKIP
    >>> async with asyncio.TaskGroup() as tg:  # doctest: +SKIP
    ...     tg.create_task(monitor.run())
    ...     while True:
    ...         await monitor.wait_changed()
    ...         show(monitor.drain())

    ``clock`` gives the timestamps folded into snapshots (tests freeze it).
    ``on_change`` is called, on the loop, when the first change after a drain
    arrives: a consumer that prefers a wake-up to polling ``drain`` uses it.
    """

    def __init__(
        self,
        servers: Iterable[ServerConfig] = (),
        *,
        poll_interval: float = 2.0,
        queue_debounce: float = 0.1,
        clock: Clock = time.time,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.queue_debounce = queue_debounce
        self.restart_delay = 1.0
        """Seconds before a crashed listener is started again."""
        self.on_change = on_change
        self._clock = clock
        self._servers: dict[str, _Server] = {}
        self._snapshots: dict[str, ServerSnapshot] = {}
        self._dirty: set[str] = set()
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        for server in servers:
            self.add_server(server)

    # -- membership -------------------------------------------------------

    @property
    def servers(self) -> list[ServerConfig]:
        return [s.config for s in self._servers.values()]

    @property
    def running(self) -> bool:
        return self._tg is not None

    def add_server(
        self, config: ServerConfig, *, connection: ServerConnection | None = None
    ) -> bool:
        """Start watching ``config``; False if its URL is already watched.

        Pass ``connection`` to watch a connection someone else listens on (the
        sweep engine's): its events are then shared, and it is not closed here.
        """
        if config.url in self._servers:
            return False
        owned = connection is None
        conn = connection or ServerConnection(config)
        server = _Server(config, conn, owned)
        self._servers[config.url] = server
        self._snapshots[config.url] = new_server(config.url, config.name, self._clock())
        self._mark(config.url)
        if self._tg is not None:
            self._spawn(server)
        return True

    def remove_server(self, url: str) -> bool:
        """Stop watching ``url`` (its socket closes); False if it was not watched."""
        server = self._servers.pop(url, None)
        if server is None:
            return False
        self._snapshots.pop(url, None)
        if server.task is not None:
            server.task.cancel()
        self._mark(url)
        return True

    def connection(self, url: str) -> ServerConnection:
        """The connection to ``url``; ``KeyError`` if it is not watched."""
        return self._servers[url].connection

    # -- the loop ---------------------------------------------------------

    async def run(self) -> None:
        """Watch every server until cancelled or :meth:`stop` is called."""
        if self._tg is not None:
            raise RuntimeError("FleetMonitor.run() is already running")
        self._stop.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for server in self._servers.values():
                    self._spawn(server)
                await self._stop.wait()
                for server in self._servers.values():
                    if server.task is not None:
                        server.task.cancel()
        finally:
            self._tg = None

    def stop(self) -> None:
        """Make :meth:`run` close everything and return."""
        self._stop.set()

    def _spawn(self, server: _Server) -> None:
        assert self._tg is not None
        server.task = self._tg.create_task(self._serve(server), name=f"monitor {server.config.url}")

    async def _serve(self, server: _Server) -> None:
        conn = server.connection
        unsubscribe = conn.subscribe(partial(self._on_event, server.config.url))
        if not server.owned and conn.connected.is_set():
            self._on_event(server.config.url, SocketOpened(None, server=conn.url))
        server.queue_wanted.set()
        try:
            async with asyncio.TaskGroup() as tg:
                if server.owned:
                    tg.create_task(self._listen(server))
                tg.create_task(self._supervise(server, "stats poll", self._poll_stats))
                tg.create_task(self._supervise(server, "queue poll", self._poll_queue))
        finally:
            unsubscribe()
            if server.owned:
                await conn.client.aclose()

    async def _listen(self, server: _Server) -> None:
        """Keep the server's listener running, whatever it raises.

        This and :meth:`_supervise` are the places that catch ``Exception``: the
        supervisor boundary of one server. A listener that dies of an error the
        client failed to wrap (a bug, or a server answering nonsense) must not
        cancel the TaskGroup and with it every other server's watch; the error
        is shown on the card instead, and the listener restarts after a pause.
        """
        url = server.config.url
        while True:
            try:
                await server.connection.listen()
            except Exception as exc:  # noqa: BLE001 - supervisor boundary, see docstring
                reason = f"listener failed: {type(exc).__name__}: {exc}"
                self._on_event(url, SocketClosed(reason, retry_in=self.restart_delay, server=url))
            await asyncio.sleep(self.restart_delay)

    async def _supervise(
        self, server: _Server, what: str, poll: Callable[[_Server], Awaitable[None]]
    ) -> None:
        """Keep one of a server's polls running, as :meth:`_listen` keeps its listener."""
        while True:
            try:
                await poll(server)
            except Exception as exc:  # noqa: BLE001 - supervisor boundary, see _listen
                message = f"{what} failed: {type(exc).__name__}: {exc}"
                self._update(server.config.url, apply_poll_error, message)
            await asyncio.sleep(self.restart_delay)

    def _on_event(self, url: str, event: Event) -> None:
        before = self._snapshots.get(url)
        if before is None:
            return
        after = apply_event(before, event, self._clock())
        if after is not before:
            self._snapshots[url] = after
            self._mark(url)
        if isinstance(event, _QUEUE_TRIGGERS) and not (
            isinstance(event, Executing) and event.node is not None
        ):
            server = self._servers.get(url)
            if server is not None:
                server.queue_wanted.set()

    async def _poll_stats(self, server: _Server) -> None:
        url = server.config.url
        while True:
            try:
                stats = await server.connection.client.system_stats()
            except ServerError as exc:
                self._update(url, apply_poll_error, str(exc))
            else:
                self._update(url, apply_stats, stats)
            await asyncio.sleep(self.poll_interval)

    async def _poll_queue(self, server: _Server) -> None:
        url = server.config.url
        while True:
            await server.queue_wanted.wait()
            await asyncio.sleep(self.queue_debounce)
            server.queue_wanted.clear()
            try:
                queue = await server.connection.client.get_queue()
            except ServerError as exc:
                self._update(url, apply_poll_error, str(exc))
            else:
                self._update(url, apply_queue, queue)

    def _update(self, url: str, fold: Callable[..., ServerSnapshot], *args: object) -> None:
        """``fold(snapshot, *args, now)``: one of the :mod:`sweeps.state` functions."""
        before = self._snapshots.get(url)
        if before is not None:
            self._snapshots[url] = fold(before, *args, self._clock())
            self._mark(url)

    def _mark(self, url: str) -> None:
        first = not self._dirty
        self._dirty.add(url)
        self._changed.set()
        if first and self.on_change is not None:
            self.on_change()

    # -- reading ----------------------------------------------------------

    def snapshot(self, url: str) -> ServerSnapshot:
        return self._snapshots[url]

    def fleet(self) -> FleetSnapshot:
        """Every server now, without touching the dirty set."""
        return FleetSnapshot(tuple(self._snapshots.values()), frozenset())

    def drain(self) -> FleetSnapshot | None:
        """Everything, and which servers changed since the last drain; None if nothing did."""
        if not self._dirty:
            return None
        changed = frozenset(self._dirty)
        self._dirty.clear()
        self._changed.clear()
        return FleetSnapshot(tuple(self._snapshots.values()), changed)

    async def wait_changed(self) -> None:
        """Return once something changed since the last :meth:`drain`."""
        await self._changed.wait()

    def feed(self, url: str, event: Event) -> None:
        """Fold an event as if ``url``'s socket had sent it (replays, tests, demos)."""
        self._on_event(url, event)

    def fold(self, url: str, fold: Callable[..., ServerSnapshot], *args: object) -> None:
        """``fold(snapshot, *args, now)`` on one server (replays, tests, demos)."""
        self._update(url, fold, *args)

    # -- actions ----------------------------------------------------------

    async def _act(self, url: str, what: str, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except FleetError as exc:
            self._update(url, apply_action_error, f"{what} failed: {exc}")
            raise
        self._update(url, apply_note, what)
        server = self._servers.get(url)
        if server is not None:
            server.queue_wanted.set()

    async def interrupt(self, url: str, prompt_id: str | None = None) -> None:
        """Interrupt the running prompt (only ``prompt_id``, if given: a cancel, which
        cannot hit a prompt that started after it)."""
        client = self.connection(url).client
        if prompt_id is None:
            await self._act(url, "interrupt", client.interrupt)
            return
        await self._act(url, f"interrupt {prompt_id[:8]}", partial(self._cancel, client, prompt_id))

    async def delete_pending(self, url: str, prompt_ids: Sequence[str]) -> None:
        """Remove pending prompts, or cancel them if they started meanwhile."""
        client = self.connection(url).client
        what = f"deleted {len(prompt_ids)} pending prompt(s)"
        await self._act(url, what, partial(self._cancel, client, *prompt_ids))

    @staticmethod
    async def _cancel(client: ComfyClient, *prompt_ids: str) -> None:
        await client.cancel(prompt_ids)

    async def clear_queue(self, url: str) -> None:
        """Remove every pending prompt (the running one is left alone)."""
        client = self.connection(url).client
        await self._act(url, "cleared the queue", client.clear_queue)

    async def free_memory(self, url: str, *, drop_cache: bool = False) -> None:
        """Unload models; with ``drop_cache`` also discard cached node outputs."""
        client = self.connection(url).client
        what = "unloaded models" + (" and dropped the node cache" if drop_cache else "")
        await self._act(url, what, partial(client.free, unload_models=True, free_memory=drop_cache))

    async def history(self, url: str, max_items: int = 50) -> list[HistoryEntry]:
        """The server's most recent finished prompts, newest first."""
        entries = await self.connection(url).client.get_history(max_items=max_items)
        return entries[::-1]

    async def facts(self, url: str) -> ServerFacts:
        """Extensions, embeddings and model counts, asked concurrently."""
        client = self.connection(url).client
        try:
            async with asyncio.TaskGroup() as tg:
                extensions = tg.create_task(client.extensions())
                embeddings = tg.create_task(client.embeddings())
                folders = tg.create_task(client.model_folders())
            counts: dict[str, asyncio.Task[list[str]]] = {}
            async with asyncio.TaskGroup() as tg:
                for folder in folders.result():
                    counts[folder] = tg.create_task(_models_or_none(client, folder))
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        models = tuple((f, len(t.result())) for f, t in sorted(counts.items()) if t.result())
        return ServerFacts(tuple(extensions.result()), len(embeddings.result()), models)


async def _models_or_none(client: ComfyClient, folder: str) -> list[str]:
    try:
        return await client.models(folder)
    except ServerError:
        return []
