"""The cost model put to work: how runs group, what a group costs, how long a sweep takes.

Kept apart from :mod:`.placement` (which knows groups and seconds, not prompts)
and from :mod:`.costs` (which learns, and does not plan).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .costs import CostModel, node_signatures
from .placement import Placement

if TYPE_CHECKING:
    from .identity import RunLike

__all__ = ["PLAN_LIMIT", "Estimate", "estimate", "placement_for"]

PLAN_LIMIT = 20_000
"""Sweeps up to this many runs are placed whole; bigger ones are fed lazily from
the grid with a window (placing a million runs would hold them all in memory)."""

Prompter = Callable[["RunLike"], Mapping[str, Any]]


def _group_key(model: CostModel, prompt: Mapping[str, Any]) -> Hashable:
    signatures = node_signatures(prompt)
    return tuple(sorted(signatures[n] for n in model.group_nodes(prompt)))


def _group_costs(
    model: CostModel, prompt_for: Prompter
) -> Callable[[Hashable, Sequence[RunLike]], tuple[float, float] | None]:
    """(run_s, load_s) of a group from two of its runs: what they share is paid once
    per server (the load), what differs is paid at every run."""

    def costs(key: Hashable, samples: Sequence[RunLike]) -> tuple[float, float] | None:
        prompts = [prompt_for(r) for r in samples]
        signatures = [node_signatures(p) for p in prompts]
        if len(prompts) > 1:
            shared = set(signatures[0].values()) & set(signatures[1].values())
        else:
            shared = {signatures[0][n] for n in model.group_nodes(prompts[0])}
        varying = set(signatures[0].values()) - shared
        run_s = model.prompt_cost(prompts[0], signatures[0], shared, typical=varying)
        whole = model.prompt_cost(prompts[0], signatures[0], set(), typical=varying)
        if run_s is None or whole is None:
            return None
        return run_s, whole - run_s

    return costs


def _speeds(model: CostModel, servers: Sequence[str]) -> Callable[[str], float]:
    known = [model.speed(u) for u in servers if model.knows(u)]
    unknown = sum(known) / len(known) if known else 1.0

    def speed(url: str) -> float:
        return model.speed(url) if model.knows(url) else unknown

    return speed


def placement_for(
    runs: Iterable[RunLike],
    servers: Sequence[str],
    *,
    eligible: Callable[[RunLike, str], bool],
    prompt_for: Prompter,
    model: CostModel,
) -> Placement:
    """The runs grouped by what they load and shared out by ``model``'s costs."""
    return Placement(
        runs,
        servers,
        group_of=lambda run: _group_key(model, prompt_for(run)),
        eligible=eligible,
        costs=_group_costs(model, prompt_for),
        speed=_speeds(model, servers),
    )


@dataclass(frozen=True)
class Estimate:
    """How long a sweep should take, per server and in all, before it starts."""

    per_server: Mapping[str, float]
    """Seconds until each server has run its share."""
    calibrated: bool
    """False when the cost model knows none of these servers or nodes: the figures
    then count runs, not seconds."""

    @property
    def total(self) -> float:
        return max(self.per_server.values(), default=0.0)


def estimate(
    runs: Iterable[RunLike],
    servers: Sequence[str],
    *,
    eligible: Callable[[RunLike, str], bool],
    prompt_for: Prompter,
    model: CostModel,
) -> Estimate:
    """Place ``runs`` as a sweep would and say when each server would be done."""
    placement = placement_for(runs, servers, eligible=eligible, prompt_for=prompt_for, model=model)
    calibrated = placement.calibrated and any(model.knows(u) for u in servers)
    return Estimate(placement.makespans(), calibrated)
