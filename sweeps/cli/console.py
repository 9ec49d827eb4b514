"""Headless rendering for the command line: plan tables and sweep progress.

Rich does the drawing (progress bars, tables); the engine only publishes
:class:`SweepProgress` values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
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

from ..planning import Estimate
from ..progress import ServerProgress, SweepProgress
from ..runner import Plan, SweepResult
from ..summary import Summary

if TYPE_CHECKING:
    from tui.run import DashboardExit

__all__ = [
    "PLAIN_INTERVAL",
    "SweepBar",
    "print_outcome",
    "print_plan",
    "print_summary",
    "progress_line",
    "sweep_progress",
]


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
            reason = escape(plan.unreachable[server.url])  # "[Errno 111]" is not markup
            console.print(f"  [red]✗[/] {server.url}: {reason}", highlight=False)
        else:
            version = plan.versions.get(server.url) or "?"
            console.print(f"  [green]✓[/] {server.url} (ComfyUI {version})", highlight=False)
    if plan.preflight is None:
        console.print("[red]error:[/] no server answered; nothing was checked")
        return
    _print_capabilities(console, plan)
    for warning in plan.warnings():
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    errors = plan.preflight.errors()
    for error in errors:
        console.print(f"[red]error:[/] {error}", highlight=False)
    if not errors:
        console.print("[green]valid:[/] every run can be served", highlight=False)


def print_estimate(console: Console, estimate: Estimate, plan: Plan) -> None:
    """``ETA 12:30`` in total and per server, from the cost model; or why there is none."""
    if not estimate.calibrated:
        console.print(
            "ETA: unknown until these servers have run this kind of workflow; the first "
            "runs of the sweep calibrate it (costs are kept for the next sweep)",
            highlight=False,
        )
        return
    console.print(f"ETA {_clock(estimate.total)} (from the costs of earlier sweeps)")
    names = {s.url: s.name or s.url for s in plan.servers}
    for url, seconds in estimate.per_server.items():
        console.print(f"  {names.get(url, url)}: {_clock(seconds)}", highlight=False)


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


CAPABILITY_COLUMNS = 6
"""Capability columns shown in ``plan``; the warnings list every one."""


def _print_capabilities(console: Console, plan: Plan) -> None:
    """Servers x what differs between them, when the fleet is not alike (ComfyUI
    versions or installs differ): each run goes only to servers with a ✓."""
    differences = plan.preflight.differences() if plan.preflight else []
    if not differences:
        return
    several = len(plan.spec.workflows) > 1
    table = Table("server", "ComfyUI", title="what the servers can run", title_justify="left")
    for workflow, what, _ in differences[:CAPABILITY_COLUMNS]:
        address, _, value = (what or "").partition("=")
        label = (
            f"{address.rpartition('.')[2]}\n{_short(value)}" if what else f"workflow\n{workflow}"
        )
        table.add_column(f"{workflow}:\n{label}" if several and what else label, justify="center")
    for server in plan.servers:
        if server.url in plan.unreachable:
            continue
        cells = [
            "[red]✗[/]" if server.url in lacking else "[green]✓[/]"
            for _, _, lacking in differences[:CAPABILITY_COLUMNS]
        ]
        table.add_row(server.url, plan.versions.get(server.url) or "?", *cells)
    console.print(table)
    if len(differences) > CAPABILITY_COLUMNS:
        more = len(differences) - CAPABILITY_COLUMNS
        console.print(f"  and {more} more difference(s): see the warnings", highlight=False)
    console.print("  each run goes only to servers that can run it", highlight=False)


def _two_lines(address: str) -> str:
    node, _, name = address.rpartition(".")
    return f"{node}\n{name}" if node else address


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


PLAIN_INTERVAL = 10.0
"""Seconds between progress lines when the console is not a terminal (a log file, CI)."""


class SweepBar:
    """Sweep progress fed with :class:`SweepProgress` snapshots.

    On a terminal, a Rich live display: a bar and a line per server. Anywhere
    else (a pipe, ``nohup``, CI) a live display shows nothing until it stops,
    so plain lines are printed instead: one every ``interval`` seconds and one
    whenever a server goes down or comes back. :meth:`close` shows the last
    snapshot, so the display never ends behind the summary printed after it.
    """

    def __init__(self, console: Console, title: str, *, interval: float = PLAIN_INTERVAL) -> None:
        self.console = console
        self.title = title
        self.interval = interval
        self.plain = not console.is_terminal
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
        self.live = Live(Group(self.progress, Table.grid()), console=console, refresh_per_second=8)
        self._last = 0.0
        self._latest: SweepProgress | None = None
        self._shown: SweepProgress | None = None
        """The snapshot last drawn (terminal) or printed (plain)."""
        self._printed_at: float | None = None
        self._down: frozenset[str] = frozenset()
        """Servers shown as down in the last plain line."""

    def update(self, snapshot: SweepProgress) -> None:
        self._latest = snapshot
        if self.plain:
            down = _down(snapshot)
            due = self._printed_at is None or snapshot.now - self._printed_at >= self.interval
            if due or down != self._down:
                self._print_line(snapshot)
            return
        now = time.monotonic()
        if now - self._last < 0.1 and snapshot.remaining:
            return  # Rich redraws at its own rate; skip the bookkeeping too
        self._last = now
        self._draw(snapshot)

    def tick(self, now: float) -> None:
        """Plain output: print a line if none was printed for ``interval`` seconds
        (runs can take minutes, and no snapshot comes meanwhile)."""
        latest = self._latest
        if not self.plain or latest is None or latest.finished:
            return
        if self._printed_at is None or now - self._printed_at >= self.interval:
            self._print_line(replace(latest, now=now))

    def close(self) -> None:
        """Show the last snapshot: the terminal display draws it before it stops; plain
        output prints its line (unless printed already) and the line per server."""
        latest = self._latest
        if latest is None:
            return
        if not self.plain:
            if latest is not self._shown:
                self._draw(latest)
            return
        if latest is not self._shown:
            self._print_line(latest)
        for url, server in latest.servers.items():
            cells = [c for c in _server_cells(latest, server, plain=True) if c]
            self.console.print(
                f"  {server.name or url}: " + ", ".join(cells),
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    def _draw(self, snapshot: SweepProgress) -> None:
        self._shown = snapshot
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
        self.live.update(Group(self.progress, _servers_table(snapshot)))

    def _print_line(self, snapshot: SweepProgress) -> None:
        self._shown = snapshot
        self._printed_at = snapshot.now
        down = _down(snapshot)
        self.console.print(
            progress_line(snapshot, title=self.title, back=self._down - down),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        self._down = down


def progress_line(
    snapshot: SweepProgress, *, title: str | None = None, back: Iterable[str] = ()
) -> str:
    """One line of progress for a log: ``name: 12/30 done, 1 failed, 2.3 runs/s,
    ETA 0:08``, then the servers that are down and those in ``back`` (just came back)."""
    parts = [f"{snapshot.completed}/{snapshot.total - snapshot.skipped} done"]
    if snapshot.failed:
        parts.append(f"{snapshot.failed} failed")
    if snapshot.skipped:
        parts.append(f"{snapshot.skipped} done before")
    rate = snapshot.rate
    if rate is not None:
        parts.append(_rate(rate))
    eta = snapshot.eta
    if eta is not None and snapshot.remaining:
        parts.append(f"ETA {_clock(eta)}")
    if snapshot.stopping:
        parts.append("stopping")
    line = f"{title or snapshot.name}: " + ", ".join(parts)
    states = [
        f"{server.name or url} {_down_for(snapshot, server)}"
        for url, server in snapshot.servers.items()
        if server.down_since is not None
    ]
    states += [f"{snapshot.servers[url].name or url} back up" for url in back]
    return line + "".join(f"; {state}" for state in states)


def _servers_table(snapshot: SweepProgress) -> Table:
    table = Table.grid(padding=(0, 2))
    for url, server in snapshot.servers.items():
        table.add_row(f"  {server.name or url}", *_server_cells(snapshot, server, plain=False))
    return table


def _server_cells(snapshot: SweepProgress, server: ServerProgress, *, plain: bool) -> list[str]:
    if server.down_since is not None:
        state = _down_for(snapshot, server)
        state = state if plain else f"[red]{state}[/]"
    elif server.cooling_until and not snapshot.finished:
        state = "cooling off" if plain else "[yellow]cooling off[/]"
    else:
        state = ""
    return [
        f"done {server.done}",
        f"failed {server.failed}",
        f"running {server.running}",
        # Runs it lost and another server took over: not retries it made itself.
        f"gave {server.retried} to others" if server.retried else "",
        state,
    ]


def _down(snapshot: SweepProgress) -> frozenset[str]:
    return frozenset(url for url, s in snapshot.servers.items() if s.down_since is not None)


def _down_for(snapshot: SweepProgress, server: ServerProgress) -> str:
    assert server.down_since is not None
    seconds = max(0.0, snapshot.now - server.down_since)
    return f"down {_clock(seconds)}, reconnecting"


def _rate(per_second: float) -> str:
    if per_second >= 1:
        return f"{per_second:.1f} runs/s"
    if per_second >= 0.1:
        return f"{per_second:.2f} runs/s"
    return f"{per_second * 60:.1f} runs/min"  # minutes-long runs


def _clock(seconds: float) -> str:
    """``0:08``, ``12:30``, ``1:02:03``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@contextmanager
