"""The X/Y plot of a sweep: its images in a grid, one swept value per column and
per row, the way samplers, cfg scales or checkpoints are compared at a glance.

Choosing the cells is polars over the report (:func:`plan_xy_plot`, no
drawing); drawing them is matplotlib's ``ImageGrid`` (:func:`render_xy_plot`),
which lays out labelled rows and columns and writes PNG, JPEG, PDF or SVG.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .errors import SpecError
from .report import REPORT_NAME, load_report, param_columns, report_files, report_metadata

__all__ = ["Cell", "XYPlot", "parse_where", "plan_xy_plot", "plan_xyz_plot", "render_xy_plot"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})


@dataclass(frozen=True)
class Cell:
    """One place in the plot: the image of the first run that fits it, or why none does."""

    x: Any
    y: Any
    image: Path | None
    run_index: int | None
    note: str = ""
    """Shown instead of an image: ``failed``, ``no image``, ``no run``, with the error type."""
    status: str | None = None
    """How the cell's run ended; None when no run fits the cell."""


@dataclass(frozen=True)
class XYPlot:
    title: str
    x: str
    y: str | None
    xs: tuple[Any, ...]
    ys: tuple[Any, ...]
    """``(None,)`` when there is no Y axis: a single row."""
    cells: tuple[Cell, ...]
    """Row by row, ``len(xs) * len(ys)`` of them."""
    varying: Mapping[str, int]
    """Other swept addresses that still vary within a cell, with their value counts:
    each cell shows its first run, and ``--where`` chooses another."""
    where: Mapping[str, Any] = field(default_factory=dict)
    """The filter the runs passed, shown in the heading so a plot says what it holds."""

    @property
    def heading(self) -> str:
        axes = self.x + (f" \u00d7 {self.y}" if self.y else "")
        where = ", ".join(f"{k} = {_label(v)}" for k, v in self.where.items())
        return f"{self.title}: {axes}" + (f" (where {where})" if where else "")

    def warnings(self) -> list[str]:
        return [
            f"{address} has {count} values within each cell; each cell shows its first run "
            f"(choose with --where {address}=VALUE)"
            for address, count in self.varying.items()
        ]


def parse_where(items: Sequence[str]) -> dict[str, str]:
    """``["KSampler.seed=3"]`` -> ``{"KSampler.seed": "3"}``; values are typed later,
    against the report's column."""
    where: dict[str, str] = {}
    for item in items:
        address, eq, value = item.partition("=")
        if not eq or not address.strip():
            raise SpecError(f"--where {item!r}: expected ADDRESS=VALUE, e.g. KSampler.seed=3")
        where[address.strip()] = value.strip()
    return where


def plan_xy_plot(
    path: str | Path, *, x: str, y: str | None = None, where: Mapping[str, Any] | None = None
) -> XYPlot:
    """Choose the image for every (x, y) cell of the report in ``path`` (an output
    directory or its Parquet file). Numeric axes ascend; others keep the spec's order.
    """
    report = _Report.open(path, x, y, where)
    df = report.plotted(x, y)
    return report.plot(df, x, y, where or {}, _axis(df[x]), _axis(df[y]) if y else (None,))


def plan_xyz_plot(
    path: str | Path,
    *,
    x: str,
    y: str | None = None,
    z: str,
    where: Mapping[str, Any] | None = None,
) -> tuple[XYPlot, ...]:
    """One X/Y plot per value of ``z``: the facets of an X/Y/Z plot. Every facet has
    the same columns and rows, so they line up when stacked; a value whose runs
    all lack X or Y has no facet."""
    if z in (x, y):
        raise SpecError(f"--z is {z}, which is already an axis: choose a third address")
    report = _Report.open(path, x, y, where, z)
    df = report.plotted(x, y, z)
    xs, ys = _axis(df[x]), _axis(df[y]) if y else (None,)
    return tuple(
        report.plot(df.filter(pl.col(z) == value), x, y, {**(where or {}), z: value}, xs, ys)
        for value in _axis(df[z])
    )


