"""A spec's ``plot:``: the X/Y plots to draw when the sweep ends, checked on load.

A plot names report columns (``x``, ``y`` and the keys of ``where``), so each must
be an address some block sets or sweeps, written as the spec writes it; a
``where`` value must be one the sweep gives that address, or no run would match.
Like the rest of a spec, every mistake is a :class:`~sweeps.errors.SpecError` at
its line that lists what would be valid. The drawing is :mod:`sweeps.xyplot`'s,
done by :func:`sweeps.runner.draw_plots`; this module needs neither polars nor
matplotlib, so loading a spec stays cheap.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.errors import SpecError
from sweeps.grid import positions_of
from sweeps.spec_values import ValueReader
from sweeps.workflow import Workflow
from sweeps.yaml_lines import LineMap, LineSeq, kind_of, line_of

if TYPE_CHECKING:
    from sweeps.spec import Block

__all__ = [
    "PLOT_SUFFIXES",
    "PlotReader",
    "PlotSpec",
    "default_plot_file",
    "report_columns",
    "safe_file_name",
]

PLOT_KEYS = ("x", "y", "where", "name")
PLOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")
"""What a plot's ``name:`` may end in; any other ending gets ``.png`` (``cfg-7.5`` is a name)."""
_REFUSED_SUFFIXES = (".gif", ".webp", ".bmp", ".tif", ".tiff", ".eps", ".ps")


@dataclass(frozen=True)
class PlotSpec:
    """An X/Y plot the spec asks for under ``plot:``, drawn into ``OUT/<file>`` when the
    sweep ends. Its addresses are report columns: each was checked on load."""

    x: str
    y: str | None
    where: Mapping[str, Any] = field(hash=False)
    file: str
    line: int


def safe_file_name(name: str) -> str:
    """Addresses may hold node titles with spaces or slashes; a file name may not hold a slash."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def default_plot_file(x: str, y: str | None, z: str | None = None) -> str:
    """``xy-X-Y.png`` (``xyz-X-Y-Z.png`` with a Z axis): where ``comfyfleet grid`` and a
    spec's unnamed plot both write."""
    prefix = "xy-" if z is None else "xyz-"
    return safe_file_name(prefix + "-".join(a for a in (x, y, z) if a) + ".png")


