"""The entry points the CLI calls, lazily, for ``comfyfleet watch`` and ``sweep --tui``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sweeps.config import ServerConfig
from sweeps.monitor import SweepProgress

from .app import FleetApp

__all__ = ["run_watch"]


def run_watch(
    servers: list[ServerConfig],
    *,
    poll_interval: float = 2.0,
    sweep_source: AsyncIterator[SweepProgress] | None = None,
) -> int:
    """Run the dashboard in this terminal until the user quits; returns the exit code.

    ``comfyfleet watch`` passes the discovered servers; ``sweep --tui`` also passes
    the sweep's progress stream, which the dashboard shows in its sweep panel.
    """
    app = FleetApp(servers, poll_interval=poll_interval, sweep_source=sweep_source)
    result = app.run()
    return result if isinstance(result, int) else 0
