"""Sweep engine figures, as ratios measured in one run (the machine is shared and noisy).

    python tests/benchmarks/bench_sweep.py [--runs 300] [--servers 3]

1. Dispatch: a sweep of N runs across S zero-cost simulators, against the same
   prompts submitted and awaited directly with one ServerConnection per server
   and no scheduler, report or downloads. The ratio is what the engine costs.
2. Planning memory: peak bytes to plan (len, index, sample) a 1,000,000-run grid,
   against the peak bytes of materialising 1,000 of its runs as a list.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sweeps.connection import ServerConnection
from sweeps.grid import Grid
from sweeps.runner import run_sweep
from sweeps.simulator import SimConfig, Simulator
from sweeps.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def _write_spec(folder: Path, runs: int) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
    spec = folder / "bench.yaml"
    spec.write_text(
        "name: bench\nworkflow: model_free.json\noutput: out\n"
        f"grid:\n  Noise.seed: {{range: [0, {runs}]}}\n"
    )
    return spec


async def direct(urls: list[str], queues: list[list[dict[str, Any]]]) -> float:
    """Seconds to run every prompt with a bare connection per server, two in flight
    each; server i takes from ``queues[i]`` (the same list for a shared queue)."""
    conns = [ServerConnection(u) for u in urls]
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        listeners = [group.create_task(c.listen()) for c in conns]

        async def worker(conn: ServerConnection, queue: list[dict[str, Any]]) -> None:
            while queue:
                await conn.run_prompt(queue.pop())

        async with asyncio.TaskGroup() as workers:
            for conn, queue in zip(conns, queues, strict=True):
                for _ in range(2):
                    workers.create_task(worker(conn, queue))
        for listener in listeners:
            listener.cancel()
    elapsed = time.perf_counter() - start
    for conn in conns:
        await conn.client.aclose()
    return elapsed


async def dispatch(runs: int, servers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = _write_spec(folder, runs)
        grid = Grid(load_spec(spec))
        prompts = [grid.prompt_for(run) for run in grid]
        async with contextlib.AsyncExitStack() as stack:
            sims = [
                await stack.enter_async_context(Simulator(SimConfig(speed=0.0, seed=i)))
                for i in range(servers)
            ]
            urls = [s.url for s in sims]
            shared = list(prompts)
            bare = await direct(urls, [shared] * len(urls))
            start = time.perf_counter()
            result = await run_sweep(spec, servers=urls)
            swept = time.perf_counter() - start
        assert result.progress.done == runs, result.progress
    print(f"dispatch: {runs} runs on {servers} zero-cost simulators")
    print(f"  sweep engine      {runs / swept:8.1f} runs/s (with report and downloads)")
    print(f"  direct submission {runs / bare:8.1f} runs/s (bare client, nothing recorded)")
    print(f"  ratio: a sweep takes {swept / bare:.2f}x the time of bare submission")


def planning_memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
        spec = folder / "big.yaml"
        spec.write_text(
            "name: big\nworkflow: model_free.json\n"
            "grid:\n  Noise.seed: {range: [0, 10000]}\n"
            "  Noise.strength: {range: [0.0, 1.0, 0.01]}\n"
        )
        tracemalloc.start()
        grid = Grid(load_spec(spec))
        total = len(grid)
        grid[total // 2], grid[-1]
        _, plan_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sample = [grid[i] for i in range(1000)]
        _, thousand_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del sample
    print(f"planning: a {total:,}-run grid")
    print(f"  plan (len, index)          peak {plan_peak / 1024:8.1f} KiB")
    print(f"  1,000 runs materialised    peak {thousand_peak / 1024:8.1f} KiB")
    print(
        f"  ratio plan/1,000 runs: {plan_peak / thousand_peak:.3f}"
        f" (a full list would be ~{total / 1000 * thousand_peak / 2**20:,.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--servers", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(dispatch(args.runs, args.servers))
    planning_memory()


if __name__ == "__main__":
    main()
