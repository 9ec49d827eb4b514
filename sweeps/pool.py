"""The runs of a sweep not yet taken: fed lazily from the grid, handed to servers.

Which run a free server takes next is decided here: retries first (never back
to a server that failed them while another could take them), then the server's
share of a :class:`~sweeps.placement.Placement` when the sweep was planned, else,
within a window of upcoming runs, one that loads the same models as the server's last.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .identity import RunLike
    from .placement import Placement

__all__ = ["LOOKAHEAD", "Pool"]

LOOKAHEAD = 64
"""How far past the next run a server looks for one that keeps its model loaded."""


class Pool:
    """Runs not yet taken, and runs handed back for another server.

    The grid is consumed lazily, so a million-run sweep never sits in memory:
    only a window of upcoming runs is held, in which each server prefers a run
    with the same ``affinity`` key (its loaders' inputs) as its previous one, so
    it keeps its checkpoint loaded instead of swapping it at every run.
    """

    def __init__(
        self,
        runs: Iterable[RunLike],
        servers: Sequence[str],
        affinity: Callable[[RunLike], Hashable] | None = None,
        *,
        placement: Placement | None = None,
        available: Callable[[str], bool] = lambda url: True,
    ) -> None:
        self.servers = list(servers)
        self.placement = placement
        self._available = available
        self._fresh: Iterator[RunLike] = iter(runs)
        self._ahead: deque[RunLike] = deque()
        self._back: deque[tuple[RunLike, int, frozenset[str]]] = deque()
        self._exhausted = False
        self._affinity = affinity
        self._last_key: dict[str, Hashable] = {}
        self.in_flight = 0
        self.changed = asyncio.Condition()

    def _take(
        self, server: str, eligible: Callable[[RunLike, str], bool]
    ) -> tuple[RunLike, int, frozenset[str]] | None:
        for i, item in enumerate(self._back):
            run, _, tried = item
            if server not in tried and eligible(run, server):
                del self._back[i]
                return item
        for i, item in enumerate(self._back):
            run, _, tried = item
            # A run that failed here goes back here only once every server that
            # could take it has failed it too: one dead server must not burn a
            # run's attempts while healthy ones are busy.
            if eligible(run, server) and all(
                s in tried or not eligible(run, s) for s in self.servers
            ):
                del self._back[i]
                return item
        if self.placement is not None:
            placed = self.placement.take(
                server, available=self._available, idle=self.in_flight == 0
            )
            return None if placed is None else (placed, 0, frozenset())
        index = self._choose(server, eligible)
        if index is None:
            return None
        run = self._ahead[index]
        del self._ahead[index]
        if self._affinity is not None:
            self._last_key[server] = self._affinity(run)
        return run, 0, frozenset()

    def _choose(self, server: str, eligible: Callable[[RunLike, str], bool]) -> int | None:
        """Index in the window of the run ``server`` should take next.

        The first eligible run with the server's previous key, else the first
        eligible run (so nothing waits longer than the window). The window grows
        past its size only while it holds nothing this server may take.
        """
        wanted = self._last_key.get(server) if self._affinity is not None else None
        first: int | None = None
        i = 0
        while True:
            if i == len(self._ahead):
                if self._exhausted or (first is not None and i >= LOOKAHEAD):
                    return first
                fresh = next(self._fresh, None)
                if fresh is None:
                    self._exhausted = True
                    return first
                self._ahead.append(fresh)
            run = self._ahead[i]
            if eligible(run, server):
                if self._affinity is None or wanted is None or self._affinity(run) == wanted:
                    return i
                if first is None:
                    first = i
            i += 1

    async def take(
        self,
        server: str,
        eligible: Callable[[RunLike, str], bool],
        stopping: asyncio.Event,
        steal: Callable[[str], Awaitable[RunLike | None]] | None = None,
    ) -> tuple[RunLike, int, frozenset[str]] | None:
        """The next run for ``server``; None when there is nothing left for it.

        With nothing to take, ``steal(server)`` may withdraw a run queued on a
        slower server for this one (asked once per change, without the lock:
        it talks to servers).
        """
        async with self.changed:
            asked = False
            while not stopping.is_set():
                item = self._take(server, eligible)
                if item is not None:
                    self.in_flight += 1
                    return item
                if self.in_flight == 0 and self._nothing_left():
                    self.changed.notify_all()  # for wait_drained: the grid may just have ended
                    return None  # nothing queued and nothing that could come back
                if steal is not None and not asked and self.in_flight:
                    asked = True
                    self.changed.release()
                    try:
                        stolen = await steal(server)
                    finally:
                        await self.changed.acquire()
                    if stolen is not None:
                        # The server it came from settles its own take when it sees
                        # the prompt withdrawn; this take is a new one.
                        self.in_flight += 1
                        return stolen, 0, frozenset()
                    continue
                await self.changed.wait()
                asked = False
            return None

    async def wait_drained(self) -> None:
        """Until no run is left to take and none can come back."""
        async with self.changed:
            await self.changed.wait_for(self._drained)

    def _drained(self) -> bool:
        return self.in_flight == 0 and self._nothing_left()

    def _nothing_left(self) -> bool:
        """No run is waiting for some server (this one may not be able to take them)."""
        if self.placement is not None:
            return not self._back and not self.placement
        return self._exhausted and not self._back and not self._ahead

    def planned(self, running: Mapping[str, int]) -> dict[str, float]:
        """Seconds each server still needs by the placement; empty when the sweep was
        not placed or its costs are not known yet."""
        if self.placement is None or not self.placement.calibrated:
            return {}
        return self.placement.makespans(running)

    async def replan(self) -> None:
        """Share the runs not yet taken again (costs or speeds changed)."""
        if self.placement is not None:
            async with self.changed:
                self.placement.replan()
                self.changed.notify_all()

    async def give_back(self, run: RunLike, attempts: int, tried: frozenset[str]) -> None:
        async with self.changed:
            self.in_flight -= 1
            self._back.append((run, attempts, tried))
            self.changed.notify_all()

    async def settle(self) -> None:
        async with self.changed:
            self.in_flight -= 1
            self.changed.notify_all()
