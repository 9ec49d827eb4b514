"""Where the GPUs idled: a sweep's runs on a time axis, one lane per server.

Each run is a bar from the moment its server started it to the moment it
ended, coloured by how it ended; the wait in the server's queue before it is a
thin line. The part of a run spent on nodes that the same server answered from
its cache in other runs (in practice: loading a checkpoint, a LoRA, a VAE) is
hatched, so model swaps stand out without naming any node class. Gaps in a
lane are idle GPU time.

The layout is computed from the report with polars (:func:`plan_timeline`), and
drawn with a matplotlib ``Figure`` (:func:`render_timeline`), so a notebook can
use either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from .errors import SpecError
from .report import load_report, report_metadata
from .summary import executed_nodes

__all__ = ["Bar", "Timeline", "plan_timeline", "render_timeline"]

STATUS_COLOURS = {
    "success": "#4c9a5b",
    "failed": "#c0392b",
    "interrupted": "#e67e22",
    "rejected": "#95a5a6",
}


@dataclass(frozen=True)
class Bar:
    """One run on its server's lane, in seconds from the sweep's first submission."""

    run_index: int
    status: str
    queued_at: float | None
    start: float
    end: float
    reload_s: float
    """Seconds spent on nodes this server cached in other runs: mostly model loads."""


@dataclass(frozen=True)
class Timeline:
    name: str | None
    lanes: tuple[str, ...]
    bars: dict[str, tuple[Bar, ...]]
    span: float
    """Seconds from the first submission to the last run's end."""
    names: dict[str, str] = field(default_factory=dict)
    """Each lane's server name, where the report has one (lanes are keyed by URL)."""

    def label(self, lane: str) -> str:
        return self.names.get(lane) or lane

    def busy(self, lane: str) -> float:
        """The fraction of the span this lane spent executing runs."""
        if self.span <= 0:
            return 0.0
        return sum(b.end - b.start for b in self.bars[lane]) / self.span


def plan_timeline(path: str | Path) -> Timeline:
    """Lay out the runs in the report at ``path`` (an output directory or its file)."""
    df = load_report(path).filter(
        pl.col("server").is_not_null()
        & pl.col("started_at").is_not_null()
        & pl.col("finished_at").is_not_null()
    )
    if df.is_empty():
        raise SpecError(f"{path}: no run of this sweep has started yet, so there is no timeline")
    origin: datetime = df.select(
        pl.min_horizontal(pl.col("submitted_at").min(), pl.col("started_at").min())
    ).item()
    reload_by_run = _reload_seconds(df)
    names: dict[str, str] = {}
    if "server_name" in df.columns:  # reports from before names were recorded lack it
        pairs = df.select("server", "server_name").drop_nulls().unique().iter_rows()
        names = {str(url): str(name) for url, name in pairs}
    lanes = tuple(sorted(df["server"].unique().to_list(), key=lambda url: names.get(url, url)))
    bars: dict[str, list[Bar]] = {lane: [] for lane in lanes}
    for row in df.sort("started_at").iter_rows(named=True):
        queued = row["submitted_at"]
        bars[row["server"]].append(
            Bar(
                run_index=row["run_index"],
                status=row["status"],
                queued_at=(queued - origin).total_seconds() if queued else None,
                start=(row["started_at"] - origin).total_seconds(),
                end=(row["finished_at"] - origin).total_seconds(),
                reload_s=reload_by_run.get(row["run_index"], 0.0),
            )
        )
    span = max(b.end for lane in bars.values() for b in lane)
    name = report_metadata(path).get("sweep")
    return Timeline(
        name if isinstance(name, str) else None,
        lanes,
        {lane: tuple(b) for lane, b in bars.items()},
        span,
        names,
    )


def _reload_seconds(df: pl.DataFrame) -> dict[int, float]:
    """Per run, the seconds of executed nodes that its server cached in other runs."""
    cached = (
        df.select("server", pl.col("cached_nodes").alias("node_id"))
        .explode("node_id")
        .drop_nulls()
        .unique()
        .with_columns(pl.lit(True).alias("cacheable"))
    )
    executed = executed_nodes(
        df.select("run_index", "server", "node_timings")
        .explode("node_timings")
        .unnest("node_timings")
    )
    reloads = (
        executed.join(cached, on=["server", "node_id"], how="inner")
        .group_by("run_index")
        .agg(pl.col("seconds").sum())
    )
    return {int(i): float(s or 0.0) for i, s in reloads.iter_rows()}


def render_timeline(
    timeline: Timeline, dest: str | os.PathLike[str], *, width_in: float = 12.0
) -> Path:
    """Draw ``timeline`` into ``dest``; its suffix picks the format (.png, .pdf, .svg)."""
    # Figure, not pyplot: no global state, no GUI backend, safe inside a notebook.
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    lanes = timeline.lanes
    figure = Figure(figsize=(width_in, 1.2 + 0.45 * len(lanes)), layout="constrained")
    axes = figure.add_subplot()
    for y, lane in enumerate(lanes):
        bars = timeline.bars[lane]
        axes.broken_barh(
            [(b.start, b.end - b.start) for b in bars],
            (y - 0.35, 0.7),
            facecolors=[STATUS_COLOURS.get(b.status, "#7f8c8d") for b in bars],
            edgecolor="white",
            linewidth=0.3,
        )
        reloads = [(b.start, min(b.reload_s, b.end - b.start)) for b in bars if b.reload_s > 0]
        if reloads:
            axes.broken_barh(
                reloads, (y - 0.35, 0.7), facecolors="none", hatch="////", edgecolor="black"
            )
        waits = [(b.queued_at, b.start) for b in bars if b.queued_at is not None]
        axes.hlines(
            [y + 0.42] * len(waits),
            [w[0] for w in waits],
            [w[1] for w in waits],
            colors="#bbbbbb",
            linewidth=0.6,
        )
    axes.set_yticks(range(len(lanes)), [_lane_label(timeline, lane) for lane in lanes])
    axes.invert_yaxis()
    axes.set_xlim(0, timeline.span * 1.01 or 1)
    axes.set_xlabel("seconds since the first prompt was queued")
    title = timeline.name or "sweep"
    runs = sum(len(b) for b in timeline.bars.values())
    axes.set_title(f"{title}: {runs} runs on {len(lanes)} servers in {timeline.span:.1f} s")
    statuses = sorted({b.status for bars in timeline.bars.values() for b in bars})
    handles = [Patch(facecolor=STATUS_COLOURS.get(s, "#7f8c8d"), label=s) for s in statuses]
    handles.append(Patch(facecolor="none", hatch="////", label="cacheable work (model loads)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(dest)
    return dest


def _lane_label(timeline: Timeline, lane: str) -> str:
    return f"{timeline.label(lane)}\n{timeline.busy(lane):.0%} busy"
