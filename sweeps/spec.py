"""Sweep specs: YAML in, a validated :class:`SweepSpec` out, errors at file:line.

A spec names an API-format workflow, the inputs to vary and how (see
``sample_workflows/sampler_shootout.yaml``). Everything is checked on load,
before a single prompt is queued: each address against the workflow, each
``exclude`` value against the values swept, zip lengths, server URLs and the
environment variables they use. Every error is a :class:`SpecError` whose
``path`` and ``line`` point at the place to fix and whose message says what
would be valid there.

Line numbers come from :mod:`sweeps.yaml_lines`, whose loader builds dicts and
lists that remember where each key, value and item started. Grid values,
ranges, random seeds and zip groups are read by :mod:`sweeps.spec_values`; this
module reads the rest (blocks, workflows, addresses, include/exclude, servers)
and hands ``plot:`` to :mod:`sweeps.spec_plots` once the blocks are known.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sweeps.config import ServerConfig, expand_env
from sweeps.errors import SpecError
from sweeps.grid import count_runs, exclusion_positions
from sweeps.spec_plots import PlotReader, PlotSpec
from sweeps.spec_values import ValueReader, value_key
from sweeps.user_files import read_user_file
from sweeps.workflow import Workflow, load_workflow
from sweeps.yaml_lines import LineMap, LineSeq, kind_of, line_of, load_yaml_with_lines

__all__ = ["Axis", "Block", "Combination", "PlotSpec", "SweepSpec", "load_spec"]

_NO_VALUE: Any = object()
RUN_LIMIT = sys.maxsize  # len() of a grid is a Python index
TOP_KEYS = (
    "name",
    "description",
    "workflow",
    "servers",
    "seed",
    "sample",
    "repeat",
    "output",
    "plot",
)
BLOCK_KEYS = ("workflow", "set", "grid", "zip", "exclude", "include")


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
    plots: tuple[PlotSpec, ...] = ()
    source: str = field(default="", repr=False)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    """Spec line of each top-level key, address and (address, value): see :meth:`line_for`."""

    def line_for(self, key: str, value: Any = _NO_VALUE) -> int | None:
        """The spec line that gives ``value`` to address ``key`` (or names ``key``), if known.

        Preflight uses it to point a value a server refuses back at the line to fix.
        """
        if value is not _NO_VALUE:
            found = self.lines.get(value_key(key, value))
            if found is not None:
                return found
        return self.lines.get(key)


def load_spec(path: str | Path, *, environ: Mapping[str, str] | None = None) -> SweepSpec:
    """Read, check and resolve a sweep spec; relative paths are relative to its file.

    ``environ`` (default :data:`os.environ`) supplies ``${VAR}`` in servers.

    >>> spec = load_spec("sample_workflows/model_free_sweep.yaml")  # doctest: +SKIP
    """
    spec_path = Path(path)
    text = read_user_file(
        spec_path, what="spec file", expected="the spec's YAML file", utf8_fix="save it as UTF-8"
    )
    data = load_yaml_with_lines(text, path)
    return _SpecReader(spec_path, environ if environ is not None else os.environ).read(data, text)


class _SpecReader(ValueReader):
    """Turns the line-annotated YAML into a SweepSpec, raising at the first problem."""

    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        super().__init__(path)
        self.environ = environ
        self.workflows: dict[str, Workflow] = {}

    def read(self, data: object, text: str) -> SweepSpec:
        if not isinstance(data, LineMap) or not data:
            got = "the file is empty" if data is None else f"it holds {kind_of(data)}"
            raise self.fail(
                f"{got}; a spec must be a mapping with at least workflow: and grid:, e.g. "
                "'workflow: txt2img.json' and 'grid: {KSampler.seed: {random: 4}}'",
                getattr(data, "line", 1),
            )
        if "blocks" in data:
            self.check_top_keys(data, (*TOP_KEYS, "set", "blocks"), "with blocks")
        else:
            self.check_top_keys(data, (*TOP_KEYS, *BLOCK_KEYS[1:]), "")
        self.seed = self.integer(data, "seed", 0, minimum=0)
        if "workflow" not in data and "blocks" not in data:
            raise self.fail(
                "the spec has no workflow: key; add 'workflow: <file>.json', an API-format "
                "export, relative to this spec (a list of files makes the workflow an axis)",
                data.line,
            )
        # With blocks, a top-level workflow is only the default for blocks without one.
        workflows = self.workflow_list(data, "workflow") if "workflow" in data else ()
        name = data.get("name", self.path.stem)
        if not isinstance(name, str) or not name.strip() or re.search(r"[/\\]", name):
            raise self.fail(
                f"name must be a short text without slashes, got {name!r}", line_of(data, "name")
            )
        raw_blocks: Sequence[object]
        if "blocks" in data:
            raw_blocks = self.sequence(data, "blocks", "a list of blocks (each a mapping)")
            lines = raw_blocks.item_lines
        else:
            raw_blocks, lines = [data], [data.line]
        base = self.mapping(data, "set") if "blocks" in data and "set" in data else None
        blocks = []
        for index, (raw, line) in enumerate(zip(raw_blocks, lines, strict=True)):
            if not isinstance(raw, LineMap):
                raise self.fail(
                    f"block {index + 1} must be a mapping with {', '.join(BLOCK_KEYS)}", line
                )
            if raw is not data:
                self.check_keys(raw, BLOCK_KEYS, f"in block {index + 1}")
            own = workflows
            if raw is not data and "workflow" in raw:
                own = self.workflow_list(raw, "workflow")
            if not own:
                raise self.fail(
                    f"block {index + 1} (line {line}) has no workflow:, and the spec has no "
                    "top-level workflow: for it to use; add 'workflow: <file>.json' to this "
                    "block, or one at the top for every block without its own",
                    line,
                )
            blocks.append(self.block(raw, index, own, base))
        sample = self.integer(data, "sample", None, minimum=1)
        output = data.get("output", f"runs/{name}")
        if not isinstance(output, str) or not output.strip():
            raise self.fail(
                f"output must be a directory path (text), got {kind_of(output)}",
                line_of(data, "output"),
            )
        description = data.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description must be text", line_of(data, "description"))
        for key in data:
            self.lines.setdefault(str(key), data.key_lines[key])
        repeat = self.integer(data, "repeat", 1, minimum=1)
        self.check_size(blocks, data, sample, repeat)
        plots = PlotReader(self, blocks, self.workflows).read(data) if "plot" in data else ()
        return SweepSpec(
            name=name,
            path=self.path,
            workflows=dict(self.workflows),
            blocks=tuple(blocks),
            servers=self.servers(data),
            sample=sample,
            repeat=repeat,
            seed=self.seed,
            output=self.relative(output),
            description=description,
            plots=plots,
            source=text,
            lines=dict(self.lines),
        )

    def check_size(
        self, blocks: Sequence[Block], data: LineMap, sample: int | None, repeat: int
    ) -> None:
        """Refuse a grid that excludes everything, a sample bigger than what it samples
        from, and a run count too large to count (a sweep that could never finish)."""
        population = 0
        for block in blocks:
            full, kept = count_runs(block)
            if block.has_product and full and not kept:
                raise self.fail(
                    f"exclude removes every one of the {full} runs of "
                    + (f"block {block.index + 1}" if len(blocks) > 1 else "the grid")
                    + "; remove or narrow an exclude pattern",
                    block.exclude[0].line if block.exclude else block.line,
                )
            population += kept
        if sample is not None and sample > population:
            raise self.fail(
                f"sample: {sample} is more than the {population} runs the grid has"
                + (" after exclude" if any(b.exclude for b in blocks) else "")
                + f"; give at most {population}, or drop sample: to run every one",
                line_of(data, "sample"),
            )
        includes = sum(len(b.include) for b in blocks)
        total = (min(population, sample or population) + includes) * repeat
        if total > RUN_LIMIT:
            raise self.fail(
                f"this spec describes {total:,} runs, more than can be counted ({RUN_LIMIT:,}); "
                "add sample: N to run N of them chosen at random",
                data.line,
            )

    # -- paths -----------------------------------------------------------------

    def relative(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    # -- workflows and addresses -----------------------------------------------

    def workflow_list(self, data: LineMap, key: str) -> tuple[str, ...]:
        value, line = data[key], line_of(data, key)
        names = list(value) if isinstance(value, LineSeq) else [value]
        lines = value.item_lines if isinstance(value, LineSeq) else [line]
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

    # -- blocks ----------------------------------------------------------------

    def block(
        self, raw: LineMap, index: int, workflows: tuple[str, ...], base: LineMap | None
    ) -> Block:
        # address -> (section, line): each input is named in one place per block
        where: dict[str, tuple[str, int]] = {}
        fixed: dict[str, Any] = {}
        if base is not None:
            self.read_set(base, workflows, fixed, None)
        if "set" in raw:
            self.read_set(self.mapping(raw, "set"), workflows, fixed, where)
        axes: list[Axis] = []
        if len(workflows) > 1:
            axes.append(Axis(("workflow",), (workflows,), line_of(raw, "workflow"), "workflow"))
        if "grid" in raw:
            grid = self.mapping(raw, "grid")
            for key, value in grid.items():
                line = grid.key_lines[key]
                address = self.claim(where, self.address(key, line, workflows), "grid", line)
                self.note(address, line, has_value=False)
                column = self.column(address, value, grid.value_lines[key], "grid")
                axes.append(Axis((address,), (column,), line))
        for group, line in self.zip_groups(raw):
            addresses, columns = [], []
            for key, value in group.items():
                key_line = group.key_lines[key]
                address = self.claim(where, self.address(key, key_line, workflows), "zip", key_line)
                self.note(address, key_line, has_value=False)
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
        sets: LineMap,
        workflows: Sequence[str],
        fixed: dict[str, Any],
        where: dict[str, tuple[str, int]] | None,
    ) -> None:
        for key, value in sets.items():
            line = sets.key_lines[key]
            address = self.address(key, line, workflows)
            fixed[address] = self.value(value, sets.value_lines[key], f"set: {address}")
            self.note(address, line, fixed[address])
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

    def combinations(
        self, raw: LineMap, key: str, allowed: set[str], workflows: tuple[str, ...]
    ) -> tuple[Combination, ...]:
        if key not in raw:
            return ()
        entries = self.sequence(raw, key, "a list of mappings, e.g. [{KSampler.cfg: 10.0}]")
        out = []
        for entry, line in zip(entries, entries.item_lines, strict=True):
            if not isinstance(entry, LineMap) or not entry:
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
                self.note(name, key_line, values[name])
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

    def servers(self, data: LineMap) -> tuple[ServerConfig, ...]:
        if "servers" not in data:
            return ()
        if isinstance(data["servers"], str):
            entries = [(data["servers"], line_of(data, "servers"))]
        else:
            seq = self.sequence(data, "servers", "a list of URLs or {url:, headers:} mappings")
            entries = list(zip(seq, seq.item_lines, strict=True))
        out: dict[str, ServerConfig] = {}
        for entry, line in entries:
            fields = entry if isinstance(entry, LineMap) else LineMap(url=entry)
            self.check_keys(fields, ("url", "headers", "name"), "in a server")
            if "url" not in fields:
                raise self.fail("a server mapping needs url:, e.g. url: http://host:8188", line)
            headers = fields.get("headers", {})
            texts = [fields["url"], fields.get("name", "")]
            scalars = all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool)
                for v in (headers.values() if isinstance(headers, dict) else ())
            )
            if (
                not isinstance(headers, dict)
                or not scalars
                or not all(isinstance(t, str) for t in texts)
            ):
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
