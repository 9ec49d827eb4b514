"""The lazy run grid: every run a spec describes, countable and indexable, never listed.

A block's runs are the mixed-radix product of its axes (grid keys, zip groups,
and the workflow list when there are several), the first axis varying slowest
as in nested for loops. ``exclude`` patterns are not subtracted from a list:
each pattern allows a set of positions per axis, and a small dynamic program
over "which patterns still match" counts the surviving runs under any prefix.
That gives ``len()``, ``grid[i]`` and a reproducible ``sample`` for a grid of
a million (or 10^20) runs in kilobytes, and lets iteration skip excluded runs
without testing each one.

Expanded order, for each repeat pass: block 0's product runs (sampled, if the
spec samples), block 0's includes, block 1's product runs, and so on. ``repeat``
repeats whole passes, so an interrupted sweep still holds complete passes.

Pure: no I/O. Randomness comes from :class:`DrawStream`, not :mod:`random`, so
run ids and samples do not change with the Python version.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import product
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from sweeps.identity import RunLike
    from sweeps.spec import Axis, Block, Combination, SweepSpec

__all__ = [
    "DecimalRange",
    "DrawStream",
    "Grid",
    "GridCounts",
    "Run",
    "count_runs",
    "draw_distinct",
    "positions_of",
]

_MASK64 = (1 << 64) - 1
# Canonical JSON for run ids; one encoder, as json.dumps(**options) builds one per call.
_ID_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class DrawStream:
    """Deterministic random integers keyed by a seed and a label (splitmix64).

    Python's :mod:`random` may change its algorithms between versions; run ids
    derived from drawn seeds and samples must not.
    """

    def __init__(self, seed: int, label: str) -> None:
        digest = hashlib.sha256(f"{seed}\0{label}".encode()).digest()
        self._state = int.from_bytes(digest[:8], "big")

    def next64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform in ``range(n)``, by rejection so there is no modulo bias."""
        bits = n.bit_length()
        words = -(-bits // 64)
        while True:
            value = 0
            for _ in range(words):
                value = (value << 64) | self.next64()
            value >>= words * 64 - bits
            if value < n:
                return value


def draw_distinct(count: int, population: int, stream: DrawStream) -> list[int]:
    """``count`` distinct integers in ``range(population)``, in draw order.

    Drawing more keeps the earlier draws (``{random: 8}`` is a prefix of
    ``{random: 16}``), so growing a sweep reuses the runs already done. When more
    than half the population is wanted the complement is drawn instead, which
    keeps the work bounded; the result is then in ascending order.
    """
    if count > population // 2:
        dropped = set(draw_distinct(population - count, population, stream))
        return [i for i in range(population) if i not in dropped]
    seen: set[int] = set()
    out: list[int] = []
    while len(out) < count:
        value = stream.below(population)
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


class DecimalRange(Sequence[float]):
    """``{range: [start, stop, step]}`` with a float in it, stepped exactly in decimal.

    ``start + i * step`` is computed in :class:`~decimal.Decimal` from the numbers
    as written, so ``[0, 1, 0.1]`` gives 0.3, not 0.30000000000000004, and ten
    values, not eleven.
    """

    def __init__(self, start: Decimal, stop: Decimal, step: Decimal) -> None:
        if step == 0:
            raise ValueError("step must not be zero")
        self.start, self.stop, self.step = start, stop, step
        self._len = max(0, math.ceil((stop - start) / step))

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._len)))
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("DecimalRange index out of range")
        return float(self.start + index * self.step)

    def index_of(self, value: object) -> int | None:
        """Position of ``value``, or None; exact, so 0.3 is found in ``[0, 1, 0.1]``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        offset = (Decimal(repr(value)) - self.start) / self.step
        if offset != offset.to_integral_value() or not 0 <= offset < self._len:
            return None
        return int(offset)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DecimalRange):
            return NotImplemented
        return (self.start, self.step, self._len) == (other.start, other.step, other._len)

    def __hash__(self) -> int:
        return hash((self.start, self.step, self._len))

    def __repr__(self) -> str:
        return f"DecimalRange({self.start}, {self.stop}, {self.step})"


def _same(a: object, b: object) -> bool:
    """Equality that keeps ``true`` and ``1`` apart, as ComfyUI's types do."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def positions_of(column: Sequence[Any], value: object) -> list[int]:
    """Where ``value`` occurs in an axis column, without scanning a range."""
    if isinstance(column, range):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return []
        if isinstance(value, float) and not value.is_integer():
            return []
        number = int(value)
        return [column.index(number)] if number in column else []
    if isinstance(column, DecimalRange):
        found = column.index_of(value)
        return [] if found is None else [found]
    return [i for i, item in enumerate(column) if _same(item, value)]


