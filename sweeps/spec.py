"""Sweep specs: YAML in, a validated :class:`SweepSpec` out, errors at file:line.

A spec names an API-format workflow, the inputs to vary and how (see
``sample_workflows/sampler_shootout.yaml``). Everything is checked on load,
before a single prompt is queued: each address against the workflow, each
``exclude`` value against the values swept, zip lengths, server URLs and the
environment variables they use. Every error is a :class:`SpecError` whose
``path`` and ``line`` point at the place to fix and whose message says what
would be valid there.

Line numbers come from PyYAML's composed nodes: the loader below builds dicts
and lists that remember where each key, value and item started.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml

from sweeps.config import ServerConfig, expand_env
from sweeps.errors import SpecError
from sweeps.grid import DecimalRange, DrawStream, draw_distinct, exclusion_positions
from sweeps.workflow import Workflow, load_workflow

__all__ = ["Axis", "Block", "Combination", "SweepSpec", "load_spec"]

TOP_KEYS = ("name", "description", "workflow", "servers", "seed", "sample", "repeat", "output")
BLOCK_KEYS = ("workflow", "set", "grid", "zip", "exclude", "include")
RANDOM_MAX = 2**32 - 1
RANDOM_LIMIT = 100_000


@dataclass(frozen=True)
class Axis:
    """One dimension of a block's product: a grid key, a zip group or the workflow list.

    ``columns[c][t]`` is the value of ``addresses[c]`` at position ``t``; a zip
    group has several columns of one length. Columns may be lazy (``range``).
    """

    addresses: tuple[str, ...]
    columns: tuple[Sequence[Any], ...]
    line: int
    kind: Literal["grid", "zip", "workflow"] = "grid"

    def __len__(self) -> int:
        return len(self.columns[0])


@dataclass(frozen=True)
class Combination:
    """An ``exclude`` pattern or an ``include`` run: address -> one value."""

    values: Mapping[str, Any] = field(hash=False)
    line: int


@dataclass(frozen=True)
class Block:
    """One set/grid/zip/exclude/include group; a spec's runs are its blocks' runs in order."""

    index: int
    line: int
    workflows: tuple[str, ...]
    fixed: Mapping[str, Any] = field(hash=False)
    axes: tuple[Axis, ...]
    exclude: tuple[Combination, ...] = ()
    include: tuple[Combination, ...] = ()
    has_product: bool = True  # False for a block of only includes: it adds just those


@dataclass(frozen=True)
class SweepSpec:
    """A loaded, validated spec. ``source`` is the YAML as written, for report metadata."""

    name: str
    path: Path
    workflows: Mapping[str, Workflow] = field(hash=False)
    blocks: tuple[Block, ...]
    servers: tuple[ServerConfig, ...] = field(default=(), repr=False)  # headers hold tokens
    sample: int | None = None
    repeat: int = 1
    seed: int = 0
    output: Path = Path("runs")
    description: str = ""
    source: str = field(default="", repr=False)


class _Map(dict[Any, Any]):
    line = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class _Seq(list[Any]):
    line = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose maps and lists carry 1-based lines, and which keeps dates as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line, data.key_lines, data.value_lines = node.start_mark.line + 1, {}, {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)):
            raise SpecError(f"a key must be text, got {key!r}", path=loader.name, line=line)
        if key in data:
            raise SpecError(
                f"duplicate key {key!r} (first at line {data.key_lines[key]}); "
                "each key may appear once in a mapping",
                path=loader.name,
                line=line,
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key], data.value_lines[key] = line, value_node.start_mark.line + 1


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data = _Seq()
    data.line, data.item_lines = node.start_mark.line + 1, []
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_spec(path: str | Path, *, environ: Mapping[str, str] | None = None) -> SweepSpec:
    """Read, check and resolve a sweep spec; relative paths are relative to its file.

    ``environ`` (default :data:`os.environ`) supplies ``${VAR}`` in servers.

    >>> spec = load_spec("sample_workflows/model_free_sweep.yaml")  # doctest: +SKIP
    """
    spec_path = Path(path)
    try:
        text = spec_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {spec_path.resolve()}", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec: {exc}", path=str(path)) from None
    try:
        loader = _Loader(text)
        loader.name = str(path)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context
        raise SpecError(f"invalid YAML: {problem}", path=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", path=str(path)) from None
    return _SpecReader(spec_path, environ if environ is not None else os.environ).read(data, text)


class _SpecReader:
    """Turns the line-annotated YAML into a SweepSpec, raising at the first problem."""

    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.workflows: dict[str, Workflow] = {}
        self.seed = 0

    def fail(self, message: str, line: int | None) -> SpecError:
        return SpecError(message, path=str(self.path), line=line)

    def read(self, data: object, text: str) -> SweepSpec:
        if not isinstance(data, _Map) or not data:
            raise self.fail(
                "a spec must be a mapping with at least workflow: and grid:, e.g. "
                "'workflow: txt2img.json' and 'grid: {KSampler.seed: {random: 4}}'",
                getattr(data, "line", 1),
            )
        if "blocks" in data:
            self.check_keys(data, (*TOP_KEYS, "set", "blocks"), "at the top of a spec with blocks")
        else:
            self.check_keys(data, (*TOP_KEYS, *BLOCK_KEYS[1:]), "at the top of a spec")
        self.seed = self.integer(data, "seed", 0, minimum=0)
        if "workflow" not in data:
            raise self.fail(
                "the spec has no workflow: key; add 'workflow: <file>.json', an API-format "
                "export, relative to this spec (a list of files makes the workflow an axis)",
                data.line,
            )
        workflows = self.workflow_list(data, "workflow")
        name = data.get("name", self.path.stem)
        if not isinstance(name, str) or not name.strip() or re.search(r"[/\\]", name):
            raise self.fail(
                f"name must be a short text without slashes, got {name!r}", self.line(data, "name")
            )
        if "blocks" in data:
            raw_blocks = self.sequence(data, "blocks", "a list of blocks (each a mapping)")
            lines = raw_blocks.item_lines
        else:
            raw_blocks, lines = [data], [data.line]
        base = self.mapping(data, "set") if "blocks" in data and "set" in data else None
        blocks = []
        for index, (raw, line) in enumerate(zip(raw_blocks, lines, strict=True)):
            if not isinstance(raw, _Map):
                raise self.fail(
                    f"block {index + 1} must be a mapping with {', '.join(BLOCK_KEYS)}", line
                )
            if raw is not data:
                self.check_keys(raw, BLOCK_KEYS, f"in block {index + 1}")
            own = workflows
            if raw is not data and "workflow" in raw:
                own = self.workflow_list(raw, "workflow")
            blocks.append(self.block(raw, index, own, base))
        sample = self.integer(data, "sample", None, minimum=1)
        output = data.get("output", f"runs/{name}")
        if not isinstance(output, str) or not output.strip():
            raise self.fail("output must be a directory path", self.line(data, "output"))
        description = data.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description must be text", self.line(data, "description"))
        return SweepSpec(
            name=name,
            path=self.path,
            workflows=dict(self.workflows),
            blocks=tuple(blocks),
            servers=self.servers(data),
            sample=sample,
            repeat=self.integer(data, "repeat", 1, minimum=1),
            seed=self.seed,
            output=self.relative(output),
            description=description,
            source=text,
        )

    # -- small readers ---------------------------------------------------------

    def line(self, data: _Map, key: str) -> int:
        return data.value_lines.get(key, data.line)

    def check_keys(self, data: _Map, valid: Sequence[str], where: str) -> None:
        for key in data:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(
                    f"unknown key {key!r} {where}{guess or '.'} Valid keys: {', '.join(valid)}",
                    data.key_lines[key],
                )

    def integer(self, data: _Map, key: str, default: Any, *, minimum: int) -> Any:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(
                f"{key} must be a whole number >= {minimum}, got {value!r}", self.line(data, key)
            )
        return value

    def mapping(self, data: _Map, key: str) -> _Map:
        value = data[key]
        if not isinstance(value, _Map) or not value:
            raise self.fail(
                f"{key} must be a non-empty mapping of ADDRESS: value (ADDRESS is NODE.INPUT, "
                f"e.g. KSampler.steps), got {_kind(value)}",
                self.line(data, key),
            )
        return value

    def sequence(self, data: _Map, key: str, expected: str) -> _Seq:
        value = data[key]
        if not isinstance(value, _Seq) or not value:
            raise self.fail(f"{key} must be {expected}, got {_kind(value)}", self.line(data, key))
        return value

    def relative(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    # -- workflows and addresses -----------------------------------------------

    def workflow_list(self, data: _Map, key: str) -> tuple[str, ...]:
        value, line = data[key], self.line(data, key)
        names = list(value) if isinstance(value, _Seq) else [value]
        lines = value.item_lines if isinstance(value, _Seq) else [line]
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise self.fail(
                "workflow must be a file name (an API-format .json relative to this spec) "
                f"or a non-empty list of them, got {value!r}",
                line,
            )
        if len(set(names)) != len(names):
            raise self.fail(f"workflow lists a file twice: {names}", line)
        for name, item_line in zip(names, lines, strict=True):
            if name not in self.workflows:
                self.workflows[name] = self.load_workflow(name, item_line)
        return tuple(names)

    def load_workflow(self, name: str, line: int) -> Workflow:
        path = self.relative(name)
        if not path.is_file():
            raise self.fail(
                f"workflow {name!r} not found: tried {path.resolve()}; paths are relative to "
                "the spec's directory, and the file must be an API-format export (.json)",
                line,
            )
        try:
            return load_workflow(path, name=name)
        except SpecError as exc:
            raise SpecError(
                f"{exc.reason} (named at {self.path}:{line})", path=exc.path, line=exc.line
            ) from None

    def address(self, key: object, line: int, workflows: Sequence[str]) -> str:
        if not isinstance(key, str):
            raise self.fail(f"address {key!r} must be NODE.INPUT, e.g. KSampler.seed", line)
        for name in workflows:
            try:
                self.workflows[name].resolve(key)
            except SpecError as exc:
                raise self.fail(exc.reason, line) from None
        return key

    # -- values ----------------------------------------------------------------

    def value(self, value: object, line: int, where: str, *, allow_list: bool = True) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"{where}: {value} is not a number ComfyUI accepts", line)
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, list) and allow_list:
            return [self.value(v, line, where) for v in value]
        what = "a literal list value" if isinstance(value, list) else _kind(value)
        raise self.fail(
            f"{where}: {what} is not allowed here; use a number, text or true/false", line
        )

    def column(self, address: str, raw: object, line: int, where: str) -> Sequence[Any]:
        if isinstance(raw, _Seq):
            if not raw:
                raise self.fail(
                    f"{where}: {address} has an empty list; give at least one value", line
                )
            values = tuple(
                self.value(v, vl, f"{where}: {address}")
                for v, vl in zip(raw, raw.item_lines, strict=True)
            )
            if where == "grid":
                self.check_unique(address, values, raw.item_lines)
            return values
        if isinstance(raw, _Map) and "range" in raw:
            self.check_keys(raw, ("range",), f"in {address}'s range")
            return self.number_range(address, raw["range"], self.line(raw, "range"))
        if isinstance(raw, _Map) and "random" in raw:
            self.check_keys(raw, ("random", "min", "max"), f"in {address}'s random")
            return self.random_seeds(address, raw)
        if isinstance(raw, _Map):
            self.check_keys(raw, ("range", "random"), f"in {address}'s values")
        raise self.fail(
            f"{where}: {address} must be a list of values, {{range: [start, stop, step]}} or "
            f"{{random: N}}, got {_kind(raw)}; to give every run one value, put it under set:",
            line,
        )

    def check_unique(self, what: str, values: Sequence[Any], lines: Sequence[int]) -> None:
        """Reject a repeated value: it would give two runs with one set of parameters."""
        first: dict[str, int] = {}
        for i, value in enumerate(values):
            key = json.dumps(value, sort_keys=True)
            if key in first:
                raise self.fail(
                    f"{what} lists {value!r} twice (lines {lines[first[key]]} and {lines[i]}); "
                    "list each value once (repeat: runs every combination again)",
                    lines[i],
                )
            first[key] = i

    def number_range(self, address: str, raw: object, line: int) -> Sequence[Any]:
        numbers = list(raw) if isinstance(raw, list) else None
        usage = (
            "range must be [stop], [start, stop] or [start, stop, step] with numbers, "
            "stop excluded as in Python's range (a float anywhere steps exactly in decimal)"
        )
        if not numbers or len(numbers) > 3 or not all(_is_number(n) for n in numbers):
            raise self.fail(f"{address}: {usage}, got {raw!r}", line)
        if len(numbers) == 1:
            numbers.insert(0, 0)
        if len(numbers) == 2:
            numbers.append(1)
        if numbers[2] == 0:
            raise self.fail(f"{address}: range step must not be 0", line)
        if all(isinstance(n, int) for n in numbers):
            values: Sequence[Any] = range(*numbers)
        else:
            values = DecimalRange(*(Decimal(repr(n)) for n in numbers))
        if not len(values):
            raise self.fail(f"{address}: range {raw!r} is empty; {usage}", line)
        return values

    def random_seeds(self, address: str, raw: _Map) -> tuple[int, ...]:
        count = self.integer(raw, "random", None, minimum=1)
        low = self.integer(raw, "min", 0, minimum=0)
        high = self.integer(raw, "max", RANDOM_MAX, minimum=low)
        size = high - low + 1
        if count > min(size, RANDOM_LIMIT):
            raise self.fail(
                f"{address}: cannot draw {count} distinct seeds from {low}..{high}; "
                f"random: N must be at most {min(size, RANDOM_LIMIT)} (use range: for more)",
                self.line(raw, "random"),
            )
        stream = DrawStream(self.seed, f"random:{address}")
        return tuple(low + v for v in draw_distinct(count, size, stream))

    # -- blocks ----------------------------------------------------------------

    def block(self, raw: _Map, index: int, workflows: tuple[str, ...], base: _Map | None) -> Block:
        # address -> (section, line): each input is named in one place per block
        where: dict[str, tuple[str, int]] = {}
        fixed: dict[str, Any] = {}
        if base is not None:
            self.read_set(base, workflows, fixed, None)
        if "set" in raw:
            self.read_set(self.mapping(raw, "set"), workflows, fixed, where)
        axes: list[Axis] = []
        if len(workflows) > 1:
            axes.append(Axis(("workflow",), (workflows,), self.line(raw, "workflow"), "workflow"))
        if "grid" in raw:
            grid = self.mapping(raw, "grid")
            for key, value in grid.items():
                line = grid.key_lines[key]
                address = self.claim(where, self.address(key, line, workflows), "grid", line)
                column = self.column(address, value, grid.value_lines[key], "grid")
                axes.append(Axis((address,), (column,), line))
        for group, line in self.zip_groups(raw):
            addresses, columns = [], []
            for key, value in group.items():
                key_line = group.key_lines[key]
                address = self.claim(where, self.address(key, key_line, workflows), "zip", key_line)
                addresses.append(address)
                columns.append(self.column(address, value, group.value_lines[key], "zip"))
            lengths = [len(c) for c in columns]
            if len(set(lengths)) > 1:
                counts = [f"{a} has {n}" for a, n in zip(addresses, lengths, strict=True)]
                raise self.fail(
                    f"zip group at line {line}: {counts[0]} values, {', '.join(counts[1:])}; "
                    "a zip group pairs values by "
                    "position, so every list in it needs the same length",
                    line,
                )
            if all(isinstance(c, tuple) for c in columns):
                rows = list(zip(*columns, strict=True))
                self.check_unique(f"zip group at line {line}", rows, [line] * len(rows))
            axes.append(Axis(tuple(addresses), tuple(columns), line, "zip"))
        for address, (section, _) in where.items():
            if section != "set":
                fixed.pop(address, None)  # a block may sweep what the top-level set fixes
        self.check_aliases(where, fixed, workflows)
        swept = {a for axis in axes for a in axis.addresses}
        exclude = self.combinations(raw, "exclude", swept, workflows)
        for combo in exclude:
            self.check_matches(axes, combo)
        include = self.combinations(raw, "include", swept | set(fixed) | {"workflow"}, workflows)
        if len(workflows) > 1:
            for combo in include:
                if "workflow" not in combo.values:
                    raise self.fail(
                        f"include at line {combo.line}: this block sweeps workflows "
                        f"{', '.join(workflows)}; add workflow: to say which this run uses",
                        combo.line,
                    )
        has_product = bool({"grid", "zip"} & set(raw)) or not include
        return Block(index, raw.line, workflows, fixed, tuple(axes), exclude, include, has_product)

    def read_set(
        self,
        sets: _Map,
        workflows: Sequence[str],
        fixed: dict[str, Any],
        where: dict[str, tuple[str, int]] | None,
    ) -> None:
        for key, value in sets.items():
            line = sets.key_lines[key]
            address = self.address(key, line, workflows)
            fixed[address] = self.value(value, sets.value_lines[key], f"set: {address}")
            if where is not None:
                where[address] = ("set", line)

    def claim(
        self, where: dict[str, tuple[str, int]], address: str, section: str, line: int
    ) -> str:
        if address in where:
            first, first_line = where[address]
            raise self.fail(
                f"{address} is already in {first} at line {first_line}; an input is set in one "
                "place per block (set: for one value, grid: or zip: to vary it)",
                line,
            )
        where[address] = (section, line)
        return address

    def check_aliases(
        self, where: dict[str, tuple[str, int]], fixed: Mapping[str, Any], workflows: Sequence[str]
    ) -> None:
        for name in workflows:
            seen: dict[str, str] = {}
            for address in [*fixed, *where]:
                target = str(self.workflows[name].resolve(address))
                if target in seen and seen[target] != address:
                    line = where.get(address, ("set", None))[1]
                    raise self.fail(
                        f"{seen[target]} and {address} are the same input ({target}) of "
                        f"{name}; name it once",
                        line,
                    )
                seen[target] = address

    def zip_groups(self, raw: _Map) -> list[tuple[_Map, int]]:
        if "zip" not in raw:
            return []
        value = raw["zip"]
        if isinstance(value, _Map):
            value = _Seq([value])
            value.line, value.item_lines = value[0].line, [value[0].line]
        if not isinstance(value, _Seq) or not value:
            raise self.fail(
                "zip must be a list of groups, each a mapping of ADDRESS: [values] of one length, "
                "e.g. [{Positive.text: [a, b], Negative.text: [c, d]}]; got " + _kind(value),
                self.line(raw, "zip"),
            )
        out = []
        for group, line in zip(value, value.item_lines, strict=True):
            if not isinstance(group, _Map) or not group:
                raise self.fail(
                    f"zip group at line {line} must be a mapping of ADDRESS: [values]", line
                )
            out.append((group, line))
        return out

    def combinations(
        self, raw: _Map, key: str, allowed: set[str], workflows: tuple[str, ...]
    ) -> tuple[Combination, ...]:
        if key not in raw:
            return ()
        entries = self.sequence(raw, key, "a list of mappings, e.g. [{KSampler.cfg: 10.0}]")
        out = []
        for entry, line in zip(entries, entries.item_lines, strict=True):
            if not isinstance(entry, _Map) or not entry:
                raise self.fail(f"each {key} entry must be a mapping of ADDRESS: value", line)
            values: dict[str, Any] = {}
            for name, value in entry.items():
                key_line = entry.key_lines[name]
                if name not in allowed:
                    what = "swept (in grid:, zip: or a workflow list)"
                    if key == "include":
                        what = "set, swept or 'workflow'"
                    raise self.fail(
                        f"{key} names {name!r}, which this block does not have {what}; "
                        f"valid here: {', '.join(sorted(allowed)) or 'nothing'}",
                        key_line,
                    )
                if name == "workflow" and value not in workflows:
                    raise self.fail(
                        f"{key}: workflow {value!r} is not one of {', '.join(workflows)}", key_line
                    )
                values[name] = self.value(value, key_line, f"{key}: {name}", allow_list=False)
            out.append(Combination(values, line))
        return tuple(out)

    def check_matches(self, axes: Sequence[Axis], combo: Combination) -> None:
        found = exclusion_positions(axes, combo)
        for a, positions in found.items():
            if positions:
                continue
            axis = axes[a]
            named = [x for x in axis.addresses if x in combo.values]
            if len(named) == 1:
                shown = ", ".join(
                    repr(v) for v in list(axis.columns[axis.addresses.index(named[0])][:10])
                )
                more = ", ..." if len(axis) > 10 else ""
                raise self.fail(
                    f"exclude at line {combo.line}: {named[0]}: {combo.values[named[0]]!r} is "
                    f"not one of the swept values ({shown}{more}), so it excludes nothing",
                    combo.line,
                )
            raise self.fail(
                f"exclude at line {combo.line}: no position of the zip group at line "
                f"{axis.line} pairs {', '.join(f'{x}={combo.values[x]!r}' for x in named)}, "
                "so it excludes nothing",
                combo.line,
            )

    # -- servers ---------------------------------------------------------------

    def servers(self, data: _Map) -> tuple[ServerConfig, ...]:
        if "servers" not in data:
            return ()
        if isinstance(data["servers"], str):
            entries = [(data["servers"], self.line(data, "servers"))]
        else:
            seq = self.sequence(data, "servers", "a list of URLs or {url:, headers:} mappings")
            entries = list(zip(seq, seq.item_lines, strict=True))
        out: dict[str, ServerConfig] = {}
        for entry, line in entries:
            fields = entry if isinstance(entry, _Map) else _Map(url=entry)
            self.check_keys(fields, ("url", "headers", "name"), "in a server")
            if "url" not in fields:
                raise self.fail("a server mapping needs url:, e.g. url: http://host:8188", line)
            headers = fields.get("headers", {})
            texts = [fields["url"], fields.get("name", "")]
            if not isinstance(headers, dict) or not all(isinstance(t, str) for t in texts):
                raise self.fail(
                    "a server is a URL, or a mapping with url:, optional name: and headers: "
                    "(a mapping of header: text, ${VAR} taken from the environment)",
                    line,
                )
            try:
                server = ServerConfig(
                    expand_env(fields["url"], env=self.environ),
                    name=expand_env(fields.get("name", ""), env=self.environ),
                    headers={
                        str(k): expand_env(str(v), env=self.environ) for k, v in headers.items()
                    },
                )
            except SpecError as exc:
                hint = "; export it, or write the value in the spec"
                reason = exc.reason + (hint if "environment" in exc.reason else "")
                raise self.fail(reason, line) from None
            if server.url in out:
                raise self.fail(f"server {server.url} is listed twice", line)
            out[server.url] = server
        return tuple(out.values())


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, (_Map, dict)):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"
