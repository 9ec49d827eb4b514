"""Which server runs which runs: groups of runs that load the same models, placed
to finish together, whatever order the grid lists them in.

Placement is longest-processing-time first with set-up costs: the most
constrained groups (fewest servers may run them), then the biggest, each go to
the server with the most room under a target makespan, paying the group's load
once there; a group bigger than a server's room is split over several. The
target starts at the lower bound (all work, each load once, spread by speed)
and grows 4% at a time until everything fits.

The plan is a preference, not a contract: servers still pull their next run,
so one that dies or lags simply leaves its share to be taken. A server whose
share is done takes from the server that will finish last, as many runs as
make both finish together (counting the load it must pay first), and none when
moving them would not finish sooner.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .identity import RunLike

__all__ = ["Group", "Placement", "ServerSlot", "place", "plan_makespans"]


@dataclass(frozen=True)
class Group:
    """Runs that load the same things, so one server can run them with one load."""

    key: Hashable
    count: int
    run_s: float
    """Seconds a run takes on a speed-1 server once the group is loaded."""
    load_s: float
    """Seconds to load the group on a speed-1 server (paid once per server)."""
    servers: frozenset[str]
    """The servers that may run it."""


@dataclass(frozen=True)
class ServerSlot:
    """A server as placement sees it."""

    url: str
    speed: float = 1.0
    busy_s: float = 0.0
    """Seconds of work it already has."""
    loaded: Hashable | None = None
    """The group whose models it holds."""


Plan = dict[str, list[tuple[Hashable, int]]]
"""Server url -> [(group key, runs)], in the order to run them."""


def _fill(groups: Sequence[Group], servers: Sequence[ServerSlot], target: float) -> Plan | None:
    finish = {s.url: s.busy_s for s in servers}
    loaded = {s.url: s.loaded for s in servers}
    speed = {s.url: max(s.speed, 1e-9) for s in servers}
    plan: Plan = {s.url: [] for s in servers}
    held = {s.loaded for s in servers}
    # Most constrained first; then the groups a server holds, so it keeps them
    # (its share starts with what it has loaded); then the biggest.
    order = sorted(
        groups, key=lambda g: (len(g.servers), g.key not in held, -(g.count * g.run_s + g.load_s))
    )
    for group in order:
        left = group.count
        run_s = max(group.run_s, 1e-9)
        room = [u for u in plan if u in group.servers]
        room.sort(key=lambda u: (loaded[u] != group.key, -(target - finish[u]) * speed[u]))
        for url in room:
            load = 0.0 if loaded[url] == group.key else group.load_s
            fits = math.floor(((target - finish[url]) * speed[url] - load) / run_s + 1e-9)
            take = min(left, fits)
            if take <= 0:
                continue
            plan[url].append((group.key, take))
            finish[url] += (load + take * run_s) / speed[url]
            loaded[url] = group.key
            left -= take
            if not left:
                break
        if left:
            return None
    return plan


def place(groups: Sequence[Group], servers: Sequence[ServerSlot]) -> Plan:
    """Each server's share of ``groups``, planned to finish together."""
    groups = [g for g in groups if g.count > 0 and g.servers & {s.url for s in servers}]
    if not groups:
        return {s.url: [] for s in servers}
    work = sum(g.count * g.run_s + g.load_s for g in groups)
    work += sum(s.busy_s * s.speed for s in servers)
    low = work / max(sum(s.speed for s in servers), 1e-9)
    best = _fill(groups, servers, low)
    if best is not None:
        return best
    high = low
    for _ in range(60):  # double until it fits, then halve the gap
        high *= 2
        best = _fill(groups, servers, high)
        if best is not None:
            break
    if best is None:
        best = _fill(groups, servers, math.inf)
        assert best is not None, "every group has an eligible server"
        return best
    for _ in range(24):
        middle = (low + high) / 2
        plan = _fill(groups, servers, middle)
        if plan is None:
            low = middle
        else:
            high, best = middle, plan
    return best


def plan_makespans(
    plan: Mapping[str, Sequence[tuple[Hashable, int]]],
    groups: Mapping[Hashable, Group],
    servers: Sequence[ServerSlot],
) -> dict[str, float]:
    """Seconds until each server has run its share of ``plan``."""
    out = {}
    for slot in servers:
        seconds, loaded = slot.busy_s, slot.loaded
        for key, count in plan.get(slot.url, ()):
            group = groups[key]
            load = 0.0 if loaded == key else group.load_s
            seconds += (load + count * group.run_s) / max(slot.speed, 1e-9)
            loaded = key
        out[slot.url] = seconds
    return out