def exclusion_positions(axes: Sequence[Axis], pattern: Combination) -> dict[int, list[int]]:
    """For each axis a pattern constrains, the positions it matches (maybe none)."""
    out: dict[int, list[int]] = {}
    for a, axis in enumerate(axes):
        named = [
            (c, pattern.values[addr])
            for c, addr in enumerate(axis.addresses)
            if addr in pattern.values
        ]
        if not named:
            continue
        first, value = named[0]
        found = positions_of(axis.columns[first], value)
        out[a] = [t for t in found if all(_same(axis.columns[c][t], v) for c, v in named[1:])]
    return out


def count_runs(block: Block) -> tuple[int, int]:
    """A block's product size before and after its excludes (includes not counted)."""
    space = _Space(block, block.has_product)
    return space.full, space.size


@dataclass(frozen=True)
class Run:
    """One prompt to queue: which workflow, which values, which repeat.

    ``params`` maps addresses to values: the block's ``set`` values, then the
    swept ones. ``run_id`` hashes the workflow name, the parameters keyed by
    resolved ``node_id.input`` (so ``KSampler.seed`` and ``3.seed`` agree), the
    repeat and the slot (block number, and include number for an include), so an
    unchanged spec gives the same ids and a resumed sweep can skip the runs that
    already succeeded. The slot keeps ids unique when two blocks, or an include
    and a grid run, happen to produce the same parameters; the spec rejects a
    value listed twice in one axis, so ids are unique within a grid.
    """

    run_index: int
    run_id: str
    workflow_name: str
    params: Mapping[str, Any] = field(hash=False)
    repeat: int = 0
    block: int = 0
    source: Literal["grid", "include"] = "grid"


@dataclass(frozen=True)
class GridCounts:
    """How ``len(grid)`` comes about, for ``plan`` to print."""

    product: int  # runs of every block's product before exclude
    excluded: int
    sampled: int | None  # product runs kept by ``sample``, or None if not sampling
    included: int
    repeat: int
    total: int


