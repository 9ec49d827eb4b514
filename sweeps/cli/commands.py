"""The ``comfyfleet`` command: watch, sweep, plan, report, grid, sheet, sim, demo, and
the fleet one-liners (status, queue, history, interrupt, cancel, clear, free).

Exit codes are :mod:`.exits`'s. The Textual app is imported only by the commands that open it,
so ``--help``, ``plan`` and headless ``sweep`` start fast.
"""

from __future__ import annotations

import asyncio
import errno
import json
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from ..errors import FleetError, SpecError
from .exits import BAD_INPUT, bad_input, fail
from .fleet import COMMANDS as FLEET_COMMANDS

T = TypeVar("T")

SERVER_HELP = "A ComfyUI server URL (http[s]://host[:port][/prefix]); repeat for several."


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning our errors into a message and an exit code."""
    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        fail("stopped")
        raise SystemExit(130) from None
    except SpecError as exc:
        fail(f"error: {exc}")
        raise SystemExit(BAD_INPUT) from None
    except FleetError as exc:
        fail(f"error: {exc}")
        raise SystemExit(1) from None
    except OSError as exc:
        if exc.errno != errno.EMFILE:
            raise
        # Out of file descriptors, wherever it struck (a socket, a download, the
        # display): a message, not a traceback; the journal holds every finished run.
        fail(f"error: {exc.strerror}: raise the limit (ulimit -n) or use fewer servers")
        raise SystemExit(1) from None


@click.group()
@click.version_option(package_name="comfyfleet")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Say what the engine decides (retries, failovers); -vv adds every request.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a debug log here, every request included (for a bug report).",
)
def main(verbose: int, log_file: Path | None) -> None:
    """Watch a fleet of ComfyUI servers, and sweep parameter grids across all of them."""
    from .logs import configure_logging

    try:
        configure_logging(verbose, log_file)
    except OSError as exc:
        fail(f"error: cannot write the log file {log_file}: {exc.strerror or exc}")
        raise SystemExit(BAD_INPUT) from None


@main.command()
@click.option("--server", "-s", "servers", multiple=True, help=SERVER_HELP)
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between /system_stats polls.",
)
def watch(servers: Sequence[str], interval: float) -> None:
    """Open the live dashboard.

    Without --server: $COMFYFLEET_SERVERS, then ~/.config/comfyfleet/servers.yaml,
    then http://127.0.0.1:8188.
    """
    from ..servers_file import discover_servers

    with bad_input():
        configs = discover_servers(servers)
    # Textual costs a few hundred milliseconds to import: only the dashboard pays it.
    from tui.run import run_watch

    raise SystemExit(run_watch(configs, poll_interval=interval))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", "-s", "servers", multiple=True, help=SERVER_HELP)
@click.option("--offline", is_flag=True, help="Expand and preview only; do not ask any server.")
@click.option(
    "--preview",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many runs to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, for scripts.")
def plan(spec: Path, servers: Sequence[str], offline: bool, preview: int, as_json: bool) -> None:
    """Show what SPEC would run, and check it against the servers. Queues nothing."""
    from rich.console import Console

    from ..runner import check_output, plan_estimate, plan_sweep
    from .console import print_estimate, print_plan

    result = _run(lambda: plan_sweep(spec, servers=servers, check_servers=not offline))
    estimate = plan_estimate(result) if result.ok else None
    if as_json:
        from .machine import plan_json

        click.echo(json.dumps(plan_json(result, estimate, preview=preview), indent=2, default=str))
    else:
        console = Console()
        print_plan(console, result, preview=preview)
        if estimate is not None:
            print_estimate(console, estimate, result)
    with bad_input():
        check_output(result.spec)
    if result.preflight is not None and result.preflight.errors():
        # The plan above lists each problem; stderr says so for scripts and logs.
        count = len(result.preflight.errors())
        fail(
            f"error: {spec}: the sweep cannot run as written "
            f"({count} problem{'s' if count > 1 else ''} listed above); nothing was queued"
        )
        raise SystemExit(BAD_INPUT)
    if not offline and result.preflight is None:
        raise SystemExit(1)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", "-s", "servers", multiple=True, help=SERVER_HELP)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option(
    "--depth",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Prompts kept queued per server.",
)
@click.option(
    "--interrupt-running",
    is_flag=True,
    help="On Ctrl-C, interrupt running prompts at once instead of letting them finish.",
)
@click.option("--tui", is_flag=True, help="Show the sweep in the dashboard.")
@click.option(
    "--json-stream",
    is_flag=True,
    help="Instead of a progress bar, one JSON event per line on stdout (submitted, "
    "started, finished, failed, progress, summary).",
)
def sweep(
    spec: Path,
    servers: Sequence[str],
    out: Path | None,
    depth: int,
    interrupt_running: bool,
    tui: bool,
    json_stream: bool,
) -> None:
    """Run every point of SPEC across the servers; write OUT/report.parquet and
    the X/Y plots the spec's plot: asks for.

    Ctrl-C stops dispatching and withdraws prompts still waiting in server
    queues; running prompts (already paid for) finish and are downloaded.
    Ctrl-C again interrupts them. Rerunning into the same OUT resumes.
    """
    if tui:
        # Textual is imported only when the dashboard opens.
        from tui.run import run_sweep_dashboard

        from .console import print_dashboard_exit

        with bad_input():
            closed = run_sweep_dashboard(spec, servers=list(servers), out_dir=out)
        raise SystemExit(print_dashboard_exit(closed))
    if tui and json_stream:
        fail("error: --tui and --json-stream: choose one")
        raise SystemExit(BAD_INPUT)
    raise SystemExit(
        _run(lambda: _headless_sweep(spec, servers, out, depth, interrupt_running, json_stream))
    )


async def _headless_sweep(
    spec: Path,
    servers: Sequence[str],
    out: Path | None,
    depth: int,
    interrupt_running: bool,
    json_stream: bool,
) -> int:
    from rich.console import Console
    from rich.markup import escape

    from ..runner import check_plan, plan_sweep, run_planned
    from ..scheduler import Sweep
    from .console import print_outcome, sweep_progress
    from .machine import EventStream

    console = Console(stderr=True)
    running: list[Sweep] = []
    presses = 0
    main_task = asyncio.current_task()
    assert main_task is not None

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if not running or presses > 2:
            # Nothing queued yet, or a third Ctrl-C: stop now; the journal has every
            # finished run and the report is rebuilt on the way out.
            main_task.cancel()
            return
        interrupt = interrupt_running or presses > 1
        if presses == 1:
            console.print(
                "[yellow]stopping:[/] no new prompts; queued ones withdrawn; "
                + (
                    "interrupting running prompts"
                    if interrupt
                    else "running prompts will finish (Ctrl-C again to interrupt them)"
                )
            )
        elif presses == 2:
            console.print("[yellow]interrupting running prompts[/] (Ctrl-C again to quit now)")
        asyncio.get_running_loop().create_task(running[0].stop(interrupt_running=interrupt))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        # Every check happens before the progress bar: bad input reads as one message.
        plan = await plan_sweep(spec, servers=servers)
        check_plan(plan, out_dir=out)
        for url, why in plan.unreachable.items():
            # As plan shows it: the sweep goes on without it, but not without a word.
            console.print(
                f"[red]✗[/] {url}: {escape(why)}; not used", highlight=False, soft_wrap=True
            )
        for warning in plan.warnings():
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if json_stream:
            stream = EventStream()

            def started(sweep: Sweep) -> None:
                sweep.on_run = stream.run
                running.append(sweep)

            result = await run_planned(
                plan, out_dir=out, depth=depth, on_progress=stream.progress, on_start=started
            )
        else:
            with sweep_progress(console, plan.spec.name) as bar:
                result = await run_planned(
                    plan,
                    out_dir=out,
                    depth=depth,
                    on_progress=bar.update,
                    on_start=running.append,
                )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    if json_stream:
        stream.summary(result)
    else:
        print_outcome(Console(), console, result)
    progress = result.progress
    return 0 if progress.failed == 0 and progress.remaining == 0 else 1


@main.command()
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--failures",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many failures to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON, for scripts.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw the timeline here (.png, .pdf, .svg): a lane per server, a bar per run.",
)
def report(out: Path, failures: int, as_json: bool, plot: Path | None) -> None:
    """Summarize a sweep's OUT directory (or report.parquet): outcomes per server and
    per swept value, the slowest nodes, the first failures."""
    from ..summary import summarize

    target = _report_file(out)
    summary = summarize(target, max_failures=failures)
    if plot is not None:
        _draw_timeline(target, plot)
    if as_json:
        # default=str: swept values can be dates or decimals the report kept typed.
        click.echo(json.dumps(summary.to_json(), indent=2, default=str))
        return
    from rich.console import Console

    from .console import print_summary

    print_summary(Console(), summary)


def _report_file(out: Path) -> Path:
    """The report of a sweep's output directory (or the report itself), or exit 2."""
    from ..report import report_files

    target = out / "report.parquet" if out.is_dir() else out
    if not report_files(target):  # a running sweep's report may be parts only, so far
        fail(f"error: {target} not found: give a sweep's output directory or its report.parquet")
        raise SystemExit(BAD_INPUT)
    return target


