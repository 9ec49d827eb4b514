"""The X/Y plot of a sweep: its images in a grid, one swept value per column and
per row, the way samplers, cfg scales or checkpoints are compared at a glance.

Choosing the cells is polars over the report (:func:`plan_xy_plot`, no
drawing); drawing them is matplotlib's ``ImageGrid`` (:func:`render_xy_plot`),
which lays out labelled rows and columns and writes PNG, JPEG, PDF or SVG.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .errors import SpecError
from .report import REPORT_NAME, load_report, report_files, report_metadata

__all__ = ["Cell", "XYPlot", "parse_where", "plan_xy_plot", "render_xy_plot"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
_FIXED_FIRST = "run_id"
"""The report's first fixed column: the swept addresses come before it."""


@dataclass(frozen=True)
class Cell:
    """One place in the plot: the image of the first run that fits it, or why none does."""

    x: Any
    y: Any
    image: Path | None
    run_index: int | None
    note: str = ""
    """Shown instead of an image: ``failed``, ``no image``, ``no run``."""


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
    report_file = Path(path)
    out_dir = report_file.parent if report_file.suffix == ".parquet" else report_file
    if not report_files(path):
        raise SpecError(f"{out_dir}: no {REPORT_NAME} here; pass a sweep's output directory")
    df = load_report(path).sort("run_index")
    params = df.columns[: df.columns.index(_FIXED_FIRST)]
    for address in (x, y) if y is not None else (x,):
        _check_address(address, params, report_file)
    if y == x:
        raise SpecError(f"--x and --y are both {x}: choose two different addresses")
    for address, value in (where or {}).items():
        _check_address(address, params, report_file)
        df = df.filter(pl.col(address) == _typed(df[address], value, address))
    if df.is_empty():
        raise SpecError(f"no run of {report_file} matches --where {_where_text(where)}")
    # A run with no value on an axis ran a workflow without that input: not part of the plot.
    axes = [x] if y is None else [x, y]
    df = df.filter(pl.all_horizontal(pl.col(a).is_not_null() for a in axes))
    if df.is_empty():
        raise SpecError(f"no run of {report_file} has a value for {' and '.join(axes)}")
    xs = _axis(df[x])
    ys = _axis(df[y]) if y is not None else (None,)
    cells = tuple(_cell(df, x, xv, y, yv, out_dir) for yv in ys for xv in xs)
    fixed = {x, y, *(where or {})}
    varying: dict[str, int] = {}
    for address in params:
        if address in fixed or (count := _within_cell(df, address, *axes)) <= 1:
            continue
        # A zip partner (Negative.text beside Positive.text) varies in step with an
        # address already named: choosing that one chooses this one too.
        if not any(_in_step(df, address, named, axes) for named in varying):
            varying[address] = count
    name = report_metadata(path).get("sweep")
    return XYPlot(
        title=name if isinstance(name, str) else out_dir.name,
        x=x,
        y=y,
        xs=xs,
        ys=ys,
        cells=cells,
        varying=varying,
    )


def render_xy_plot(plot: XYPlot, dest: Path, *, cell_px: int = 256, dpi: int = 100) -> Path:
    """Draw ``plot`` into ``dest``; its suffix picks the format (.png, .jpg, .pdf, .svg)."""
    # Figure, not pyplot: no global state, no GUI backend, safe inside a notebook.
    from matplotlib.figure import Figure
    from mpl_toolkits.axes_grid1 import ImageGrid  # type: ignore[import-untyped]
    from PIL import Image

    columns, rows = len(plot.xs), len(plot.ys)
    cell_in = cell_px / dpi
    figure = Figure(figsize=(columns * cell_in, rows * cell_in), dpi=dpi)
    grid = ImageGrid(figure, 111, nrows_ncols=(rows, columns), axes_pad=0.04, share_all=False)
    for index, (axes, cell) in enumerate(zip(grid, plot.cells, strict=True)):
        axes.set_xticks([])
        axes.set_yticks([])
        if cell.image is not None:
            with Image.open(cell.image) as image:
                image.thumbnail((cell_px * 2, cell_px * 2))
                axes.imshow(image.convert("RGB"))
        else:
            axes.text(0.5, 0.5, cell.note, ha="center", va="center", transform=axes.transAxes)
            axes.set_facecolor("#eeeeee")
        row, column = divmod(index, columns)
        if row == 0:
            axes.set_title(_label(cell.x), fontsize=9)
        if column == 0 and plot.y is not None:
            axes.set_ylabel(_label(cell.y), fontsize=9, rotation=0, ha="right", va="center")
    heading = f"{plot.title}: {plot.x}" + (f" \u00d7 {plot.y}" if plot.y else "")
    # Just above the column titles of the first cell, whatever the figure's size.
    grid[0].annotate(
        heading,
        xy=(0, 1),
        xycoords="axes fraction",
        xytext=(0, 24),
        textcoords="offset points",
        fontsize=11,
        va="bottom",
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A tight box grows the canvas to hold the labels, however long they are.
    figure.savefig(dest, bbox_inches="tight", pad_inches=0.15)
    return dest


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
                    return Cell(xv, yv, out_dir / path, run["run_index"])
    first = runs.row(0, named=True)
    note = first["status"] if first["status"] != "success" else "no image"
    return Cell(xv, yv, None, first["run_index"], note)


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