class _Space:
    """One block's product with its exclusions: counts, locates and walks runs."""

    def __init__(self, block: Block, has_product: bool) -> None:
        self.radices = [len(axis) for axis in block.axes]
        self.full = math.prod(self.radices) if has_product else 0
        self._suffix = [math.prod(self.radices[j:]) for j in range(len(self.radices) + 1)]
        patterns = [exclusion_positions(block.axes, p) for p in block.exclude]
        patterns = [p for p in patterns if p and all(p.values())]
        self.all_mask = (1 << len(patterns)) - 1
        self._segments: list[list[tuple[int, int, int]]] = []
        for a, radix in enumerate(self.radices):
            base = self.all_mask
            marks: dict[int, int] = {}
            for bit, allowed in enumerate(patterns):
                if a in allowed:
                    base &= ~(1 << bit)
                    for t in allowed[a]:
                        marks[t] = marks.get(t, 0) | (1 << bit)
            segments, cursor = [], 0
            for t in sorted(marks):
                if t > cursor:
                    segments.append((cursor, t, base))
                segments.append((t, t + 1, base | marks[t]))
                cursor = t + 1
            if cursor < radix:
                segments.append((cursor, radix, base))
            self._segments.append(segments)
        self._memo: dict[tuple[int, int], int] = {}
        self.size = self._kept(0, self.all_mask) if has_product else 0

    def _kept(self, j: int, alive: int) -> int:
        """Runs over axes ``j..`` that no still-matching pattern (bits of ``alive``) excludes."""
        if not alive:
            return self._suffix[j]
        if j == len(self.radices):
            return 0
        key = (j, alive)
        if key not in self._memo:
            self._memo[key] = sum(
                (stop - start) * self._kept(j + 1, alive & mask)
                for start, stop, mask in self._segments[j]
            )
        return self._memo[key]

    def locate(self, index: int) -> tuple[int, ...]:
        """Axis positions of the ``index``-th surviving run, without walking earlier ones."""
        alive, digits = self.all_mask, []
        for j in range(len(self.radices)):
            for start, stop, mask in self._segments[j]:
                each = self._kept(j + 1, alive & mask)
                if index < each * (stop - start):
                    step, index = divmod(index, each)
                    digits.append(start + step)
                    alive &= mask
                    break
                index -= each * (stop - start)
        return tuple(digits)

    def walk(self) -> Iterator[tuple[int, ...]]:
        """Axis positions of every surviving run, in order; excluded subtrees are skipped."""
        if self.size:
            yield from self._walk(0, self.all_mask, ())

    def _walk(self, j: int, alive: int, prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        if not alive:
            for tail in product(*(range(r) for r in self.radices[j:])):
                yield prefix + tail
            return
        for start, stop, mask in self._segments[j]:
            if self._kept(j + 1, alive & mask):
                for d in range(start, stop):
                    yield from self._walk(j + 1, alive & mask, (*prefix, d))


class Grid(Sequence[Run]):
    """Every run of a :class:`~sweeps.spec.SweepSpec`, expanded on demand.

    >>> grid = Grid(spec)  # doctest: +SKIP
    >>> len(grid), grid[0].params, grid.prompt_for(grid[0])  # doctest: +SKIP

    ``sample: K`` keeps K product runs (post-exclude) chosen reproducibly from the
    spec's ``seed``; includes are always kept. A sample at least as large as the
    population keeps everything.
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.workflows = spec.workflows
        self._spaces = [_Space(b, b.has_product) for b in spec.blocks]
        self._canon = self._canonical_keys()
        sizes = [s.size for s in self._spaces]
        self._offsets = [sum(sizes[:b]) for b in range(len(sizes) + 1)]
        population = self._offsets[-1]
        self._chosen: list[int] | None = None
        counts = sizes
        if spec.sample is not None and spec.sample < population:
            stream = DrawStream(spec.seed, "sample")
            self._chosen = sorted(draw_distinct(spec.sample, population, stream))
            counts = [
                bisect.bisect_left(self._chosen, self._offsets[b + 1])
                - bisect.bisect_left(self._chosen, self._offsets[b])
                for b in range(len(sizes))
            ]
        self._segments: list[tuple[str, int, int]] = []
        for b, block in enumerate(spec.blocks):
            self._segments.append(("grid", b, counts[b]))
            self._segments.append(("include", b, len(block.include)))
        self._starts = [0]
        for _, _, length in self._segments:
            self._starts.append(self._starts[-1] + length)
        self._pass = self._starts[-1]
        self.counts = GridCounts(
            product=sum(s.full for s in self._spaces),
            excluded=sum(s.full - s.size for s in self._spaces),
            sampled=sum(counts) if self._chosen is not None else None,
            included=sum(len(b.include) for b in spec.blocks),
            repeat=spec.repeat,
            total=self._pass * spec.repeat,
        )

    def __len__(self) -> int:
        return self._pass * self.spec.repeat

    @overload
    def __getitem__(self, index: int) -> Run: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Run]: ...
    def __getitem__(self, index: int | slice) -> Run | Sequence[Run]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        total = len(self)
        if index < 0:
            index += total
        if not 0 <= index < total:
            raise IndexError(f"run index {index} out of range for a grid of {total} runs")
        repeat, offset = divmod(index, self._pass)
        seg = bisect.bisect_right(self._starts, offset) - 1
        kind, b, _ = self._segments[seg]
        local = offset - self._starts[seg]
        if kind == "include":
            return self._include_run(b, local, repeat, index)
        if self._chosen is not None:
            first = bisect.bisect_left(self._chosen, self._offsets[b])
            local = self._chosen[first + local] - self._offsets[b]
        return self._grid_run(b, self._spaces[b].locate(local), repeat, index)

    def __iter__(self) -> Iterator[Run]:
        index = 0
        for repeat in range(self.spec.repeat):
            for kind, b, length in self._segments:
                if kind == "include":
                    for k in range(length):
                        yield self._include_run(b, k, repeat, index)
                        index += 1
                    continue
                for digits in self._digits(b, length):
                    yield self._grid_run(b, digits, repeat, index)
                    index += 1

    def prompt_for(self, run: RunLike) -> dict[str, Any]:
        """The API-format prompt for ``run``: its workflow with its params applied.

        Any :class:`~sweeps.identity.RunLike` will do, so it is the scheduler's ``prompt_for``.
        """
        return self.workflows[run.workflow_name].apply(run.params)

    def values_by_address(self, workflow_name: str | None = None) -> dict[str, Sequence[Any]]:
        """Each address's distinct values over all blocks (or those of one workflow).

        For checking values against a server's ``/object_info`` once per value
        rather than once per run. An address swept only by a ``range`` gets the
        range itself, so a million-value axis is not listed.
        """
        sources: dict[str, list[Sequence[Any]]] = {}
        for block in self.spec.blocks:
            if workflow_name is not None and workflow_name not in block.workflows:
                continue
            for address, value in block.fixed.items():
                sources.setdefault(address, []).append((value,))
            for axis in block.axes:
                for address, column in zip(axis.addresses, axis.columns, strict=True):
                    if axis.kind != "workflow":
                        sources.setdefault(address, []).append(column)
            for combo in block.include:
                if workflow_name in (None, self._include_workflow(block, combo)):
                    for address, value in combo.values.items():
                        if address != "workflow":
                            sources.setdefault(address, []).append((value,))
        out: dict[str, Sequence[Any]] = {}
        for address, columns in sources.items():
            if len(columns) == 1 and isinstance(columns[0], (range, DecimalRange)):
                out[address] = columns[0]
                continue
            distinct: dict[str, Any] = {}
            for column in columns:
                for value in column:
                    distinct.setdefault(_canonical(value), value)
            out[address] = tuple(distinct.values())
        return out

    def _digits(self, b: int, length: int) -> Iterator[tuple[int, ...]]:
        space = self._spaces[b]
        if self._chosen is None:
            return space.walk()
        first = bisect.bisect_left(self._chosen, self._offsets[b])
        chosen = self._chosen[first : first + length]
        return (space.locate(i - self._offsets[b]) for i in chosen)

    def _grid_run(self, b: int, digits: tuple[int, ...], repeat: int, index: int) -> Run:
        block = self.spec.blocks[b]
        params = dict(block.fixed)
        workflow = block.workflows[0]
        for axis, d in zip(block.axes, digits, strict=True):
            if axis.kind == "workflow":
                workflow = axis.columns[0][d]
                continue
            for address, column in zip(axis.addresses, axis.columns, strict=True):
                params[address] = column[d]
        return self._run(b, workflow, params, repeat, index, "grid", str(b))

    def _include_run(self, b: int, k: int, repeat: int, index: int) -> Run:
        block = self.spec.blocks[b]
        combo = block.include[k]
        params = dict(block.fixed)
        params.update((a, v) for a, v in combo.values.items() if a != "workflow")
        workflow = self._include_workflow(block, combo)
        return self._run(b, workflow, params, repeat, index, "include", f"{b}/include/{k}")

    @staticmethod
    def _include_workflow(block: Block, combo: Combination) -> str:
        name = combo.values.get("workflow", block.workflows[0])
        return str(name)

    def _run(
        self,
        b: int,
        workflow: str,
        params: dict[str, Any],
        repeat: int,
        index: int,
        source: Literal["grid", "include"],
        slot: str,
    ) -> Run:
        canon = self._canon[workflow]
        keyed = {canon[address]: value for address, value in params.items()}
        blob = _ID_JSON.encode(
            {"workflow": workflow, "params": keyed, "repeat": repeat, "slot": slot}
        )
        run_id = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return Run(index, run_id, workflow, params, repeat, b, source)

    def _canonical_keys(self) -> dict[str, dict[str, str]]:
        """Address -> ``node_id.input`` per workflow, so aliases hash alike."""
        out: dict[str, dict[str, str]] = {name: {} for name in self.workflows}
        for block in self.spec.blocks:
            addresses = list(block.fixed)
            addresses += [a for axis in block.axes for a in axis.addresses]
            addresses += [a for combo in block.include for a in combo.values]
            for name in block.workflows:
                workflow = self.workflows[name]
                for address in addresses:
                    if address != "workflow" and address not in out[name]:
                        out[name][address] = str(workflow.resolve(address))
        return out


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