def _draw_timeline(report: Path, dest: Path) -> None:
    from ..timeline import plan_timeline, render_timeline

    with bad_input():
        timeline = plan_timeline(report)
    try:
        render_timeline(timeline, dest)
    except (OSError, ValueError) as exc:  # matplotlib: an unknown suffix is a ValueError
        fail(f"error: cannot write {dest}: {exc}")
        raise SystemExit(BAD_INPUT) from None
    busy = ", ".join(f"{timeline.label(lane)} {timeline.busy(lane):.0%}" for lane in timeline.lanes)
    click.echo(f"timeline: {dest} (busy: {busy})", err=True)


@main.command()
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("-x", "x", required=True, help="The swept address across (one column per value).")
@click.option("-y", "y", help="The swept address down (one row per value).")
@click.option("-z", "z", help="A third swept address: one X/Y grid per value, stacked.")
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="ADDR=VALUE",
    help="Keep only runs with this value; repeat for several.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The image to write; its suffix picks the format (.png, .jpg, .pdf, .svg).",
)
@click.option(
    "--cell",
    default=256,
    show_default=True,
    type=click.IntRange(min=16, max=4096),
    help="Cell size in pixels.",
)
def grid(
    out: Path,
    x: str,
    y: str | None,
    z: str | None,
    where: Sequence[str],
    output: Path | None,
    cell: int,
) -> None:
    """Draw the X/Y plot of a sweep's images: one value of X per column, of Y per row
    (and with -z, one such grid per value of Z, one above the other)."""
    from ..spec_plots import default_plot_file
    from ..xyplot import XYPlot, parse_where, plan_xy_plot, plan_xyz_plot, render_xy_plot

    with bad_input():
        filters = parse_where(where)
        pages: tuple[XYPlot, ...]
        if z is None:
            pages = (plan_xy_plot(out, x=x, y=y, where=filters),)
        else:
            pages = plan_xyz_plot(out, x=x, y=y, z=z, where=filters)
    for warning in dict.fromkeys(w for page in pages for w in page.warnings()):
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    folder = out if out.is_dir() else out.parent
    dest = render_xy_plot(pages, output or folder / default_plot_file(x, y, z), cell_px=cell)
    cells = [c for page in pages for c in page.cells]
    shown = sum(c.image is not None for c in cells)
    click.echo(f"{dest}: {shown} of {len(cells)} cells have an image")


