"""The lazy grid, checked against a brute-force expansion of the same blocks."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeps.grid import DecimalRange, DrawStream, Grid, count_runs, draw_distinct, positions_of
from sweeps.spec import Axis, Block, Combination, SweepSpec, load_spec
from sweeps.workflow import Workflow

SPECS = Path(__file__).parent.parent / "data" / "specs"
INPUTS = "abcdefgh"
PROBE = Workflow.from_prompt(
    {"1": {"class_type": "Probe", "inputs": dict.fromkeys(INPUTS, 0)}}, name="probe.json"
)
ADDRESSES = [f"Probe.{name}" for name in INPUTS]


def make_spec(
    blocks: Sequence[Block], *, sample: int | None = None, repeat: int = 1, seed: int = 0
) -> SweepSpec:
    return SweepSpec(
        name="t",
        path=Path("t.yaml"),
        workflows={"probe.json": PROBE},
        blocks=tuple(blocks),
        sample=sample,
        repeat=repeat,
        seed=seed,
    )


def grid_axis(address: str, column: Sequence[Any]) -> Axis:
    return Axis((address,), (column,), 1)


def block(
    axes: Sequence[Axis] = (),
    *,
    fixed: dict[str, Any] | None = None,
    exclude: Sequence[dict[str, Any]] = (),
    include: Sequence[dict[str, Any]] = (),
    index: int = 0,
) -> Block:
    return Block(
        index=index,
        line=1,
        workflows=("probe.json",),
        fixed=fixed or {},
        axes=tuple(axes),
        exclude=tuple(Combination(e, 1) for e in exclude),
        include=tuple(Combination(i, 1) for i in include),
        has_product=bool(axes) or not include,
    )


def reference(spec: SweepSpec) -> list[tuple[str, dict[str, Any]]]:
    """One pass, expanded the obvious way: nested loops, then filter, then includes."""
    out: list[tuple[str, dict[str, Any]]] = []
    for b in spec.blocks:
        if b.has_product:
            for digits in itertools.product(*(range(len(axis)) for axis in b.axes)):
                params = dict(b.fixed)
                for axis, d in zip(b.axes, digits, strict=True):
                    for address, column in zip(axis.addresses, axis.columns, strict=True):
                        params[address] = column[d]
                if any(
                    all(params[k] == v for k, v in pattern.values.items()) for pattern in b.exclude
                ):
                    continue
                out.append(("grid", params))
        for combo in b.include:
            out.append(("include", {**b.fixed, **combo.values}))
    return out


@st.composite
def blocks(draw: st.DrawFn, index: int = 0) -> Block:
    names = draw(st.permutations(ADDRESSES))
    n_grid = draw(st.integers(0, 3))
    n_zip = draw(st.integers(0, 1)) * 2
    axes: list[Axis] = []
    for address in names[:n_grid]:
        if draw(st.booleans()):
            start = draw(st.integers(-3, 3))
            column: Sequence[Any] = range(start, start + draw(st.integers(1, 4)))
        else:
            column = tuple(draw(st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True)))
        axes.append(grid_axis(address, column))
    if n_zip:
        length = draw(st.integers(1, 3))
        columns = tuple(
            tuple(f"{a}{i}" for i in range(length)) for a in names[n_grid : n_grid + n_zip]
        )
        axes.append(Axis(tuple(names[n_grid : n_grid + n_zip]), columns, 1, "zip"))
    fixed = {names[n_grid + n_zip]: 42} if draw(st.booleans()) else {}
    exclude = []
    for _ in range(draw(st.integers(0, 3)) if axes else 0):
        chosen = draw(st.lists(st.sampled_from(axes), min_size=1, max_size=2, unique=True))
        pattern: dict[str, Any] = {}
        for axis in chosen:
            t = draw(st.integers(0, len(axis) - 1))
            for c in draw(st.sets(st.integers(0, len(axis.addresses) - 1), min_size=1)):
                pattern[axis.addresses[c]] = axis.columns[c][t]
        exclude.append(pattern)
    swept = [a for axis in axes for a in axis.addresses]
    include = [
        {address: 1000 + k for address in swept[:2]}
        for k in range(draw(st.integers(0, 2) if swept else st.integers(0, 1)))
    ]
    return block(axes, fixed=fixed, exclude=exclude, include=include, index=index)


@st.composite
def specs(draw: st.DrawFn) -> SweepSpec:
    count = draw(st.integers(1, 3))
    return make_spec(
        [draw(blocks(index=i)) for i in range(count)],
        repeat=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**32)),
    )


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(specs())
def test_grid_matches_brute_force_expansion(spec: SweepSpec) -> None:
    grid = Grid(spec)
    expected = reference(spec)
    assert len(grid) == len(expected) * spec.repeat
    runs = list(grid)
    assert [(r.source, dict(r.params)) for r in runs] == expected * spec.repeat
    assert [r.run_index for r in runs] == list(range(len(runs)))
    assert [r.repeat for r in runs] == [i // len(expected) for i in range(len(runs))]
    assert grid.counts.total == len(grid)
    assert grid.counts.excluded == grid.counts.product - sum(s == "grid" for s, _ in expected)


@FAST
@given(specs())
def test_getitem_agrees_with_iteration(spec: SweepSpec) -> None:
    grid = Grid(spec)
    runs = list(grid)
    assert [grid[i] for i in range(len(grid))] == runs
    if runs:
        assert grid[-1] == runs[-1]
        assert list(grid[1::2]) == runs[1::2]
    with pytest.raises(IndexError):
        grid[len(grid)]


@FAST
@given(specs())
def test_same_spec_same_runs_and_ids(spec: SweepSpec) -> None:
    first, second = list(Grid(spec)), list(Grid(spec))
    assert first == second
    ids = [r.run_id for r in first]
    assert len(set(ids)) == len(ids)
    assert all(len(r.run_id) == 16 and int(r.run_id, 16) >= 0 for r in first)


@FAST
@given(specs(), st.integers(1, 40))
def test_sample_is_a_stable_subset_without_replacement(spec: SweepSpec, k: int) -> None:
    full = [r for r in Grid(spec) if r.repeat == 0]
    sampled_spec = make_spec(spec.blocks, sample=k, repeat=spec.repeat, seed=spec.seed)
    grid = Grid(sampled_spec)
    runs = [r for r in grid if r.repeat == 0]
    population = [r.run_id for r in full if r.source == "grid"]
    chosen = [r.run_id for r in runs if r.source == "grid"]
    assert len(chosen) == min(k, len(population))
    assert len(set(chosen)) == len(chosen)
    assert set(chosen) <= set(population)
    position = {run_id: i for i, run_id in enumerate(population)}
    assert [position[c] for c in chosen] == sorted(position[c] for c in chosen)  # order kept
    assert [r.run_id for r in runs if r.source == "include"] == [
        r.run_id for r in full if r.source == "include"
    ]
    assert list(Grid(sampled_spec)) == list(grid)
    assert [grid[i] for i in range(len(grid))] == list(grid)


def test_zip_varies_together_and_excludes_match_pairs() -> None:
    texts = Axis(("Probe.a", "Probe.b"), (("cat", "dog"), ("blurry", "lowres")), 1, "zip")
    spec = make_spec(
        [
            block(
                [grid_axis("Probe.c", (1, 2)), texts],
                exclude=[{"Probe.c": 2, "Probe.a": "dog"}],
            )
        ]
    )
    assert [dict(r.params) for r in Grid(spec)] == [
        {"Probe.c": 1, "Probe.a": "cat", "Probe.b": "blurry"},
        {"Probe.c": 1, "Probe.a": "dog", "Probe.b": "lowres"},
        {"Probe.c": 2, "Probe.a": "cat", "Probe.b": "blurry"},
    ]


def test_repeat_gives_distinct_ids_for_the_same_params() -> None:
    grid = Grid(make_spec([block([grid_axis("Probe.a", (1, 2))])], repeat=3))
    runs = list(grid)
    assert [r.params["Probe.a"] for r in runs] == [1, 2] * 3
    assert [r.repeat for r in runs] == [0, 0, 1, 1, 2, 2]
    assert len({r.run_id for r in runs}) == 6


def test_run_ids_hash_resolved_inputs_not_spellings() -> None:
    by_title = Grid(make_spec([block([grid_axis("Probe.a", (1,))])]))
    by_id = Grid(make_spec([block([grid_axis("1.a", (1,))])]))
    assert by_title[0].run_id == by_id[0].run_id
    assert by_title[0].params == {"Probe.a": 1}


def test_run_ids_are_pinned() -> None:
    """Changing how ids are computed breaks resume for every sweep on disk."""
    spec = load_spec(SPECS / "shootout.yaml", environ={"COMFY_TOKEN": "x"})
    grid = Grid(spec)
    assert grid[0].run_id == "dc392747279466d3"
    assert grid[-1].run_id == "c4499f7a4a5ac469"
    assert DrawStream(0, "sample").next64() == 9734038256051925931


def test_prompt_for_applies_params_to_the_right_workflow() -> None:
    grid = Grid(load_spec(SPECS / "blocks.yaml"))
    workflows = {r.workflow_name for r in grid}
    assert workflows == {"../workflows/model_free.json", "../workflows/ambiguous.json"}
    for run in grid:
        prompt = grid.prompt_for(run)
        assert prompt["1"]["inputs"]["width"] == run.params["1.width"]
        if run.workflow_name.endswith("ambiguous.json"):
            assert prompt["2"]["class_type"] == "ImageBlur"
            assert run.params["1.color"] == 0  # the exclude dropped color 255 here


def test_values_by_address_lists_distinct_values_without_expanding() -> None:
    spec = make_spec(
        [
            block(
                [grid_axis("Probe.a", range(10**6)), grid_axis("Probe.b", (1, 2, 1.0))],
                fixed={"Probe.c": 5},
                include=[{"Probe.b": 7, "Probe.c": 5}],
            ),
            block([grid_axis("Probe.b", (2, 3))], index=1),
        ]
    )
    values = Grid(spec).values_by_address()
    assert values["Probe.a"] == range(10**6)
    assert values["Probe.b"] == (1, 2, 1.0, 7, 3)
    assert values["Probe.c"] == (5,)
    assert Grid(spec).values_by_address("other.json") == {}


def test_block_of_only_includes_adds_just_those() -> None:
    spec = make_spec([block(fixed={"Probe.a": 1}, include=[{"Probe.b": 2}, {"Probe.b": 3}])])
    assert [dict(r.params) for r in Grid(spec)] == [
        {"Probe.a": 1, "Probe.b": 2},
        {"Probe.a": 1, "Probe.b": 3},
    ]


def test_sample_larger_than_population_keeps_everything() -> None:
    spec = make_spec([block([grid_axis("Probe.a", (1, 2, 3))])], sample=10)
    grid = Grid(spec)
    assert len(grid) == 3 and grid.counts.sampled is None


def million_run_spec(sample: int | None = None) -> SweepSpec:
    axes = [grid_axis(f"Probe.{n}", range(100)) for n in "abc"]
    exclude = [{"Probe.b": 5}, {"Probe.a": 3, "Probe.c": 7}]
    return make_spec([block(axes, exclude=exclude)], sample=sample)


def test_a_million_run_grid_is_planned_in_kilobytes() -> None:
    tracemalloc.start()
    try:
        grid = Grid(million_run_spec())
        size = len(grid)
        last = grid[-1]
        middle = grid[size // 2]
        sampled = Grid(million_run_spec(sample=50))
        picks = list(sampled)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == 10**6 - 100 * 100 - 100 + 1  # b=5, a=3&c=7, minus their overlap
    assert dict(last.params) == {"Probe.a": 99, "Probe.b": 99, "Probe.c": 99}
    assert middle.params["Probe.b"] != 5
    assert len(picks) == 50 and all(p.params["Probe.b"] != 5 for p in picks)
    assert peak < 1_000_000, f"planning peaked at {peak} bytes"


def test_locate_agrees_with_walking_a_large_excluded_grid() -> None:
    grid = Grid(million_run_spec())
    head = list(itertools.islice(iter(grid), 25_000))
    for i in range(0, 25_000, 997):
        assert grid[i] == head[i]
    assert all(not (r.params["Probe.a"] == 3 and r.params["Probe.c"] == 7) for r in head)


def test_iterating_a_grid_is_fast_enough() -> None:
    grid = Grid(make_spec([block([grid_axis("Probe.a", range(20_000))])]))
    started = time.perf_counter()
    assert sum(1 for _ in grid) == 20_000
    assert time.perf_counter() - started < 2.0


def test_decimal_range() -> None:
    steps = DecimalRange(Decimal("0"), Decimal("1"), Decimal("0.1"))
    assert len(steps) == 10
    assert steps[3] == 0.3 and steps[-1] == 0.9
    assert steps.index_of(0.3) == 3
    assert steps.index_of(0.35) is None and steps.index_of(1.0) is None
    assert steps.index_of(True) is None
    down = DecimalRange(Decimal("1"), Decimal("0"), Decimal("-0.25"))
    assert list(down) == [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(IndexError):
        steps[10]


def test_positions_of_keeps_bools_and_numbers_apart() -> None:
    assert positions_of(range(5), 3) == [3]
    assert positions_of(range(5), 3.0) == [3]
    assert positions_of(range(5), True) == []
    assert positions_of((1, True, 1.0), 1) == [0, 2]
    assert positions_of(("a", "b"), "b") == [1]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 60), st.integers(1, 60), st.integers(0, 2**64))
def test_draw_distinct(count: int, population: int, seed: int) -> None:
    count = min(count, population)
    drawn = draw_distinct(count, population, DrawStream(seed, "t"))
    assert len(drawn) == len(set(drawn)) == count
    assert all(0 <= d < population for d in drawn)
    assert drawn == draw_distinct(count, population, DrawStream(seed, "t"))


def test_count_runs_before_and_after_exclude() -> None:
    spec = make_spec(
        [
            block(
                [grid_axis("Probe.a", (1, 2, 3)), grid_axis("Probe.b", range(4))],
                exclude=[{"Probe.a": 2}],
            )
        ]
    )
    assert count_runs(spec.blocks[0]) == (12, 8)
