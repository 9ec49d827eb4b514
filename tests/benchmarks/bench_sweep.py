"""Sweep engine figures, as ratios measured in one run (the machine is shared and noisy).

    python tests/benchmarks/bench_sweep.py [--runs 300] [--servers 3]

1. Throughput: a sweep of N runs across S zero-cost simulators, against a minimal
   hand-written client doing the same work (POST /prompt, wait on /ws for
   ``executing null``, GET /history, GET /view, save the file), two prompts per
   server in flight, nothing journaled. Each side runs twice, alternately; the
   best of each counts. The ratio is the sweep's throughput over the minimal one:
   what the engine (group-committed journal, report, scheduler) costs.
2. Plan at scale: ``plan_sweep`` of a 1,000,000-run grid, its time and peak RSS
   against the goals (2 s, 200 MB).
3. Planning memory: peak bytes to plan (len, index, sample) a 1,000,000-run grid,
   against the peak bytes of materialising 1,000 of its runs as a list.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

from sweeps.grid import Grid
from sweeps.runner import run_sweep
from sweeps.simulator import SimConfig, Simulator
from sweeps.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def write_spec(folder: Path, runs: int) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
    spec = folder / "bench.yaml"
    spec.write_text(
        "name: bench\nworkflow: model_free.json\noutput: out\n"
        f"grid:\n  Noise.seed: {{range: [0, {runs}]}}\n"
    )
    return spec


async def _minimal_server(url: str, prompts: list[dict[str, Any]], dest: Path) -> None:
    """What a user's own script would do against one server, with no error handling."""
    client_id = uuid.uuid4().hex
    done: dict[str, asyncio.Future[None]] = {}
    ws_url = url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"
    async with (
        httpx.AsyncClient(base_url=url) as http,
        websockets.connect(ws_url, max_size=None, compression=None) as ws,
    ):

        async def listen() -> None:
            async for frame in ws:
                if isinstance(frame, bytes):
                    continue
                message = json.loads(frame)
                data = message.get("data") or {}
                if message.get("type") == "executing" and data.get("node") is None:
                    waiter = done.get(data.get("prompt_id", ""))
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)

        async def worker() -> None:
            loop = asyncio.get_running_loop()
            while prompts:
                prompt = prompts.pop()
                prompt_id = str(uuid.uuid4())
                done[prompt_id] = loop.create_future()
                body = {"prompt": prompt, "client_id": client_id, "prompt_id": prompt_id}
                (await http.post("/prompt", json=body)).raise_for_status()
                await done[prompt_id]
                del done[prompt_id]
                history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
                for node_id, output in history["outputs"].items():
                    for image in output.get("images", []):
                        got = await http.get("/view", params=image)
                        (dest / f"{prompt_id}-{node_id}-{image['filename']}").write_bytes(
                            got.content
                        )

        listener = asyncio.create_task(listen())
        async with asyncio.TaskGroup() as workers:
            for _ in range(2):
                workers.create_task(worker())
        listener.cancel()


async def _minimal(urls: list[str], prompts: list[dict[str, Any]], dest: Path) -> float:
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i, url in enumerate(urls):
            group.create_task(_minimal_server(url, prompts[i :: len(urls)], dest))
    return time.perf_counter() - start


async def dispatch(runs: int, servers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = write_spec(folder, runs)
        grid = Grid(load_spec(spec))
        prompts = [dict(grid.prompt_for(run)) for run in grid]
        minimal, swept = [], []
        async with contextlib.AsyncExitStack() as stack:
            sims = [
                await stack.enter_async_context(Simulator(SimConfig(speed=0.0, seed=i)))
                for i in range(servers)
            ]
            urls = [s.url for s in sims]
            for attempt in range(2):
                dest = folder / f"minimal-{attempt}"
                dest.mkdir()
                minimal.append(await _minimal(urls, list(prompts), dest))
                start = time.perf_counter()
                result = await run_sweep(spec, servers=urls, out_dir=folder / f"out-{attempt}")
                swept.append(time.perf_counter() - start)
                assert result.progress.done == runs, result.progress
    print(f"throughput: {runs} runs on {servers} zero-cost simulators (best of 2 each)")
    print(f"  sweep engine    {runs / min(swept):8.1f} runs/s (journal fsynced, report, downloads)")
    print(f"  minimal client  {runs / min(minimal):8.1f} runs/s (same HTTP work, no journal)")
    print(f"  ratio sweep/minimal throughput: {min(minimal) / min(swept):.2f}x (goal >= 1.0)")


def planning_memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = big_spec(Path(tmp))
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


def in_child(target: Callable[..., None], *args: object) -> Any:
    """Run ``target(*args, queue)`` in a fresh (spawned) process; what it puts, returned."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def big_spec(folder: Path) -> Path:
    """A 1,000,000-run spec."""
    shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
    spec = folder / "big.yaml"
    spec.write_text(
        "name: big\nworkflow: model_free.json\n"
        "grid:\n  Noise.seed: {range: [0, 10000]}\n"
        "  Noise.strength: {range: [0.0, 1.0, 0.01]}\n"
    )
    return spec


def _plan_in_child(spec: Path, queue: multiprocessing.Queue) -> None:
    from sweeps.runner import plan_sweep

    async def plan() -> float:
        async with Simulator(SimConfig(speed=0.0)) as sim:
            start = time.perf_counter()
            result = await plan_sweep(spec, servers=[sim.url])
            assert result.ok and len(result.grid) == 1_000_000, result.preflight
            return time.perf_counter() - start

    elapsed = asyncio.run(plan())
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def plan_at_scale() -> None:
    """``plan_sweep`` of a 1,000,000-run grid against a simulator, in a fresh process:
    its time, and the process's peak RSS (imports and simulator included)."""
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, peak_mib = in_child(_plan_in_child, big_spec(Path(tmp)))
    print("plan: 1,000,000 runs checked against a simulator (a fresh process)")
    print(f"  {elapsed:.2f} s, peak RSS {peak_mib:.0f} MiB")
    print(f"  ratio time / 2 s: {elapsed / 2:.2f}; ratio peak RSS / 200 MB: {peak_mib / 200:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=3)
    args = parser.parse_args()
    plan_at_scale()
    planning_memory()
    asyncio.run(dispatch(args.runs, args.servers))


if __name__ == "__main__":
    main()
