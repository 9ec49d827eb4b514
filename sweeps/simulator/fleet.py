"""Many simulated servers in one process, on one event loop: a big fleet for benchmarks.

A thousand ``comfyfleet sim`` processes would measure the machine's scheduler, not
the sweep; here each server is an aiohttp app on its own ephemeral port, sharing
the loop. Run it as a process of its own so the fleet's sockets do not count
against the sweep's open-file limit::

    python -m sweeps.simulator.fleet 1000 --speed 0   # prints one URL a line, then "ready"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import resource
import sys
from collections.abc import AsyncIterator

from sweeps.simulator.config import SimConfig
from sweeps.simulator.server import Simulator

__all__ = ["simulated_fleet"]


@contextlib.asynccontextmanager
async def simulated_fleet(count: int, config: SimConfig | None = None) -> AsyncIterator[list[str]]:
    """``count`` simulators on this loop (seeds 0, 1, ...); yields their URLs."""
    base = config or SimConfig()
    async with contextlib.AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(Simulator(dataclasses.replace(base, seed=i)))
            for i in range(count)
        ]
        yield [sim.url for sim in sims]


async def _serve(count: int, speed: float) -> None:
    async with simulated_fleet(count, SimConfig(speed=speed)) as urls:
        print(*urls, "ready", sep="\n", flush=True)
        # Until whoever started us closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--speed", type=float, default=0.0)
    args = parser.parse_args()
    # Each server holds a listening socket and the sweep's connections: lift the
    # soft limit to the hard one (no privilege needed).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve(args.count, args.speed))


if __name__ == "__main__":
    main()