@dataclass(frozen=True)
class _Report:
    """A report's runs, filtered by ``--where``, with what a plot needs to know of it."""

    df: pl.DataFrame
    params: Sequence[str]
    file: Path
    out_dir: Path
    title: str

    @classmethod
    def open(
        cls, path: str | Path, x: str, y: str | None, where: Mapping[str, Any] | None, *more: str
    ) -> _Report:
        report_file = Path(path)
        out_dir = report_file.parent if report_file.suffix == ".parquet" else report_file
        if not report_files(path):
            raise SpecError(f"{out_dir}: no {REPORT_NAME} here; pass a sweep's output directory")
        df = load_report(path).sort("run_index")
        params = param_columns(df)
        for address in (x, *([y] if y is not None else []), *more):
            _check_address(address, params, report_file)
        if y == x:
            raise SpecError(f"--x and --y are both {x}: choose two different addresses")
        for address, value in (where or {}).items():
            _check_address(address, params, report_file)
            df = df.filter(pl.col(address) == _typed(df[address], value, address))
        if df.is_empty():
            raise SpecError(f"no run of {report_file} matches --where {_where_text(where)}")
        name = report_metadata(path).get("sweep")
        title = name if isinstance(name, str) else out_dir.name
        return cls(df, params, report_file, out_dir, title)

    def plotted(self, *axes: str | None) -> pl.DataFrame:
        """The runs with a value on every axis: a run without one ran a workflow
        without that input, and is not part of the plot."""
        named = [a for a in axes if a is not None]
        df = self.df.filter(pl.all_horizontal(pl.col(a).is_not_null() for a in named))
        if df.is_empty():
            raise SpecError(f"no run of {self.file} has a value for {' and '.join(named)}")
        return df

    def plot(
        self,
        df: pl.DataFrame,
        x: str,
        y: str | None,
        where: Mapping[str, Any],
        xs: tuple[Any, ...],
        ys: tuple[Any, ...],
    ) -> XYPlot:
        axes = [x] if y is None else [x, y]
        cells = tuple(_cell(df, x, xv, y, yv, self.out_dir) for yv in ys for xv in xs)
        fixed = {x, y, *where}
        varying: dict[str, int] = {}
        for address in self.params:
            if address in fixed or (count := _within_cell(df, address, *axes)) <= 1:
                continue
            # A zip partner (Negative.text beside Positive.text) varies in step with an
            # address already named: choosing that one chooses this one too.
            if not any(_in_step(df, address, named, axes) for named in varying):
                varying[address] = count
        return XYPlot(self.title, x, y, xs, ys, cells, varying, dict(where))


CELL_COLOURS = {None: "#eeeeee", "success": "#eeeeee", "rejected": "#e6e6e6"}
"""Backgrounds of cells without an image; a run that failed or was interrupted is red."""
FAILED_COLOUR = "#f4c7c3"


def render_xy_plot(
    plot: XYPlot | Sequence[XYPlot],
    dest: str | os.PathLike[str],
    *,
    cell_px: int = 256,
    dpi: int = 100,
) -> Path:
    """Draw ``plot`` into ``dest``; its suffix picks the format (.png, .jpg, .pdf, .svg).

    Several plots (the pages of :func:`plan_xyz_plot`) are drawn one above the other,
    each under its own heading, as the facets of one image.
    """
    # Figure, not pyplot: no global state, no GUI backend, safe inside a notebook.
    from matplotlib.figure import Figure

    pages = [plot] if isinstance(plot, XYPlot) else list(plot)
    columns = max(len(p.xs) for p in pages)
    rows = [len(p.ys) for p in pages]
    cell_in = cell_px / dpi
    heading_in = 0.6
    figure = Figure(
        figsize=(columns * cell_in, sum(rows) * cell_in + heading_in * len(pages)), dpi=dpi
    )
    panels: list[Any] = [figure]
    if len(pages) > 1:
        ratios = [r * cell_in + heading_in for r in rows]
        # A column of subfigures: an array of them (typed loosely by matplotlib).
        column: Any = figure.subfigures(len(pages), 1, height_ratios=ratios)
        panels = list(column)
    for panel, page in zip(panels, pages, strict=True):
        _draw_page(panel, page, cell_px)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A tight box grows the canvas to hold the labels, however long they are.
    figure.savefig(dest, bbox_inches="tight", pad_inches=0.15)
    return dest