class PlotReader:
    """Reads ``plot:`` with a spec reader's checks, against the blocks it has read."""

    def __init__(
        self, reader: ValueReader, blocks: Sequence[Block], workflows: Mapping[str, Workflow]
    ) -> None:
        self.reader = reader
        self.workflows = workflows
        self.columns = report_columns(blocks)

    def read(self, data: LineMap) -> tuple[PlotSpec, ...]:
        """``plot:``, one mapping or a list; two plots may not write one file."""
        raw, line = data["plot"], line_of(data, "plot")
        entries = list(zip(raw, raw.item_lines, strict=True)) if isinstance(raw, LineSeq) else []
        if isinstance(raw, LineMap):
            entries = [(raw, line)]
        bad = [(e, at) for e, at in entries if not isinstance(e, LineMap) or not e]
        if not entries or bad:
            raise self.reader.fail(
                "plot must be a mapping of x: ADDRESS and optional y:, where:, name:, or a "
                "list of them, e.g. {x: KSampler.cfg, y: KSampler.sampler_name}; got "
                + kind_of(bad[0][0] if bad else raw),
                bad[0][1] if bad else line,
            )
        plots: dict[str, PlotSpec] = {}
        for entry, at in entries:
            plot = self.plot(entry, at)
            if plot.file in plots:
                raise self.reader.fail(
                    f"the plot at line {plots[plot.file].line} also writes {plot.file}; "
                    "give one of them a name: of its own",
                    at,
                )
            plots[plot.file] = plot
        return tuple(plots.values())

    def plot(self, entry: LineMap, line: int) -> PlotSpec:
        self.reader.check_keys(entry, PLOT_KEYS, "in a plot")
        if "x" not in entry:
            raise self.reader.fail(
                "a plot needs x:, the address across (one column per value), e.g. "
                f"x: KSampler.cfg; this sweep has {', '.join(self.columns)}",
                line,
            )
        x = self.address(entry["x"], line_of(entry, "x"), "x")
        y = self.address(entry["y"], line_of(entry, "y"), "y") if "y" in entry else None
        if y == x:
            raise self.reader.fail(
                f"plot x: and y: are both {x}; choose two addresses", line_of(entry, "y")
            )
        where: dict[str, Any] = {}
        filters = self.reader.mapping(entry, "where") if "where" in entry else LineMap()
        for key, raw in filters.items():
            at = filters.key_lines[key]
            address = self.address(key, at, "where")
            if address in (x, y):
                axis = "x" if address == x else "y"
                raise self.reader.fail(
                    f"plot where: {address} is the plot's {axis} axis; where: keeps the runs "
                    "with one value of another address",
                    at,
                )
            value = self.reader.value(raw, at, f"plot where: {address}", allow_list=False)
            if not any(positions_of(column, value) for column in self.columns[address]):
                raise self.reader.fail(
                    f"plot where: {address}: {value!r} is not one of its values "
                    f"({_some_values(self.columns[address])}), so no run would match",
                    at,
                )
            where[address] = value
        return PlotSpec(x, y, where, self.file(entry, x, y), line)

    def address(self, key: object, line: int, what: str) -> str:
        """A report column: an address some block sets or sweeps, written as the spec does."""
        if isinstance(key, str) and key in self.columns:
            return key
        hint = ""
        if isinstance(key, str):
            alias = self.same_input(key)
            close = difflib.get_close_matches(key, list(self.columns), n=1, cutoff=0.6)
            if alias:
                hint = f"; it is the input this spec calls {alias}, so write that."
            elif close:
                hint = f"; did you mean {close[0]!r}?"
        raise self.reader.fail(
            f"plot {what}: {key!r} is not an address this sweep sets or varies, so the report "
            f"has no column for it{hint or '.'} Valid: {', '.join(self.columns) or 'nothing'}",
            line,
        )

    def same_input(self, key: str) -> str | None:
        """How this spec writes the input ``key`` names: ``KSampler.cfg`` for ``3.cfg``."""
        for workflow in self.workflows.values():
            try:
                target = workflow.resolve(key)
            except SpecError:
                continue
            for address in self.columns:
                try:
                    if workflow.resolve(address) == target:
                        return address
                except SpecError:
                    continue
        return None

    def file(self, entry: LineMap, x: str, y: str | None) -> str:
        if "name" not in entry:
            return default_plot_file(x, y)
        name, line = entry["name"], line_of(entry, "name")
        if not isinstance(name, str) or not name.strip(" .") or re.search(r"[/\\\x00]", name):
            raise self.reader.fail(
                "plot name must be a file name without slashes (the plot is written into the "
                f"sweep's output directory), got {kind_of(name)}",
                line,
            )
        suffix = Path(name).suffix.lower()
        if suffix in _REFUSED_SUFFIXES:
            raise self.reader.fail(
                f"plot name {name!r}: a plot is drawn as {', '.join(PLOT_SUFFIXES)}, "
                f"not {suffix}; without a suffix it is .png",
                line,
            )
        return name if suffix in PLOT_SUFFIXES else f"{name}.png"


def report_columns(blocks: Sequence[Block]) -> dict[str, list[Sequence[Any]]]:
    """Each address the report has a column for, in its order (that of
    ``Grid.values_by_address``), with the columns of values it can take."""
    out: dict[str, list[Sequence[Any]]] = {}
    for block in blocks:
        for address, value in block.fixed.items():
            out.setdefault(address, []).append((value,))
        for axis in block.axes:
            if axis.kind != "workflow":
                for address, column in zip(axis.addresses, axis.columns, strict=True):
                    out.setdefault(address, []).append(column)
        for combo in block.include:
            for address, value in combo.values.items():
                if address != "workflow":
                    out.setdefault(address, []).append((value,))
    return out


def _some_values(columns: Sequence[Sequence[Any]], limit: int = 10) -> str:
    shown: dict[str, Any] = {}
    for column in columns:
        for value in column[:limit] if len(column) > limit else column:
            shown.setdefault(repr(value), value)
    more = ", ..." if len(shown) > limit or any(len(c) > limit for c in columns) else ""
    return ", ".join(list(shown)[:limit]) + more
