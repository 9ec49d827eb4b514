"""The ``comfyfleet`` command: watch, sweep, plan, report, sim, demo.

Exit codes: 0 when everything asked for succeeded, 1 when some runs failed or
a server failed us, 2 for bad input (spec, workflow, flags), caught before
anything is sent to a server. Errors are one readable message on stderr, never
a traceback. The Textual app is imported only by the commands that open it,
so ``--help``, ``plan`` and headless ``sweep`` start fast.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from .errors import FleetError, SpecError

T = TypeVar("T")

SERVER_HELP = "A ComfyUI server URL (http[s]://host[:port][/prefix]); repeat for several."


def _err(message: str) -> None:
    click.secho(message, fg="red", err=True)


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning our errors into a message and an exit code."""
    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        _err("stopped")
        raise SystemExit(130) from None
    except SpecError as exc:
        _err(f"error: {exc}")
        raise SystemExit(2) from None
    except FleetError as exc:
        _err(f"error: {exc}")
        raise SystemExit(1) from None
    except OSError as exc:
        if exc.errno != errno.EMFILE:
            raise
        # Out of file descriptors, wherever it struck (a socket, a download, the
        # display): a message, not a traceback; the journal holds every finished run.
        _err(f"error: {exc.strerror}: raise the limit (ulimit -n) or use fewer servers")
        raise SystemExit(1) from None


@click.group()
@click.version_option(package_name="comfyfleet")
def main() -> None:
    """Watch a fleet of ComfyUI servers, and sweep parameter grids across all of them."""


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
    from .servers_file import discover_servers

    try:
        configs = discover_servers(servers)
    except SpecError as exc:
        _err(f"error: {exc}")
        raise SystemExit(2) from None
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
def plan(spec: Path, servers: Sequence[str], offline: bool, preview: int) -> None:
    """Show what SPEC would run, and check it against the servers. Queues nothing."""
    from rich.console import Console

    from .console import print_plan
    from .runner import check_output, plan_sweep

    result = _run(lambda: plan_sweep(spec, servers=servers, check_servers=not offline))
    print_plan(Console(), result, preview=preview)
    try:
        check_output(result.spec)
    except SpecError as exc:
        _err(f"error: {exc}")
        raise SystemExit(2) from None
    if result.preflight is not None and result.preflight.errors():
        # The plan above lists each problem; stderr says so for scripts and logs.
        count = len(result.preflight.errors())
        _err(
            f"error: {spec}: the sweep cannot run as written "
            f"({count} problem{'s' if count > 1 else ''} listed above); nothing was queued"
        )
        raise SystemExit(2)
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
def sweep(
    spec: Path,
    servers: Sequence[str],
    out: Path | None,
    depth: int,
    interrupt_running: bool,
    tui: bool,
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

        try:
            code = run_sweep_dashboard(spec, servers=list(servers), out_dir=out)
        except SpecError as exc:
            _err(f"error: {exc}")
            raise SystemExit(2) from None
        raise SystemExit(code)
    raise SystemExit(_run(lambda: _headless_sweep(spec, servers, out, depth, interrupt_running)))


async def _headless_sweep(
    spec: Path,
    servers: Sequence[str],
    out: Path | None,
    depth: int,
    interrupt_running: bool,
) -> int:
    from rich.console import Console
    from rich.markup import escape

    from .console import print_outcome, sweep_progress
    from .runner import check_plan, plan_sweep, run_planned
    from .scheduler import Sweep

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
def report(out: Path, failures: int) -> None:
    """Summarize a sweep's OUT directory (or report.parquet): outcomes per server and
    per swept value, the slowest nodes, the first failures."""
    from rich.console import Console

    from .console import print_summary
    from .report import report_files
    from .summary import summarize

    target = out / "report.parquet" if out.is_dir() else out
    if not report_files(target):  # a running sweep's report may be parts only, so far
        _err(f"error: {target} not found: give a sweep's output directory or its report.parquet")
        raise SystemExit(2)
    print_summary(Console(), summarize(target, max_failures=failures))


@main.command()
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("-x", "x", required=True, help="The swept address across (one column per value).")
@click.option("-y", "y", help="The swept address down (one row per value).")
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
    out: Path, x: str, y: str | None, where: Sequence[str], output: Path | None, cell: int
) -> None:
    """Draw the X/Y plot of a sweep's images: one value of X per column, of Y per row."""
    from .spec_plots import default_plot_file
    from .xyplot import parse_where, plan_xy_plot, render_xy_plot

    try:
        plot = plan_xy_plot(out, x=x, y=y, where=parse_where(where))
    except SpecError as exc:
        _err(f"error: {exc}")
        raise SystemExit(2) from None
    for warning in plot.warnings():
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    folder = out if out.is_dir() else out.parent
    dest = render_xy_plot(plot, output or folder / default_plot_file(x, y), cell_px=cell)
    shown = sum(c.image is not None for c in plot.cells)
    click.echo(f"{dest}: {shown} of {len(plot.cells)} cells have an image")


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
@click.option("--cache", type=click.Choice(["classic", "none"]), default="classic")
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
    device: Literal["cuda", "cpu"],  # click.Choice keeps it to these
    vram_gb: float,
    data_dir: Path | None,
    cache: Literal["classic", "none"],
    seed: int,
    object_info: Path | None,
    checkpoints: tuple[str, ...],
) -> None:
    """Run a simulated ComfyUI 0.8.0 server, to test an integration with no GPU.

    Same routes (with and without /api), same websocket messages in the same
    order, same validation errors as a real ComfyUI 0.8.0.
    """
    from .simulator import GIB, SimConfig, serve

    config = SimConfig(
        speed=speed,
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
    click.echo(f"simulated ComfyUI at http://{host}:{port} (Ctrl-C to stop)", err=True)
    try:
        asyncio.run(serve(config, host=host, port=port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _err(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise SystemExit(2) from None


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


if __name__ == "__main__":
    main()
