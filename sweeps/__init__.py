"""comfyfleet's engine: a ComfyUI client, fleet state, sweeps, a simulator. No UI.

>>> import sweeps
>>> df = sweeps.load_report("runs/sampler-shootout")        # doctest: +SKIP
>>> result = sweeps.run_sweep_sync("sweep.yaml", out_dir="runs/x")  # doctest: +SKIP
>>> async with sweeps.ComfyClient("http://127.0.0.1:8188") as client:  # doctest: +SKIP
...     stats = await client.system_stats()

Names resolve lazily (PEP 562), so ``import sweeps`` stays cheap: polars and
aiohttp load only when a report or the simulator is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "ClientClosed",
    "ComfyClient",
    "FleetError",
    "Grid",
    "Limits",
    "PromptOutcome",
    "PromptRejected",
    "ProtocolError",
    "RequestRejected",
    "ServerConfig",
    "ServerConnection",
    "ServerError",
    "ServerFailed",
    "ServerTimeout",
    "ServerUnreachable",
    "SimConfig",
    "Simulator",
    "SpecError",
    "Sweep",
    "SweepProgress",
    "Timeouts",
    "TransportError",
    "load_report",
    "load_spec",
    "plan_sweep",
    "plan_sweep_sync",
    "plan_xy_plot",
    "render_xy_plot",
    "report_metadata",
    "run_sweep",
    "run_sweep_sync",
    "run_sync",
    "summarize",
]

_HOMES = {
    "ClientClosed": "errors",
    "ComfyClient": "client",
    "FleetError": "errors",
    "Grid": "grid",
    "Limits": "config",
    "PromptOutcome": "tracking",
    "PromptRejected": "errors",
    "ProtocolError": "errors",
    "RequestRejected": "errors",
    "ServerConfig": "config",
    "ServerConnection": "connection",
    "ServerError": "errors",
    "ServerFailed": "errors",
    "ServerTimeout": "errors",
    "ServerUnreachable": "errors",
    "SimConfig": "simulator",
    "Simulator": "simulator",
    "SpecError": "errors",
    "Sweep": "scheduler",
    "SweepProgress": "progress",
    "Timeouts": "config",
    "TransportError": "errors",
    "load_report": "report",
    "load_spec": "spec",
    "plan_sweep": "runner",
    "plan_sweep_sync": "sync",
    "plan_xy_plot": "xyplot",
    "render_xy_plot": "xyplot",
    "report_metadata": "report",
    "run_sweep": "runner",
    "run_sweep_sync": "sync",
    "run_sync": "sync",
    "summarize": "summary",
}

if TYPE_CHECKING:
    from .client import ComfyClient
    from .config import Limits, ServerConfig, Timeouts
    from .connection import ServerConnection
    from .errors import (
        ClientClosed,
        FleetError,
        PromptRejected,
        ProtocolError,
        RequestRejected,
        ServerError,
        ServerFailed,
        ServerTimeout,
        ServerUnreachable,
        SpecError,
        TransportError,
    )
    from .grid import Grid
    from .progress import SweepProgress
    from .report import load_report, report_metadata
    from .runner import plan_sweep, run_sweep
    from .scheduler import Sweep
    from .simulator import SimConfig, Simulator
    from .spec import load_spec
    from .summary import summarize
    from .sync import plan_sweep_sync, run_sweep_sync, run_sync
    from .tracking import PromptOutcome
    from .xyplot import plan_xy_plot, render_xy_plot


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
