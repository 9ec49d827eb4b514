"""The entry points the CLI calls, lazily, for ``watch``, ``sweep --tui`` and ``demo``.

They return how the dashboard closed and never print: what stays in the terminal
once the screen is gone is the command line's to say (:mod:`sweeps.cli`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sweeps.config import ServerConfig
from sweeps.progress import SweepProgress
from sweeps.runner import SweepResult, check_plan, plan_sweep

from .app import FleetApp, SweepJob

__all__ = ["DashboardExit", "run_sweep_dashboard", "run_sweep_in_dashboard", "run_watch"]


@dataclass(frozen=True)
class DashboardExit:
    """How a sweep's dashboard closed."""

    code: int
    result: SweepResult | None
    """The sweep's outcome, when it ended on screen."""
    left: SweepProgress | None
    """Where the sweep stood when the user left while it still ran (the journal has it)."""


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
) -> DashboardExit:
    """``comfyfleet sweep SPEC --tui``: check the sweep, then run it in the dashboard.

    Bad input raises :class:`~sweeps.errors.SpecError` before the screen opens.
    """
    plan = asyncio.run(plan_sweep(spec, servers=servers))
    check_plan(plan, out_dir=out_dir)
    app = FleetApp(plan.servers, poll_interval=poll_interval, sweep_job=SweepJob(plan, out_dir))
    return _exit(app, app.run())


async def run_sweep_in_dashboard(
    spec: Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    out_dir: Path | None = None,
    poll_interval: float = 1.0,
) -> DashboardExit:
    """The same inside a running event loop (the demo serves its simulators on it)."""
    plan = await plan_sweep(spec, servers=servers)
    check_plan(plan, out_dir=out_dir)
    app = FleetApp(plan.servers, poll_interval=poll_interval, sweep_job=SweepJob(plan, out_dir))
    return _exit(app, await app.run_async())


def _exit(app: FleetApp, returned: object) -> DashboardExit:
    code = returned if isinstance(returned, int) else app.exit_code()
    left = app.sweep if app.sweep_result is None else None
    return DashboardExit(code, app.sweep_result, left)
