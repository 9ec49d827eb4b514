"""``comfyfleet demo``: the whole product against a simulated fleet, no GPU needed.

Starts a few simulators of different speeds (so the pull-based dispatch visibly
gives the fast one more work), runs the bundled sampler shootout across them
(KSampler progress, previews, checkpoint loads and VRAM moving on the cards),
and leaves a real report, real PNGs and the spec's X/Y plot behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from ..config import ServerConfig
from ..simulator import SimConfig, Simulator

__all__ = ["DEMO_SPEED", "bundled", "demo_fleet", "run_demo"]

DEMO_SPEED = (0.6, 1.0, 1.6)
"""Cost multipliers of the demo's servers: one fast, one typical, one slow."""


def bundled(name: str) -> Path:
    """A file of ``sample_workflows/``: inside the installed package, or the checkout."""
    package = Path(__file__).resolve().parents[1]  # sweeps/: installed, or in the checkout
    for base in (package / "sample_workflows", package.parent / "sample_workflows"):
        if (base / name).is_file():
            return base / name
    raise FileNotFoundError(f"sample_workflows/{name} is missing from this installation")


@contextlib.asynccontextmanager
async def demo_fleet(count: int, *, speed_scale: float = 1.0) -> AsyncIterator[list[ServerConfig]]:
    """``count`` simulators on loopback, each a little slower than the last."""
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i in range(count):
            speed = DEMO_SPEED[i % len(DEMO_SPEED)] * (1 + i // len(DEMO_SPEED)) * speed_scale
            config = SimConfig(speed=speed, seed=i, crystools=True)
            sim = await stack.enter_async_context(Simulator(config))
            servers.append(ServerConfig(sim.url, name=f"sim-{i + 1}"))
        yield servers


def _default_out() -> Path:
    return Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"


async def run_demo(
    *,
    count: int = 3,
    dashboard: bool = True,
    out_dir: Path | None = None,
    speed: float | None = None,
) -> int:
    """Run the demo; ``speed`` scales the simulators' costs (default: watchable in the
    dashboard, quick headless)."""
    from rich.console import Console

    from ..runner import run_sweep
    from .console import print_dashboard_exit, print_outcome, sweep_progress

    spec = bundled("sampler_shootout.yaml")
    out = out_dir or _default_out()
    console = Console(stderr=True)
    scale = speed if speed is not None else (1.0 if dashboard else 0.05)
    async with demo_fleet(count, speed_scale=scale) as servers:
        console.print(
            f"[bold]comfyfleet demo[/]: {count} simulated ComfyUI servers: "
            + ", ".join(s.url for s in servers),
            soft_wrap=True,  # URLs are copied from here: never break one
        )
        if dashboard:
            # Textual is imported only when the dashboard opens.
            from tui.run import run_sweep_in_dashboard

            closed = await run_sweep_in_dashboard(spec, servers=servers, out_dir=out)
            return print_dashboard_exit(closed)
        with sweep_progress(console, "demo") as bar:
            result = await run_sweep(spec, servers=servers, out_dir=out, on_progress=bar.update)
    print_outcome(console, console, result)
    console.print(
        f'Open it in Python: import sweeps; sweeps.load_report("{out}")',
        highlight=False,
        soft_wrap=True,
    )
    progress = result.progress
    return 0 if progress.failed == 0 else 1
