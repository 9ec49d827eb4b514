"""The entry points the CLI calls, lazily, for ``watch``, ``sweep --tui`` and ``demo``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from sweeps.config import ServerConfig
from sweeps.console import print_outcome
from sweeps.runner import check_plan, plan_sweep

from .app import FleetApp, SweepJob

__all__ = ["run_sweep_dashboard", "run_sweep_in_dashboard", "run_watch"]


def run_watch(servers: list[ServerConfig], *, poll_interval: float = 2.0) -> int:
    """Run the dashboard in this terminal until the user quits; returns the exit code."""
    result = FleetApp(servers, poll_interval=poll_interval).run()
    return result if isinstance(result, int) else 0


def run_sweep_dashboard(
    spec: Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    out_dir: Path | None = None,
    poll_interval: float = 2.0,
) -> int:
    """``comfyfleet sweep SPEC --tui``: check the sweep, then run it in the dashboard.

    Bad input raises :class:`~sweeps.errors.SpecError` before the screen opens.
    """
    plan = asyncio.run(plan_sweep(spec, servers=servers))
    check_plan(plan, out_dir=out_dir)
    app = FleetApp(plan.servers, poll_interval=poll_interval, sweep_job=SweepJob(plan, out_dir))
    result = app.run()
    _say_outcome(app)
    return result if isinstance(result, int) else app.exit_code()


async def run_sweep_in_dashboard(
    spec: Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    out_dir: Path | None = None,
    poll_interval: float = 1.0,
) -> int:
    """The same inside a running event loop (the demo serves its simulators on it)."""
    plan = await plan_sweep(spec, servers=servers)
    check_plan(plan, out_dir=out_dir)
    app = FleetApp(plan.servers, poll_interval=poll_interval, sweep_job=SweepJob(plan, out_dir))
    result = await app.run_async()
    _say_outcome(app)
    return result if isinstance(result, int) else app.exit_code()


def _say_outcome(app: FleetApp) -> None:
    """What the screen said, left in the terminal once it closes."""
    if app.sweep_result is not None:
        print_outcome(Console(), Console(stderr=True), app.sweep_result)
    elif app.sweep is not None:  # left while the sweep still ran: the journal has it
        print(f"sweep left at {app.sweep.completed} of {app.sweep.total}; rerun to resume")