class Placement:
    """The runs of a sweep, grouped and shared out; what a free server takes next.

    ``group_of(run)`` is the group's key; ``costs(key, samples)`` its (run_s, load_s)
    from two of its runs, or None when unknown (every run then counts alike), asked
    again at every :meth:`replan`; ``speed(url)`` a server's speed.
    """

    def __init__(
        self,
        runs: Iterable[RunLike],
        servers: Sequence[str],
        *,
        group_of: Callable[[RunLike], Hashable],
        eligible: Callable[[RunLike, str], bool],
        costs: Callable[[Hashable, Sequence[RunLike]], tuple[float, float] | None],
        speed: Callable[[str], float],
    ) -> None:
        self.servers = list(servers)
        self._costs = costs
        self._speed = speed
        self._runs: dict[Hashable, deque[RunLike]] = {}
        self._key_of: dict[str, Hashable] = {}
        self._eligible: dict[Hashable, frozenset[str]] = {}
        for run in runs:
            able = frozenset(s for s in servers if eligible(run, s))
            key = (group_of(run), able)
            self._runs.setdefault(key, deque()).append(run)
            self._key_of[run.run_id] = key
            self._eligible[key] = able
        self._samples = {k: list(r)[:2] for k, r in self._runs.items()}
        self.loaded: dict[str, Hashable | None] = dict.fromkeys(self.servers)
        self.plan: Plan = {}
        self.groups: dict[Hashable, Group] = {}
        self.calibrated = False
        self.replan()

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs.values())

    def slots(self) -> list[ServerSlot]:
        return [ServerSlot(u, self._speed(u), 0.0, self.loaded[u]) for u in self.servers]

    def replan(self) -> None:
        """Share what is left again, with the latest costs and speeds."""
        self.groups = {}
        self.calibrated = True
        """Whether every group's costs are known: the makespans are then seconds."""
        for key, runs in self._runs.items():
            known = self._costs(key, self._samples[key])
            if known is None:
                self.calibrated = False
            run_s, load_s = known or (1.0, 0.0)
            self.groups[key] = Group(key, len(runs), run_s, load_s, self._eligible[key])
        self.plan = place(list(self.groups.values()), self.slots())

    def makespans(self, running: Mapping[str, int] | None = None) -> dict[str, float]:
        """Seconds until each server has run its planned share (from now), counting
        ``running[url]`` prompts it has started or queued as a typical run each."""
        slots = self.slots()
        if running:
            typical = [g.run_s for g in self.groups.values()] or [0.0]
            run_s = sum(typical) / len(typical)
            slots = [replace(s, busy_s=running.get(s.url, 0) * run_s / s.speed) for s in slots]
        return plan_makespans(self.plan, self.groups, slots)

    def take(self, server: str, *, available: Callable[[str], bool], idle: bool) -> RunLike | None:
        """The next run ``server`` should start: its share, else one moved from the
        server that will finish last. ``idle``: nothing runs anywhere, so take any
        run this server may take rather than wait for a better server."""
        share = self.plan.get(server, [])
        while share:
            key, count = share[0]
            runs = self._runs.get(key)
            if not runs or count <= 0:
                share.pop(0)
                continue
            share[0] = (key, count - 1)
            self.loaded[server] = key
            return self._pop(key)
        if self._steal(server, available=available, idle=idle):
            return self.take(server, available=available, idle=idle)
        return None

    def sooner_by(self, run: RunLike, *, thief: str, victim: str, ahead: int) -> float:
        """Seconds ``run`` would end sooner on ``thief`` (idle) than on ``victim``, where
        ``ahead`` prompts (itself included) are before it; counts the load ``thief``
        would pay first. Negative when moving it does not pay off."""
        key = self._key_of.get(run.run_id)
        group = self.groups.get(key) if key is not None else None
        run_s, load_s = (group.run_s, group.load_s) if group is not None else (1.0, 0.0)
        load = 0.0 if self.loaded.get(thief) == key else load_s
        there = ahead * run_s / max(self._speed(victim), 1e-9)
        here = (load + run_s) / max(self._speed(thief), 1e-9)
        return there - here if here < 0.75 * there else -1.0

    def _pop(self, key: Hashable) -> RunLike:
        runs = self._runs[key]
        run = runs.popleft()
        if not runs:
            del self._runs[key]
        return run

    def _steal(self, thief: str, *, available: Callable[[str], bool], idle: bool) -> bool:
        """Move runs from the server finishing last to ``thief``; False if none should move."""
        finish = self.makespans()
        speed = {u: max(self._speed(u), 1e-9) for u in self.servers}
        best: tuple[float, str, int, int] | None = None
        for victim, share in self.plan.items():
            if victim == thief or not share:
                continue
            for i, (key, count) in enumerate(share):
                group = self.groups[key]
                if thief not in group.servers or count <= 0:
                    continue
                load = 0.0 if self.loaded[thief] == key else group.load_s
                if not available(victim):
                    moved = count
                else:
                    # Both finish together: R - k t/v_victim = (load + k t) / v_thief.
                    per = group.run_s / speed[thief] + group.run_s / speed[victim]
                    moved = min(count, math.floor((finish[victim] - load / speed[thief]) / per))
                    if moved <= 0 and idle:
                        moved = 1
                if moved <= 0:
                    continue
                rank = (finish[victim] if available(victim) else math.inf) - load
                if best is None or rank >= best[0]:  # ties: a later share, not the one running
                    best = (rank, victim, i, moved)
        if best is None:
            return False
        _, victim, i, moved = best
        key, count = self.plan[victim][i]
        self.plan[victim][i] = (key, count - moved)
        self.plan.setdefault(thief, []).append((key, moved))
        return True
