"""One sweep process driving a big fleet, as ratios measured in one run.

    python tests/benchmarks/bench_fleet.py [--servers 1000] [--runs 6000]

The fleet (zero-cost simulators) lives in a process of its own
(``sweeps.simulator.fleet``); the sweep runs in a fresh child per figure, with
its open-file limit set to the common default (soft 1024), as a user's shell
would give it. For the full fleet and for 50 of its servers: throughput, the
sweep's CPU per run and share of a core, and the time from the call to the
first submission (planning: every server's /object_info fetched and checked).

Goals: >= 300 runs/s at 1,000 servers on one core, CPU per run within 5% of the
50-server figure, first submission < 2 s, no failure under ``ulimit -n 1024``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sweep import in_child, write_spec  # beside this script, on its path when it runs


def _sweep(spec: Path, urls: list[str], queue: multiprocessing.Queue) -> None:
    import asyncio

    from sweeps.runner import run_sweep

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    first: list[float] = []

    def progress(snapshot: object) -> None:
        if not first and getattr(snapshot, "running", 0):
            first.append(time.perf_counter())

    start, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(run_sweep(spec, servers=urls, on_progress=progress))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    queue.put((result.progress.done, wall, cpu, first[0] - start, wall - (first[0] - start)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=6000)
    args = parser.parse_args()
    host = subprocess.Popen(
        [sys.executable, "-m", "sweeps.simulator.fleet", str(args.servers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert host.stdout is not None and host.stdin is not None
    urls = []
    for line in host.stdout:
        if line.strip() == "ready":
            break
        urls.append(line.strip())
    try:
        rows = {}
        for count in (50, args.servers):
            with tempfile.TemporaryDirectory() as tmp:
                spec = write_spec(Path(tmp), args.runs)
                rows[count] = in_child(_sweep, spec, urls[:count])
    finally:
        host.stdin.close()
        host.wait()
    print(f"fleet: {args.runs:,} runs, sweep process at ulimit -n 1024, fleet in another process")
    for count, (done, wall, cpu, first, after) in rows.items():
        print(
            f"  {count:5} servers: {done} done, {args.runs / wall:6.1f} runs/s overall, "
            f"{args.runs / after:6.1f} after the first submission; "
            f"{cpu / args.runs * 1000:.2f} ms CPU/run, {cpu / wall:.2f} of a core; "
            f"first submission {first:.2f} s"
        )
    (_, _, cpu_small, _, _), (_, wall, cpu_big, first, after) = rows[50], rows[args.servers]
    print(f"  ratio runs/s at {args.servers} servers / 300: {args.runs / after / 300:.2f}")
    print(f"  ratio CPU per run at {args.servers} / at 50 servers: {cpu_big / cpu_small:.2f}")
    print(f"  ratio first submission / 2 s: {first / 2:.2f}")


if __name__ == "__main__":
    main()
