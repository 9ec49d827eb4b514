"""Dispatch quality on simulated fleets, every figure a ratio measured in one run.

    python tests/benchmarks/bench_dispatch.py [--quick] [--scale 1.0]

Every simulator has the same node costs: a run takes about 0.4 s on a speed-1
server and a checkpoint load ten times that (``--scale`` multiplies both).
Servers keep their ports from case to case, so what the cost model learns
about a server (kept in a temporary data directory) carries over, as it would
for a real fleet. Two short calibration sweeps come first.

1. Mixed speeds 1,1,1,1,2,2,4,4 at 800 and 160 runs of a model-free workflow:
   efficiency is the ideal makespan (every server busy to the end at its
   measured pace, the mean run time there, all finishing together) over the
   actual one. Nominal speeds overstate the fast servers a little: a node's
   fixed overhead does not shrink with speed. Round-robin
   (run i on server i mod 8, two in flight each) is printed beside it, on the
   same fleet in the same run.
2. Model placement, 4 servers of speed 1: 4 checkpoints x 100 with the
   checkpoint varying fastest; 6 x 60 with it varying slowest; 4 x 100 where one
   checkpoint is on one server only. Loads are counted from the report (runs in
   which the loader node executed); the lower bound loads each checkpoint once
   and spreads the work evenly (or, with the lone checkpoint, gives its server
   that checkpoint's runs).
3. ETA: for each case, the makespan predicted before the sweep (what
   ``comfyfleet plan`` prints) over the actual one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from sweeps.connection import ServerConnection
from sweeps.grid import Grid
from sweeps.report import load_report
from sweeps.runner import plan_estimate, plan_sweep, run_sweep
from sweeps.simulator import SimConfig, Simulator
from sweeps.simulator.config import NodeCosts
from sweeps.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
LOADER_NODE = "4"  # "Load Checkpoint" in sample_workflows/txt2img_sd15.json
LOADER_CLASS = "CheckpointLoaderSimple"

# At speed 1: a one-step txt2img run is ~430 ms (sampler step, VAE decode, save),
# a checkpoint load ten times that; a model-free run (blur) ~415 ms.
COSTS = NodeCosts(
    checkpoint_load_ms=4300.0, per_class_ms={**NodeCosts().per_class_ms, "ImageBlur": 400.0}
)
MIXED = [1, 1, 1, 1, 2, 2, 4, 4]


async def direct(urls: list[str], queues: list[list[dict[str, Any]]]) -> float:
    """Seconds to run every prompt with a bare connection per server, two in flight
    each; server i takes from ``queues[i]``: round-robin, when the queues are the
    prompts dealt out in turn."""
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


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass(frozen=True)
class Outcome:
    """What one sweep did, read back from its report."""

    makespan: float
    loads: int
    run_s: float
    """Median seconds of a run on a speed-1 server, loads excluded."""
    load_s: float
    """Median seconds of a checkpoint load."""
    runs_per_server: list[int]
    per_run: dict[str, float]
    """Mean seconds of a run on each server, loads excluded."""
    predicted: float | None
    """The makespan estimated before the sweep, when the cost model was calibrated."""


@dataclass(frozen=True)
class Bench:
    folder: Path
    ports: list[int]
    scale: float

    @contextlib.asynccontextmanager
    async def fleet(self, count: int, only_first: str | None = None) -> AsyncIterator[list[str]]:
        """The first ``count`` servers, fresh (nothing loaded), of speeds ``MIXED``;
        ``only_first`` is a checkpoint only the first one has."""
        common = tuple(f"ckpt-{i}.safetensors" for i in range(6))
        async with contextlib.AsyncExitStack() as stack:
            sims = []
            for i, speed in enumerate(MIXED[:count]):
                extra = common + ((only_first,) if only_first and i == 0 else ())
                config = SimConfig(
                    speed=self.scale / speed,
                    seed=i,
                    previews=False,
                    costs=COSTS,
                    extra_checkpoints=extra,
                )
                sim = Simulator(config, port=self.ports[i])
                sims.append(await stack.enter_async_context(sim))
            yield [s.url for s in sims]


def write_spec(folder: Path, name: str, grid: str, *, model_free: bool = False) -> Path:
    """A sweep of one-step txt2img runs (or of the model-free blur workflow)."""
    if model_free:
        shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
        body = "workflow: model_free.json\n"
    else:
        workflow = json.loads((REPO / "sample_workflows" / "txt2img_sd15.json").read_text())
        workflow[LOADER_NODE]["inputs"]["ckpt_name"] = "ckpt-0.safetensors"
        (folder / "txt2img.json").write_text(json.dumps(workflow))
        body = "workflow: txt2img.json\nset:\n  KSampler.steps: 1\n"
    spec = folder / f"{name}.yaml"
    spec.write_text(f"name: {name}\noutput: {name}\n{body}grid:\n{grid}")
    return spec


async def sweep(spec: Path, urls: list[str]) -> Outcome:
    """Run ``spec``; what its report says, and what was predicted before it started."""
    rel = dict(zip(urls, MIXED, strict=False))
    predicted = plan_estimate(await plan_sweep(spec, servers=urls))
    result = await run_sweep(spec, servers=urls)
    df = load_report(result.out_dir)
    assert df["status"].eq("success").all(), df.filter(pl.col("status") != "success")
    first, last = df["submitted_at"].min(), df["finished_at"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    makespan = (last - first).total_seconds()
    loaded = [
        any(t["class_type"] == LOADER_CLASS and not t["cached"] for t in ts)
        for ts in df["node_timings"]
    ]
    load_times = [
        t["seconds"] * rel[server]
        for server, ts in zip(df["server"], df["node_timings"], strict=True)
        for t in ts
        if t["class_type"] == LOADER_CLASS and not t["cached"]
    ]
    plain = [
        (e, s) for e, s, load in zip(df["exec_s"], df["server"], loaded, strict=True) if not load
    ]
    run_s = statistics.median(e * rel[s] for e, s in plain)
    per_run = {u: statistics.fmean(e for e, s in plain if s == u) for u in {s for _, s in plain}}
    per_server = df.group_by("server").agg(pl.len().alias("runs"))
    runs = dict(zip(per_server["server"], per_server["runs"], strict=True))
    return Outcome(
        makespan=makespan,
        loads=sum(loaded),
        run_s=run_s,
        load_s=statistics.median(load_times) if load_times else 0.0,
        runs_per_server=[runs.get(u, 0) for u in urls],
        per_run=per_run,
        predicted=predicted.total if predicted.calibrated else None,
    )


def eta_line(outcome: Outcome) -> str:
    if outcome.predicted is None:
        return "  ETA: not calibrated"
    return f"  ETA: predicted/actual makespan {outcome.predicted / outcome.makespan:.3f}"


async def mixed_speeds(bench: Bench, runs: int) -> None:
    spec = write_spec(
        bench.folder, f"mixed{runs}", f"  Noise.seed: {{range: [0, {runs}]}}\n", model_free=True
    )
    async with bench.fleet(len(MIXED)) as urls:
        outcome = await sweep(spec, urls)
        # All busy to the end, each at its measured pace: T = N / sum(1 / t_server).
        ideal = runs / sum(1 / t for t in outcome.per_run.values())
        grid = Grid(load_spec(spec))
        prompts = [grid.prompt_for(run) for run in grid]
        # Round-robin: run i on server i mod 8, two in flight per server.
        rr = await direct(urls, [prompts[i :: len(urls)][::-1] for i in range(len(urls))])
    print(f"mixed speeds 1,1,1,1,2,2,4,4, {runs} runs:")
    print(f"  efficiency (ideal/actual makespan): sweep {ideal / outcome.makespan:.3f}")
    print(f"                                round-robin {ideal / rr:.3f}")
    print(f"  runs per server: {', '.join(map(str, outcome.runs_per_server))}")
    print(eta_line(outcome))


async def placement(
    bench: Bench, name: str, grid: str, counts: dict[str, int], lone: str | None = None
) -> None:
    spec = write_spec(bench.folder, name, grid)
    async with bench.fleet(4, only_first=lone) as urls:
        outcome = await sweep(spec, urls)
    total = sum(counts.values())
    t, load = outcome.run_s, outcome.load_s
    bound = (total * t + len(counts) * load) / 4
    if lone is not None:
        bound = max(bound, counts[lone] * t + load)
    print(f"placement {name}: {len(counts)} checkpoints x {total // len(counts)} runs, 4 servers")
    print(
        f"  loads {outcome.loads} (each checkpoint once: {len(counts)}); "
        f"makespan {outcome.makespan / bound:.3f}x the lower bound "
        f"(a load costs {load / t:.1f} runs)"
    )
    print(f"  runs per server: {', '.join(map(str, outcome.runs_per_server))}")
    print(eta_line(outcome))


def ckpts(names: list[str]) -> str:
    return json.dumps(names)


async def main(quick: bool, scale: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = tmp  # the cost model's file, not the user's
        bench = Bench(Path(tmp), free_ports(len(MIXED)), scale)
        common = [f"ckpt-{i}.safetensors" for i in range(6)]
        print("calibrating: 64 model-free runs on 8 servers, 6 checkpoints x 8 on 4 ...")
        async with bench.fleet(len(MIXED)) as urls:
            spec = write_spec(
                bench.folder, "cal1", "  Noise.seed: {range: [0, 64]}\n", model_free=True
            )
            await run_sweep(spec, servers=urls)
        async with bench.fleet(4) as urls:
            grid = f"  Load Checkpoint.ckpt_name: {ckpts(common)}\n"
            grid += "  KSampler.seed: {range: [0, 8]}\n"
            await run_sweep(write_spec(bench.folder, "cal2", grid), servers=urls)
        for runs in (160,) if quick else (800, 160):
            await mixed_speeds(bench, runs)
        seeds = "  KSampler.seed: {range: [0, 100]}\n"
        await placement(
            bench,
            "ckpt-fastest",
            f"{seeds}  Load Checkpoint.ckpt_name: {ckpts(common[:4])}\n",
            dict.fromkeys(common[:4], 100),
        )
        await placement(
            bench,
            "ckpt-slowest",
            f"  Load Checkpoint.ckpt_name: {ckpts(common)}\n  KSampler.seed: {{range: [0, 60]}}\n",
            dict.fromkeys(common, 60),
        )
        lone = "lone.safetensors"
        await placement(
            bench,
            "lone-checkpoint",
            f"{seeds}  Load Checkpoint.ckpt_name: {ckpts([*common[:3], lone])}\n",
            dict.fromkeys([*common[:3], lone], 100),
            lone=lone,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 800-run case")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every cost")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.scale))