def _draw_page(panel: Any, plot: XYPlot, cell_px: int) -> None:
    from mpl_toolkits.axes_grid1 import ImageGrid  # type: ignore[import-untyped]
    from PIL import Image

    columns, rows = len(plot.xs), len(plot.ys)
    grid = ImageGrid(panel, 111, nrows_ncols=(rows, columns), axes_pad=0.04, share_all=False)
    x_name = axis_label(plot, plot.x)
    y_name = axis_label(plot, plot.y) if plot.y is not None else ""
    for index, (axes, cell) in enumerate(zip(grid, plot.cells, strict=True)):
        axes.set_xticks([])
        axes.set_yticks([])
        if cell.image is not None:
            with Image.open(cell.image) as image:
                image.thumbnail((cell_px * 2, cell_px * 2))
                axes.imshow(image.convert("RGB"))
        else:
            axes.text(0.5, 0.5, cell.note, ha="center", va="center", transform=axes.transAxes)
            axes.set_facecolor(CELL_COLOURS.get(cell.status, FAILED_COLOUR))
        row, column = divmod(index, columns)
        if row == 0:
            axes.set_title(f"{x_name}: {_label(cell.x)}", fontsize=9)
        if column == 0 and plot.y is not None:
            axes.set_ylabel(
                f"{y_name}: {_label(cell.y)}", fontsize=9, rotation=0, ha="right", va="center"
            )
    # Just above the column titles of the first cell, whatever the figure's size.
    grid[0].annotate(
        plot.heading,
        xy=(0, 1),
        xycoords="axes fraction",
        xytext=(0, 24),
        textcoords="offset points",
        fontsize=11,
        va="bottom",
    )


def axis_label(plot: XYPlot, address: str) -> str:
    """``KSampler.cfg`` reads as ``cfg``, as A1111's plots say "CFG Scale"; the whole
    address stays when another address of the plot ends in the same input name."""
    short = address.rpartition(".")[2]
    named = [a for a in (plot.x, plot.y, *plot.where) if a is not None and a != address]
    return address if any(a.rpartition(".")[2] == short for a in named) else short


def _check_address(address: str, params: Sequence[str], report: Path) -> None:
    if address not in params:
        valid = ", ".join(params) or "(none)"
        raise SpecError(f"{address!r} is not a swept address of {report}; it has: {valid}")


def _typed(column: pl.Series, value: Any, address: str) -> Any:
    """A ``--where`` string as the column's type, so ``seed=3`` matches the integer 3."""
    if not isinstance(value, str):
        return value
    parse: Callable[[str], Any]
    if column.dtype == pl.Boolean:
        kind, parse = "true or false", _boolean
    elif column.dtype.is_float():
        kind, parse = "a number", float
    elif column.dtype.is_integer():
        kind, parse = "an integer", int
    else:
        return value
    try:
        return parse(value)
    except ValueError:
        sample = ", ".join(_label(v) for v in column.unique(maintain_order=True).head(5))
        message = f"--where {address}={value}: expected {kind}; its values: {sample}"
        raise SpecError(message) from None


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def _axis(column: pl.Series) -> tuple[Any, ...]:
    values = column.unique(maintain_order=True).to_list()
    if column.dtype.is_numeric():
        return tuple(sorted(values, key=lambda v: (v is None, v)))
    return tuple(values)


def _cell(df: pl.DataFrame, x: str, xv: Any, y: str | None, yv: Any, out_dir: Path) -> Cell:
    match = _eq(x, xv) if y is None else _eq(x, xv) & _eq(y, yv)
    runs = df.filter(match)
    if runs.is_empty():
        return Cell(xv, yv, None, None, "no run")
    for run in runs.filter(pl.col("status") == "success").iter_rows(named=True):
        for output in run["outputs"] or ():
            path = output.get("path")
            if path and Path(path).suffix.lower() in IMAGE_SUFFIXES:
                if (out_dir / path).is_file():
                    return Cell(xv, yv, out_dir / path, run["run_index"], status="success")
    first = runs.row(0, named=True)
    status = first["status"]
    note = "no image" if status == "success" else status
    if status != "success" and first.get("error_type"):
        note += f"\n{first['error_type']}"
    return Cell(xv, yv, None, first["run_index"], note, status)


def _eq(address: str, value: Any) -> pl.Expr:
    return pl.col(address).is_null() if value is None else pl.col(address) == value


def _within_cell(df: pl.DataFrame, address: str, *keys: str) -> int:
    """How many values ``address`` takes, at most, among runs that agree on ``keys``."""
    counts = df.group_by(list(keys)).agg(pl.col(address).n_unique())[address]
    return int(counts.max() or 0)  # type: ignore[arg-type]


def _in_step(df: pl.DataFrame, a: str, b: str, axes: Sequence[str]) -> bool:
    """Whether, within every cell, ``a``'s value follows from ``b``'s and back."""
    return _within_cell(df, a, *axes, b) <= 1 and _within_cell(df, b, *axes, a) <= 1


def _label(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 28 else text[:25] + "..."


def _where_text(where: Mapping[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (where or {}).items())
