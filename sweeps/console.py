"""Headless rendering for the command line: plan tables and sweep progress.

Rich does the drawing (progress bars, tables); the engine only publishes
:class:`SweepProgress` values. Only :mod:`sweeps.cli` imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .progress import SweepProgress
from .runner import Plan, SweepResult
from .summary import Summary

__all__ = ["print_outcome", "print_plan", "print_summary", "sweep_progress"]


def print_plan(console: Console, plan: Plan, *, preview: int = 10) -> None:
    grid = plan.grid
    counts = grid.counts
    console.print(f"[bold]{plan.spec.name}[/]: {len(grid)} runs", highlight=False)
    detail = [f"{counts.product} in the product"]
    if counts.excluded:
        detail.append(f"{counts.excluded} excluded")
    if counts.sampled is not None:
        detail.append(f"{counts.sampled} sampled")
    if counts.included:
        detail.append(f"{counts.included} included")
    if counts.repeat > 1:
        detail.append(f"x{counts.repeat} repeats")
    console.print("  " + ", ".join(detail), highlight=False)
    values = grid.values_by_address()
    fixed = {a: v[0] for a, v in values.items() if len(v) == 1}
    swept = [a for a, v in values.items() if len(v) > 1]
    if fixed:
        console.print(
            "  every run: " + ", ".join(f"{a}={_short(v)}" for a, v in fixed.items()),
            highlight=False,
        )
    several = len(plan.spec.workflows) > 1
    # "KSampler\nsampler_name": two short lines fit 80 columns where one long one cannot.
    headers = ["#", "run_id", *(["workflow"] if several else []), *map(_two_lines, swept)]
    table = Table(*headers, title=f"first {min(preview, len(grid))} runs", title_justify="left")
    for run in islice(grid, preview):
        table.add_row(
            str(run.run_index),
            run.run_id[:8],
            *([run.workflow_name] if several else []),
            *(_short(run.params.get(a)) for a in swept),
        )
    console.print(table)
    _print_plots(console, plan)
    if plan.preflight is None and not plan.unreachable:
        console.print("servers (not contacted): " + ", ".join(s.url for s in plan.servers))
        return
    console.print("servers:")
    for server in plan.servers:
        if server.url in plan.unreachable:
            console.print(f"  [red]✗[/] {server.url}: {plan.unreachable[server.url]}")
        else:
            version = plan.versions.get(server.url) or "?"
            console.print(f"  [green]✓[/] {server.url} (ComfyUI {version})", highlight=False)
    if plan.preflight is None:
        console.print("[red]error:[/] no server answered; nothing was checked")
        return
    for warning in plan.preflight.warnings():
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    errors = plan.preflight.errors()
    for error in errors:
        console.print(f"[red]error:[/] {error}", highlight=False)
    if not errors:
        console.print("[green]valid:[/] every run can be served", highlight=False)


def _print_plots(console: Console, plan: Plan) -> None:
    """The spec's ``plot:`` files, and which swept axes still vary inside a cell
    (the seed, say): each cell shows only the first run that fits it."""
    if not plan.spec.plots:
        return
    console.print("plots, drawn when the sweep ends:")
    for plot in plan.spec.plots:
        console.print(f"  {plan.spec.output / plot.file}", soft_wrap=True, highlight=False)
        named = {plot.x, plot.y, *plot.where}
        within = {
            axis.addresses[0]: len(axis)
            for block in plan.spec.blocks
            for axis in block.axes
            if axis.kind != "workflow" and len(axis) > 1 and not named & set(axis.addresses)
        }
        where = ", ".join(f"{a}={_short(v)}" for a, v in plot.where.items())
        axes = f"{plot.x} across" + (f", {plot.y} down" if plot.y else "")
        console.print(f"    {axes}" + (f", where {where}" if where else ""), highlight=False)
        for address, count in within.items():
            console.print(
                f"    each cell: the first of {address}'s {count} values", highlight=False
            )


def _two_lines(address: str) -> str:
    node, _, name = address.rpartition(".")
    return f"{node}\n{name}" if node else address


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


class SweepBar:
    """A Rich progress display fed with :class:`SweepProgress` snapshots."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task(title, total=None, detail="")
        self.servers = Table.grid(padding=(0, 2))
        self.live = Live(Group(self.progress, self.servers), console=console, refresh_per_second=8)
        self._last = 0.0

    def update(self, snapshot: SweepProgress) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and snapshot.remaining:
            return  # Rich redraws at its own rate; skip the bookkeeping too
        self._last = now
        detail = f"failed {snapshot.failed}" if snapshot.failed else ""
        if snapshot.skipped:
            detail += f" skipped {snapshot.skipped} (done before)"
        if snapshot.stopping:
            detail += " [yellow]stopping[/]"
        self.progress.update(
            self.task,
            total=snapshot.total - snapshot.skipped,
            completed=snapshot.completed,
            detail=detail.strip(),
        )
        table = Table.grid(padding=(0, 2))
        for url, server in snapshot.servers.items():
            state = "[yellow]cooling off[/]" if server.cooling_until else ""
            table.add_row(
                f"  {server.name or url}",
                f"done {server.done}",
                f"failed {server.failed}",
                f"running {server.running}",
                f"retried {server.retried}" if server.retried else "",
                state,
            )
        self.live.update(Group(self.progress, table))