@main.command()
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The page to write (default: OUT/index.html).",
)
def sheet(out: Path, output: Path | None) -> None:
    """Write the contact sheet of a sweep: every run on one HTML page, its image beside
    the values it swept and how it ended, with a filter box."""
    from ..contact_sheet import write_contact_sheet

    target = _report_file(out)
    click.echo(write_contact_sheet(target, output))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8188, show_default=True, type=int)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Cost multiplier; 0 is instant.",
)
@click.option("--previews/--no-previews", default=True, show_default=True)
@click.option("--crystools", is_flag=True, help="Send Crystools monitor messages.")
@click.option(
    "--load-ms",
    type=click.FloatRange(min=0.0),
    default=400.0,
    show_default=True,
    help="A checkpoint load, in ms at speed 1 (paid when another checkpoint was resident).",
)
@click.option(
    "--step-ms",
    type=click.FloatRange(min=0.0),
    default=160.0,
    show_default=True,
    help="One sampler step, in ms at speed 1.",
)
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True)
@click.option(
    "--vram-gb",
    type=click.FloatRange(min=0.5),
    default=12.0,
    show_default=True,
    help="VRAM to report.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where input/, output/ and temp/ live (a temporary directory by default).",
)
@click.option(
    "--cache",
    type=click.Choice(["classic", "ram_pressure", "none"]),
    help="Output cache (default: the version's own: ram_pressure since 0.33, classic before).",
)
@click.option(
    "--comfy-version",
    metavar="VERSION",
    help="The ComfyUI release to behave as: 0.8.0 or 0.33.0 (default: the newest known).",
)
@click.option(
    "--gpus",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=16),
    help="CUDA devices listed in /system_stats.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--object-info",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Serve this /object_info JSON instead of the built-in one.",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    metavar="NAME",
    help="Offer this checkpoint file too (repeatable); ComfyUI's script examples load "
    "v1-5-pruned-emaonly.safetensors.",
)
def sim(
    host: str,
    port: int,
    speed: float,
    previews: bool,
    crystools: bool,
    load_ms: float,
    step_ms: float,
    device: Literal["cuda", "cpu"],  # click.Choice keeps it to these
    vram_gb: float,
    data_dir: Path | None,
    cache: Literal["classic", "ram_pressure", "none"] | None,
    comfy_version: str | None,
    gpus: int,
    seed: int,
    object_info: Path | None,
    checkpoints: tuple[str, ...],
) -> None:
    """Run a simulated ComfyUI server, to test an integration with no GPU.

    Same routes (with and without /api), same websocket messages in the same
    order, same validation errors as the real ComfyUI release it plays
    (--comfy-version; newer releases behave as the newest one known).
    """
    from ..simulator import GIB, NEWEST, SimConfig, serve

    try:
        version_config = SimConfig(comfy_version=comfy_version or NEWEST, gpus=gpus)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--comfy-version") from None
    costs = replace(version_config.costs, checkpoint_load_ms=load_ms, sampler_step_ms=step_ms)
    config = version_config.with_changes(
        speed=speed,
        costs=costs,
        previews=previews,
        crystools=crystools,
        device_type=device,
        vram_total=int(vram_gb * GIB),
        data_dir=data_dir,
        cache=cache,
        seed=seed,
        object_info_path=object_info,
        extra_checkpoints=checkpoints,
    )
    click.echo(
        f"simulated ComfyUI {config.comfy_version} at http://{host}:{port} (Ctrl-C to stop)",
        err=True,
    )
    try:
        asyncio.run(serve(config, host=host, port=port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise SystemExit(BAD_INPUT) from None


@main.command()
@click.option(
    "--servers",
    "count",
    default=3,
    show_default=True,
    type=click.IntRange(min=1, max=64),
    help="Simulated servers.",
)
@click.option("--headless", is_flag=True, help="Print progress instead of opening the dashboard.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option(
    "--speed",
    type=float,
    help="Scale the simulated costs (default 1 in the dashboard, 0.05 headless).",
)
def demo(count: int, headless: bool, out: Path | None, speed: float | None) -> None:
    """See it work with no GPU: a simulated fleet running the bundled sampler shootout.

    Opens the dashboard in a terminal; prints progress when --headless or piped.
    """
    from .demo import run_demo

    interactive = not headless and sys.stdout.isatty()
    raise SystemExit(
        _run(lambda: run_demo(count=count, dashboard=interactive, out_dir=out, speed=speed))
    )


for _command in FLEET_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()