def sweep_progress(
    console: Console, title: str, *, interval: float = PLAIN_INTERVAL
) -> Iterator[SweepBar]:
    """A :class:`SweepBar` for the length of the block; inside a running event loop,
    plain output also gets a line when no snapshot came for ``interval`` seconds."""
    bar = SweepBar(console, title, interval=interval)
    if not bar.plain:
        with bar.live:
            try:
                yield bar
            finally:
                bar.close()  # while the display is live: its last frame is the final one
        return
    ticker = _start_ticker(bar)
    try:
        yield bar
    finally:
        if ticker is not None:
            ticker.cancel()
        bar.close()


def _start_ticker(bar: SweepBar) -> asyncio.Task[None] | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def tick() -> None:
        while True:
            await asyncio.sleep(bar.interval / 4)
            bar.tick(time.monotonic())

    return loop.create_task(tick(), name="sweep-progress-ticker")


def print_dashboard_exit(closed: DashboardExit) -> int:
    """What the dashboard said, left in the terminal once it closes; returns the exit code."""
    if closed.result is not None:
        print_outcome(Console(), Console(stderr=True), closed.result)
    elif closed.left is not None:  # left while the sweep still ran: the journal has it
        left = closed.left
        Console().print(
            f"sweep left at {left.completed} of {left.total}; rerun to resume", highlight=False
        )
    return closed.code


def print_outcome(out: Console, err: Console, result: SweepResult) -> None:
    """How a sweep ended, where its files are, and how to resume it: after the
    progress bar, the dashboard or the demo alike. Warnings go to ``err``."""
    progress = result.progress
    out.print(
        f"{progress.done} succeeded, {progress.failed - progress.interrupted} failed"
        + (f", {progress.interrupted} interrupted" if progress.interrupted else "")
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
    if result.sheet is not None:
        out.print(f"contact sheet: {result.sheet}", highlight=False, soft_wrap=True)
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
    for url, name, runs, failed, mean in summary.servers:
        label = url if not name or url.endswith(f"//{name}") else f"{name} ({url})"
        servers.add_row(escape(label), str(runs), str(failed), _seconds(mean))
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
