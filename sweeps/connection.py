"""One server, live: its client, its websocket listener, and the prompts waiting on it.

The listener is the only reader of the server's /ws. It hands every event to
the trackers of prompts submitted through this connection and to subscribers
(the fleet state, the dashboard). When the socket is down, waiting prompts fall
back to polling /history, so a dropped websocket never loses a finished run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .client import ComfyClient
from .config import ServerConfig
from .errors import (
    ProtocolError,
    ServerFailed,
    ServerTimeout,
    ServerUnreachable,
    TransportError,
)
from .events import Event, SocketClosed, SocketOpened
from .models import HistoryEntry, PromptQueued
from .tracking import PromptOutcome, PromptTracker

__all__ = ["GARBLED_GIVE_UP", "REFUSED_GIVE_UP", "ServerConnection"]

Subscriber = Callable[[Event], None]

REFUSED_GIVE_UP = 5.0
"""Seconds a waiting prompt's server may refuse connections, its websocket gone,
before the waiter gives up on it. A refused connection is definitive, unlike a
timeout (a busy server, a slow network): the process is gone, and a restarted
ComfyUI has forgotten its queue, so waiting longer only keeps the run from
other servers. A server back within this time is asked for the prompt again."""

log = logging.getLogger(__name__)


GARBLED_GIVE_UP = 3
"""Answers in a row to /history that are not ComfyUI's (non-JSON, a wrong shape)
after which waiting raises the :class:`ProtocolError`, so the run fails or moves."""


class ServerConnection:
    """A :class:`ComfyClient` plus the listener that routes its events.

    Run :meth:`listen` in a task group; submit with :meth:`run_prompt` from any
    task of the same loop.

    ``safety_poll`` bounds how long a prompt may wait on events alone: after
    that, /history is asked directly, in case a frame was lost. When neither
    the socket nor HTTP has answered for ``give_up_after`` seconds, waiting
    raises :class:`ServerUnreachable` so the caller can retry elsewhere; when
    the socket is down and every HTTP request is refused outright, after only
    ``give_up_refused`` seconds (:data:`REFUSED_GIVE_UP`).

    :attr:`down_since` says since when the server has been unreachable (its
    websocket dropped and will not reopen, or HTTP is refused); :meth:`watch_down`
    reports each change.
    """

    def __init__(
        self,
        server: ServerConfig | str,
        *,
        client: ComfyClient | None = None,
        poll_interval: float = 1.0,
        safety_poll: float = 30.0,
        give_up_after: float = 60.0,
        give_up_refused: float = REFUSED_GIVE_UP,
    ) -> None:
        self.client = client or ComfyClient(server)
        self.server = self.client.server
        self.poll_interval = poll_interval
        self.safety_poll = safety_poll
        self.give_up_after = give_up_after
        self.give_up_refused = give_up_refused
        self.heard_at = time.monotonic()
        """Monotonic time the server last showed it is working: an event about a
        prompt, the socket opening, or an HTTP answer to a waiter. A frozen server
        keeps its socket open, and a hung one may still send status or monitor
        frames; neither answers HTTP nor runs prompts."""
        self.down_since: float | None = None
        """Monotonic time (``time.monotonic()``) since which the server has been
        unreachable, or None while it answers."""
        self._down_watchers: list[Callable[[float | None], None]] = []
        self.connected = asyncio.Event()
        self._socket_known = asyncio.Event()
        """Set once the socket is open or an attempt to open it failed: a submission
        need not wait for a socket that cannot open (a server or proxy without /ws)."""
        self._trackers: dict[str, tuple[PromptTracker, asyncio.Event]] = {}
        self._subscribers: list[Subscriber] = []
        self._foreign: set[str] = set()
        """Prompts whose events will not reach us: waited for by polling /history."""
        self._client_ids: dict[str, str] = {}
        """The clientId each tracked prompt was queued under."""
        self._socket_missing = False
        """True once a submission gave up waiting for the socket, until it opens."""
        self._openings = 0
        """How many times the socket has opened: a waiter that sees it change knows
        events may have been missed, or the server may have restarted."""

    @property
    def url(self) -> str:
        return self.server.url

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def watch_down(self, callback: Callable[[float | None], None]) -> Callable[[], None]:
        """Call ``callback`` with :attr:`down_since` whenever the server goes down or
        comes back; returns a function that stops the calls."""
        self._down_watchers.append(callback)
        return lambda: self._down_watchers.remove(callback)

    def _set_down(self, down: bool) -> None:
        if down == (self.down_since is not None):
            return
        self.down_since = time.monotonic() if down else None
        if down:
            log.warning("%s is down; its runs move elsewhere if it stays down", self.url)
        else:
            log.info("%s is back", self.url)
        for callback in tuple(self._down_watchers):
            callback(self.down_since)

    async def listen(self) -> None:
        """Read /ws until cancelled, reconnecting as needed."""
        async for event in self.client.events():
            if isinstance(event, SocketOpened) or getattr(event, "prompt_id", None):
                self.heard_at = time.monotonic()
            if isinstance(event, SocketOpened):
                self.connected.set()
                self._socket_known.set()
                self._socket_missing = False
                self._openings += 1
                self._set_down(False)
                # Prompts queued under a clientId we no longer hold (it changed after
                # an unclean close) send their events nowhere: poll for those.
                for prompt_id, client_id in self._client_ids.items():
                    if client_id != self.client.client_id:
                        self._foreign.add(prompt_id)
                # Whatever finished while the socket was down sent its events nowhere:
                # every waiter asks /history once now.
                for tracker, wake in self._trackers.values():
                    tracker.missed = True
                    wake.set()
            elif isinstance(event, SocketClosed):
                if self.connected.is_set():
                    self._socket_known.clear()  # dropped: wait for the reconnect
                else:
                    self._socket_known.set()  # it did not open: poll meanwhile
                    if self._openings:
                        # A socket that was open will not reopen: the server is down
                        # (a server without /ws never had one, and is not).
                        self._set_down(True)
                self.connected.clear()
                for tracker, wake in self._trackers.values():
                    tracker.missed = True
                    wake.set()  # waiters switch to polling
            self._route(event)

    def _route(self, event: Event) -> None:
        prompt_id = getattr(event, "prompt_id", None)
        entry = self._trackers.get(prompt_id) if prompt_id else None
        if entry is not None:
            tracker, wake = entry
            verdict = tracker.status
            if tracker.feed(event) or tracker.status != verdict:
                wake.set()
        for callback in tuple(self._subscribers):
            callback(event)

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        connect_timeout: float = 10.0,
        front: bool = False,
        extra_data: Mapping[str, Any] | None = None,
        partial_execution_targets: Sequence[str] | None = None,
        prompt_id: str | None = None,
    ) -> tuple[PromptQueued, PromptTracker]:
        """Queue a prompt with a tracker registered before the server can answer.

        Waits briefly for the websocket, since events for a client id with no
        socket are dropped by the server; when it is down, or never opens (a
        proxy without websockets), the prompt is tracked by polling /history.
        Pass ``prompt_id`` to choose the id (to journal it before the server
        knows it).
        """
        if not self.connected.is_set() and not self._socket_missing:
            try:
                async with asyncio.timeout(connect_timeout):
                    await self._socket_known.wait()
            except TimeoutError:
                # Say so once, not per prompt: until the socket opens, poll.
                self._socket_missing = True
        prompt_id = prompt_id or str(uuid.uuid4())
        tracker = PromptTracker(prompt_id, server=self.url, prompt=prompt)
        tracker.missed = not self.connected.is_set()
        self._trackers[prompt_id] = (tracker, asyncio.Event())
        self._client_ids[prompt_id] = self.client.client_id
        silence = self.server.timeouts.silence
        try:
            # A frozen server accepts the request and never answers: give up on it as
            # a waiter does, after the silence, not after the longer read timeout.
            async with asyncio.timeout(silence):
                queued = await self.client.queue_prompt(
                    prompt,
                    prompt_id=prompt_id,
                    front=front,
                    extra_data=extra_data,
                    partial_execution_targets=partial_execution_targets,
                )
        except TimeoutError as exc:
            self._trackers.pop(prompt_id, None)
            self._client_ids.pop(prompt_id, None)
            raise ServerTimeout(
                f"POST /prompt on {self.url} got no answer within {silence:g}s "
                "(timeouts.silence); is it frozen?",
                server=self.url,
            ) from exc
        except BaseException as exc:
            self._trackers.pop(prompt_id, None)
            self._client_ids.pop(prompt_id, None)
            if isinstance(exc, ServerUnreachable) and not self.connected.is_set():
                self._set_down(True)
            raise
        self._set_down(False)
        if queued.prompt_id != prompt_id:
            # A server older than the prompt_id field chose its own id: follow that
            # one, by polling, since its first events may have gone by unrecognised.
            tracker = PromptTracker(queued.prompt_id, server=self.url, prompt=prompt)
            tracker.missed = True
            self._trackers[queued.prompt_id] = (tracker, self._trackers.pop(prompt_id)[1])
            self._client_ids[queued.prompt_id] = self._client_ids.pop(prompt_id)
            self._foreign.add(queued.prompt_id)
        return queued, tracker

    def track(self, prompt_id: str) -> PromptTracker:
        """Follow a prompt someone else queued (an earlier run of this sweep, say).

        Its events go to the client that queued it, so :meth:`wait` polls
        /history for it at ``poll_interval`` rather than waiting on the socket.
        """
        tracker = PromptTracker(prompt_id, server=self.url)
        tracker.missed = True
        self._trackers[prompt_id] = (tracker, asyncio.Event())
        self._foreign.add(prompt_id)
        return tracker

    def wake(self, prompt_id: str) -> None:
        """Make the waiter of ``prompt_id`` look at its tracker now."""
        entry = self._trackers.get(prompt_id)
        if entry is not None:
            entry[1].set()

    async def wait(self, tracker: PromptTracker) -> PromptOutcome:
        """Wait until the prompt is over and return its outcome, reconciled with /history
        unless the socket alone carried the whole of a success (:attr:`PromptTracker.whole`).

        While the socket is open but silent for ``timeouts.silence / 2``, /history
        is asked (each question bounded by ``timeouts.probe``): a server that then
        stays silent on both for ``timeouts.silence`` is frozen, and waiting raises
        :class:`ServerUnreachable` so the run moves elsewhere.
        """
        _, wake = self._trackers[tracker.prompt_id]
        loop = asyncio.get_running_loop()
        silence = self.server.timeouts.silence
        silent_since: float | None = None
        refused_since: float | None = None
        openings, last_check = self._openings, loop.time()
        last_asked = loop.time()
        garbled, unanswered = 0, False
        try:
            while True:
                # Once the verdict is in, ``executing null`` should follow at once; a
                # server that does not send it (newer ones may not) is polled instead.
                listening = (
                    self.connected.is_set()
                    and tracker.prompt_id not in self._foreign
                    and tracker.status is None
                )
                timeout = min(self.safety_poll, silence / 2) if listening else self.poll_interval
                if listening and unanswered:
                    # Time the next probe to end as the silence does: give up then.
                    probe = self.server.timeouts.probe
                    timeout = max(0.0, self.heard_at + silence - probe - time.monotonic())
                woken = False
                try:
                    async with asyncio.timeout(timeout):
                        woken = await wake.wait()
                except TimeoutError:
                    pass
                wake.clear()
                if tracker.whole:
                    return tracker.outcome()
                if tracker.done:
                    history = await self._history(tracker.prompt_id, attempts=3)
                    return tracker.outcome(history)
                quiet = time.monotonic() - self.heard_at
                if listening and not woken and quiet < timeout:
                    if loop.time() - last_asked < self.safety_poll:
                        continue  # the server is talking: its events will come
                last_asked = loop.time()
                try:
                    history = await self._ask_history(tracker.prompt_id)
                except ProtocolError:
                    # An answer, but not ComfyUI's (a proxy's error page): once may be a
                    # hiccup; again and again, this server cannot tell us the outcome.
                    garbled += 1
                    if garbled >= GARBLED_GIVE_UP:
                        raise
                    continue
                except (TransportError, ServerFailed) as exc:
                    unanswered = True
                    if self.connected.is_set():
                        if time.monotonic() - self.heard_at >= silence:
                            raise ServerUnreachable(
                                f"{self.url} has said nothing for {silence:g}s while prompt "
                                f"{tracker.prompt_id} was pending: its websocket open but "
                                f"silent, and HTTP not answering ({exc}); is it frozen?",
                                server=self.url,
                            ) from exc
                        continue
                    now = loop.time()
                    silent_since = silent_since or now
                    # Refused (or reset) rather than timed out: nothing is listening.
                    refused = isinstance(exc, ServerUnreachable)
                    refused_since = (refused_since or now) if refused else None
                    if refused:
                        self._set_down(True)
                    if refused_since is not None and now - refused_since > self.give_up_refused:
                        raise ServerUnreachable(
                            f"{self.url} has refused connections for {self.give_up_refused:g}s "
                            f"while prompt {tracker.prompt_id} was pending: {exc}",
                            server=self.url,
                        ) from exc
                    if now - silent_since > self.give_up_after:
                        raise ServerUnreachable(
                            f"{self.url} has not answered for {self.give_up_after:g}s while "
                            f"prompt {tracker.prompt_id} was pending: {exc}",
                            server=self.url,
                        ) from exc
                    continue
                silent_since = refused_since = None
                garbled, unanswered = 0, False
                self._set_down(False)
                if history is not None:
                    return tracker.outcome(history)
                if openings != self._openings or loop.time() - last_check >= self.safety_poll:
                    openings, last_check = self._openings, loop.time()
                    await self._raise_if_lost(tracker)
        finally:
            self._trackers.pop(tracker.prompt_id, None)
            self._foreign.discard(tracker.prompt_id)
            self._client_ids.pop(tracker.prompt_id, None)

    async def _ask_history(self, prompt_id: str) -> HistoryEntry | None:
        """GET /history/ID within ``timeouts.probe``; an answer shows the server is working."""
        probe = self.server.timeouts.probe
        try:
            async with asyncio.timeout(probe):
                entry = await self.client.get_history_entry(prompt_id)
        except TimeoutError as exc:
            raise ServerTimeout(
                f"GET /history/{prompt_id} on {self.url} got no answer within {probe:g}s "
                "(timeouts.probe)",
                server=self.url,
            ) from exc
        self.heard_at = time.monotonic()
        return entry

    async def _raise_if_lost(self, tracker: PromptTracker) -> None:
        """Raise :class:`ServerUnreachable` if the server no longer knows the prompt.

        ComfyUI keeps its queue and history in memory (PROTOCOL 6.12): after a
        restart, or a queue cleared by someone else, a prompt is in neither and
        would be waited for forever. Queue first, then history again, because a
        prompt leaves the queue only once its history entry is written.
        """
        if tracker.done:
            return
        try:
            queue = await self.client.get_queue()
            if any(i.prompt_id == tracker.prompt_id for i in queue.running + queue.pending):
                return
            if await self.client.get_history_entry(tracker.prompt_id) is not None:
                self.wake(tracker.prompt_id)
                return
        except (TransportError, ServerFailed, ProtocolError):
            return  # no answer is no news: the next check asks again
        if tracker.done:
            return
        raise ServerUnreachable(
            f"{self.url} no longer knows prompt {tracker.prompt_id}: it is neither queued, "
            "running nor in its history (the server restarted, or the prompt was deleted "
            "from its queue)",
            server=self.url,
        )

    async def _history(self, prompt_id: str, *, attempts: int) -> HistoryEntry | None:
        for attempt in range(attempts):
            try:
                entry = await self._ask_history(prompt_id)
            except (TransportError, ServerFailed, ProtocolError):
                entry = None
            if entry is not None:
                return entry
            if attempt + 1 < attempts:
                await asyncio.sleep(self.poll_interval / 4)
        return None

    async def run_prompt(self, prompt: Mapping[str, Any], **kwargs: Any) -> PromptOutcome:
        """Submit ``prompt`` and wait for its outcome."""
        _, tracker = await self.submit(prompt, **kwargs)
        return await self.wait(tracker)

    def tracked(self) -> list[str]:
        """Prompt ids submitted here and not finished yet."""
        return list(self._trackers)
