"""Hostile-server figures, as ratios measured in one run (the machine is shared and noisy).

    python tests/benchmarks/bench_hostile.py [--runs 12]

1. Frozen server: a sweep across two ``comfyfleet sim`` processes, one of them
   SIGSTOPped once it holds a running prompt (its sockets stay open, nothing
   answers), with the default timeouts. Printed: the seconds until the sweep
   ends, against ``Timeouts.silence``, and against the same sweep on the
   healthy server alone.
2. Alias bomb: seconds and peak memory to refuse a 9-level "billion laughs"
   spec, against loading a plain spec of the same size in bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

from sweeps.config import Timeouts
from sweeps.errors import SpecError
from sweeps.progress import SweepProgress
from sweeps.runner import run_sweep
from sweeps.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def _spec(folder: Path, runs: int, name: str) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
    spec = folder / f"{name}.yaml"
    spec.write_text(
        f"name: {name}\nworkflow: model_free.json\noutput: {name}\n"
        f"grid:\n  Noise.seed: {{range: [0, {runs}]}}\n"
    )
    return spec


def _start_sim(speed: float) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeps.cli", "sim", "--port", str(port), "--speed", str(speed)],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(transport=httpx.HTTPTransport(retries=8)) as http:
        http.get(f"{url}/system_stats", timeout=30).raise_for_status()
    return process, url


async def frozen(folder: Path, runs: int) -> None:
    victim, victim_url = _start_sim(0.5)
    healthy, healthy_url = _start_sim(0.5)
    stopped_at: list[float] = []

    def freeze(progress: SweepProgress) -> None:
        if not stopped_at and progress.servers[victim_url].running:
            os.kill(victim.pid, signal.SIGSTOP)
            stopped_at.append(time.perf_counter())

    try:
        start = time.perf_counter()
        alone = await run_sweep(_spec(folder, runs, "alone"), servers=[healthy_url])
        alone_s = time.perf_counter() - start
        result = await run_sweep(
            _spec(folder, runs, "frozen"), servers=[victim_url, healthy_url], on_progress=freeze
        )
        ended = time.perf_counter()
    finally:
        for process in (victim, healthy):
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            process.wait(10)
    assert stopped_at, "the victim never held a running prompt"
    moved_s = ended - stopped_at[0]
    silence = Timeouts().silence
    print(
        f"frozen server: {result.progress.done}/{runs} done ({alone.progress.done} alone); "
        f"sweep ended {moved_s:.1f}s after the SIGSTOP = {moved_s / silence:.2f}x "
        f"timeouts.silence ({silence:g}s); whole sweep {ended - start - alone_s:.1f}s = "
        f"{(ended - start - alone_s) / alone_s:.2f}x the healthy server alone ({alone_s:.1f}s)"
    )


def bomb(folder: Path) -> None:
    parts = ["&a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    head = "name: b\nworkflow: model_free.json\ngrid:\n  Noise.seed: "
    bomb_spec = folder / "bomb.yaml"
    bomb_spec.write_text(head + "[" + ", ".join(parts) + "]\n")
    size = bomb_spec.stat().st_size
    plain = folder / "plain.yaml"
    values = ", ".join(str(i) for i in range(size // 8))
    plain.write_text(head + f"[{values}]\n")
    figures = []
    for path in (bomb_spec, plain):
        tracemalloc.start()
        start = time.perf_counter()
        try:
            load_spec(path)
        except SpecError as exc:
            assert path is bomb_spec, exc
        figures.append((time.perf_counter() - start, tracemalloc.get_traced_memory()[1]))
        tracemalloc.stop()
    (bomb_s, bomb_peak), (plain_s, plain_peak) = figures
    print(
        f"alias bomb ({size} bytes, 10^9 values expanded): refused in {bomb_s * 1000:.0f} ms, "
        f"peak {bomb_peak / 1024:.0f} KiB = {bomb_s / plain_s:.2f}x the time and "
        f"{bomb_peak / plain_peak:.2f}x the memory of loading a plain spec of its size"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(REPO / "sample_workflows" / "model_free.json", folder / "model_free.json")
        bomb(folder)
        asyncio.run(frozen(folder, args.runs))


if __name__ == "__main__":
    main()