@contextmanager
def sweep_progress(console: Console, title: str) -> Iterator[SweepBar]:
    bar = SweepBar(console, title)
    with bar.live:
        yield bar
    if not console.is_terminal:
        console.line()  # Rich ends a live display's last line only on a terminal


def print_outcome(out: Console, err: Console, result: SweepResult) -> None:
    """How a sweep ended, where its files are, and how to resume it: after the
    progress bar, the dashboard or the demo alike. Warnings go to ``err``."""
    progress = result.progress
    out.print(
        f"{progress.done} succeeded, {progress.failed} failed"
        + (f", {progress.skipped} already done" if progress.skipped else "")
        + f"; report: {result.out_dir / 'report.parquet'}",
        highlight=False,
        soft_wrap=True,
    )
    if progress.remaining:
        out.print(
            f"{progress.remaining} not run; the same command resumes where this stopped",
            highlight=False,
        )
    for path in result.plots:
        out.print(f"plot: {path}", highlight=False, soft_wrap=True)
    for warning in result.plot_warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def print_summary(console: Console, summary: Summary, *, max_values: int = 12) -> None:
    """``comfyfleet report``: the tables of :class:`~sweeps.summary.Summary`."""
    title = summary.name or "sweep"
    counts = ", ".join(f"{n} {status}" for status, n in summary.by_status.items())
    console.print(f"[bold]{title}[/]: {summary.runs} runs ({counts})", highlight=False)
    servers = Table(
        "server", "runs", "failed", "mean exec s", title="servers", title_justify="left"
    )
    for url, runs, failed, mean in summary.servers:
        servers.add_row(url, str(runs), str(failed), _seconds(mean))
    console.print(servers)
    for address, values in summary.by_address.items():
        table = Table(address, "runs", "failed", "mean exec s", title_justify="left")
        for stats in values[:max_values]:
            table.add_row(
                _short(stats.value), str(stats.runs), str(stats.failed), _seconds(stats.mean_exec_s)
            )
        if len(values) > max_values:
            table.caption = f"{len(values) - max_values} more values in the report"
        console.print(table)
    if summary.slowest_nodes:
        nodes = Table(
            "node class", "mean s", "executed", title="slowest nodes", title_justify="left"
        )
        for class_type, seconds, count in summary.slowest_nodes:
            nodes.add_row(class_type, f"{seconds:.3f}", str(count))
        console.print(nodes)
    for run_index, error_type, message, node in summary.failures:
        where = f" at node {node}" if node else ""
        console.print(f"[red]run {run_index}[/]: {error_type}{where}: {message}", highlight=False)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
