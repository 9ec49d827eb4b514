"""Blocking twins of the async API, for notebooks and scripts.

The engine is async all the way; a notebook cell or a plain script just wants
an answer. Each function here runs its coroutine to the end and returns what
it returns::

    import sweeps
    plan = sweeps.plan_sweep_sync("sweep.yaml")
    result = sweeps.run_sweep_sync("sweep.yaml", out_dir="runs/today")
    df = sweeps.load_report(result.out_dir)

Jupyter already runs an event loop in the notebook's thread, and a loop cannot
be re-entered (``asyncio.run`` refuses, and patching the loop to allow it breaks
libraries). So where a loop is running, the coroutine gets its own loop in one
worker thread, and the cell waits for it: the one place the engine uses a
thread, because the host forces it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .config import ServerConfig
    from .progress import SweepProgress
    from .runner import Plan, SweepResult
    from .spec import SweepSpec

__all__ = ["plan_sweep_sync", "run_sweep_sync", "run_sync"]

T = TypeVar("T")


def run_sync(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``main()`` makes, to its end, from code that is not async."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="comfyfleet") as worker:
        return worker.submit(lambda: asyncio.run(main())).result()


def plan_sweep_sync(
    spec: SweepSpec | str | Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    check_servers: bool = True,
) -> Plan:
    """:func:`sweeps.plan_sweep`, blocking."""
    from .runner import plan_sweep

    return run_sync(lambda: plan_sweep(spec, servers=servers, check_servers=check_servers))


def run_sweep_sync(
    spec: SweepSpec | str | Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    out_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    depth: int = 2,
) -> SweepResult:
    """:func:`sweeps.run_sweep`, blocking. ``on_progress`` is called from the sweep's
    thread in a notebook: keep it quick (update a progress bar, append to a list)."""
    from .runner import run_sweep

    return run_sync(
        lambda: run_sweep(
            spec, servers=servers, out_dir=out_dir, on_progress=on_progress, depth=depth
        )
    )
