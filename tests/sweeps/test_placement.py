"""Placement: groups of runs shared out to finish together, whatever the grid order."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sweeps.placement import Group, Placement, ServerSlot, place, plan_makespans

FOUR = [ServerSlot(f"s{i}") for i in range(4)]
ALL = frozenset(s.url for s in FOUR)


def _loads(plan: dict[str, list[tuple[Hashable, int]]]) -> int:
    return sum(len(share) for share in plan.values())


def _lower_bound(groups: Sequence[Group], servers: Sequence[ServerSlot]) -> float:
    work = sum(g.count * g.run_s + g.load_s for g in groups)
    return work / sum(s.speed for s in servers)


def test_six_models_on_four_servers_load_each_about_once() -> None:
    groups = [Group(f"ckpt{i}", 60, 1.0, 20.0, ALL) for i in range(6)]
    plan = place(groups, FOUR)
    assert sum(n for share in plan.values() for _, n in share) == 360
    assert _loads(plan) <= 10
    finish = plan_makespans(plan, {g.key: g for g in groups}, FOUR)
    assert max(finish.values()) <= 1.10 * _lower_bound(groups, FOUR)
    # The grid's order is not the plan's: reversed groups, same quality.
    again = place(groups[::-1], FOUR)
    assert _loads(again) == _loads(plan)


def test_one_big_group_is_split_over_every_server() -> None:
    plan = place([Group("only", 400, 1.0, 20.0, ALL)], FOUR)
    assert sorted(n for share in plan.values() for _, n in share) == [100, 100, 100, 100]


def test_mixed_speeds_get_shares_in_proportion() -> None:
    servers = [ServerSlot("slow", 1.0), ServerSlot("fast", 4.0)]
    plan = place([Group("g", 100, 1.0, 0.0, frozenset({"slow", "fast"}))], servers)
    assert dict((u, sum(n for _, n in s)) for u, s in plan.items()) == {"slow": 20, "fast": 80}


def test_a_model_only_one_server_has_goes_there_and_the_rest_elsewhere() -> None:
    groups = [Group("lone", 100, 1.0, 20.0, frozenset({"s0"}))]
    groups += [Group(f"ckpt{i}", 100, 1.0, 20.0, ALL) for i in range(3)]
    plan = place(groups, FOUR)
    assert plan["s0"] == [("lone", 100)]
    finish = plan_makespans(plan, {g.key: g for g in groups}, FOUR)
    assert max(finish.values()) <= 1.05 * 120


def test_a_server_holding_a_model_keeps_it() -> None:
    servers = [ServerSlot("a", loaded="y"), ServerSlot("b", loaded="x")]
    able = frozenset({"a", "b"})
    plan = place([Group("x", 10, 1.0, 5.0, able), Group("y", 10, 1.0, 5.0, able)], servers)
    assert plan == {"a": [("y", 10)], "b": [("x", 10)]}


@dataclass(frozen=True)
class _Run:
    run_index: int
    model: str

    @property
    def run_id(self) -> str:
        return str(self.run_index)

    workflow_name = "wf"
    params: dict[str, Any] = None  # type: ignore[assignment]
    repeat = 0


def _placement(runs: list[_Run], speeds: dict[str, float]) -> Placement:
    return Placement(
        runs,
        list(speeds),
        group_of=lambda run: run.model,  # type: ignore[attr-defined]
        eligible=lambda run, url: True,
        costs=lambda key, samples: (1.0, 10.0),
        speed=lambda url: speeds[url],
    )


def test_servers_take_their_share_then_take_over_a_slower_ones_tail() -> None:
    runs = [_Run(i, "m") for i in range(40)]
    placement = _placement(runs, {"slow": 1.0, "fast": 3.0})
    taken: dict[str, list[int]] = {"slow": [], "fast": []}
    # The slow server takes one run, then only the fast one asks: it runs its
    # share, then takes over what the slow server would finish later than it.
    first = placement.take("slow", available=lambda u: True, idle=False)
    assert first is not None
    while (run := placement.take("fast", available=lambda u: True, idle=False)) is not None:
        taken["fast"].append(run.run_index)
    left = len(placement)
    assert 0 < left < 10  # some stay: moving them would not finish sooner
    assert len(taken["fast"]) + left + 1 == 40
    assert len(set(taken["fast"])) == len(taken["fast"])


def test_a_server_that_is_down_hands_over_its_whole_share() -> None:
    runs = [_Run(i, "m") for i in range(40)]
    placement = _placement(runs, {"a": 1.0, "b": 1.0})
    while placement.take("b", available=lambda u: u != "a", idle=False) is not None:
        pass
    assert len(placement) == 0


def test_an_idle_fleet_takes_a_run_even_when_moving_it_is_not_worth_it() -> None:
    placement = _placement([_Run(0, "m"), _Run(1, "n")], {"a": 1.0, "b": 1.0})
    assert sorted(len(share) for share in placement.plan.values()) == [1, 1]
    assert placement.take("b", available=lambda u: True, idle=False) is not None
    # b's model is not a's: loading it would take longer than a needs.
    assert placement.take("b", available=lambda u: True, idle=False) is None
    assert placement.take("b", available=lambda u: True, idle=True) is not None
    assert len(placement) == 0


def test_redrawn_shares_keep_each_server_on_what_it_has_loaded() -> None:
    able = frozenset({"a", "b"})
    groups = [Group("fresh", 30, 1.0, 10.0, able), Group("x", 20, 1.0, 10.0, able)]
    groups += [Group("y", 20, 1.0, 10.0, able)]
    servers = [ServerSlot("a", loaded="x"), ServerSlot("b", loaded="y")]
    plan = place(groups, servers)
    assert plan["a"][0] == ("x", 20) and plan["b"][0] == ("y", 20)


def test_a_queued_run_moves_only_when_it_ends_clearly_sooner_load_included() -> None:
    runs = [_Run(0, "m"), _Run(1, "n")]
    placement = _placement(runs, {"slow": 1.0, "fast": 4.0, "fast2": 4.0})  # run 1 s, load 10 s
    m = next(key for key in placement.groups if key[0] == "m")  # type: ignore[index]
    placement.loaded.update({"slow": m, "fast": None})
    # Two ahead on the slow server: 2 s there, 10.25 s here with the load first.
    assert placement.sooner_by(runs[0], thief="fast", victim="slow", ahead=2) < 0
    placement.loaded["fast"] = m
    assert placement.sooner_by(runs[0], thief="fast", victim="slow", ahead=2) == 2 - 0.25
    # As fast as the victim and next in line there: not worth a withdrawal.
    assert placement.sooner_by(runs[0], thief="fast", victim="fast2", ahead=1) < 0
