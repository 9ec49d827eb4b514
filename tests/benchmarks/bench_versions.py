"""What playing a newer ComfyUI costs, as ratios measured in one run (the machine is shared).

    python tests/benchmarks/bench_versions.py [--rounds 20]

0.33.0 has 889 node classes where the simulator's 0.8.0 has a trimmed 60, so every
simulator start and every ``/object_info`` a client reads is bigger. Printed:

1. Simulator start and stop, 0.33.0 against 0.8.0 (the tests start hundreds).
2. ``client.object_info()`` (fetch and parse every schema), 0.33.0 against 0.8.0:
   what preflight pays per server, as it would against a real newer ComfyUI.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sweeps.client import ComfyClient
from sweeps.simulator import SimConfig, Simulator


async def _start_stop(version: str, rounds: int) -> float:
    began = time.perf_counter()
    for _ in range(rounds):
        async with Simulator(SimConfig(speed=0.0, comfy_version=version)):
            pass
    return (time.perf_counter() - began) / rounds


async def _object_info(version: str, rounds: int) -> float:
    """Mean seconds per fetch, after one that warms the simulator's serialised body."""
    async with (
        Simulator(SimConfig(speed=0.0, comfy_version=version)) as sim,
        ComfyClient(sim.url) as client,
    ):
        await client.object_info()
        began = time.perf_counter()
        for _ in range(rounds):
            await client.object_info()
        return (time.perf_counter() - began) / rounds


async def main(rounds: int) -> None:
    await _start_stop("0.33.0", 2)  # warm the parsed-document cache of both versions
    await _start_stop("0.8.0", 2)
    old_start = await _start_stop("0.8.0", rounds)
    new_start = await _start_stop("0.33.0", rounds)
    old_info = await _object_info("0.8.0", rounds)
    new_info = await _object_info("0.33.0", rounds)
    print(f"simulator start+stop, 0.33.0 / 0.8.0:  {new_start / old_start:6.2f}x")
    print(f"client.object_info(), 0.33.0 / 0.8.0:  {new_info / old_info:6.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
