"""``crystools.monitor`` messages, as the ComfyUI-Crystools extension broadcasts them.

Many real fleets run Crystools, and the dashboard draws its GPU gauges from
these messages when present, so the simulator can emit them too. Readings follow
the simulated state: utilisation is high while a node runs, VRAM follows the
resident checkpoint, temperature drifts toward a load-dependent target.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from sweeps.simulator.config import SimConfig
from sweeps.simulator.memory import ModelMemory
from sweeps.simulator.sockets import SocketHub

__all__ = ["Monitor"]

_HDD_TOTAL = 1_000_000_000_000


class Monitor:
    """Produces one reading per interval and broadcasts it."""

    def __init__(self, config: SimConfig, memory: ModelMemory, hub: SocketHub) -> None:
        self.config = config
        self.memory = memory
        self.hub = hub
        self._rng = random.Random(config.seed ^ 0xC0FFEE)
        self._temperature = 38.0

    def reading(self) -> dict[str, Any]:
        cfg, rng = self.config, self._rng
        busy = self.memory.busy
        gpu = rng.uniform(92, 100) if busy else rng.uniform(0, 4)
        self._temperature += ((72.0 if busy else 38.0) - self._temperature) * 0.2
        ram_used = self.memory.ram_used
        vram_used = self.memory.vram_used
        hdd_used = _HDD_TOTAL * 62 // 100
        return {
            "cpu_utilization": round(rng.uniform(20, 45) if busy else rng.uniform(1, 8), 1),
            "ram_total": cfg.ram_total,
            "ram_used": ram_used,
            "ram_used_percent": round(100 * ram_used / cfg.ram_total, 1),
            "hdd_total": _HDD_TOTAL,
            "hdd_used": hdd_used,
            "hdd_used_percent": round(100 * hdd_used / _HDD_TOTAL, 1),
            "device_type": cfg.device_type,
            "gpus": [
                {
                    "gpu_utilization": round(gpu, 1),
                    "gpu_temperature": round(self._temperature, 1),
                    "vram_total": cfg.vram_total,
                    "vram_used": vram_used,
                    "vram_used_percent": round(100 * vram_used / cfg.vram_total, 1),
                },
                # Crystools reads every GPU; ComfyUI uses the first, the others idle.
                *(
                    {
                        "gpu_utilization": 0.0,
                        "gpu_temperature": 35.0,
                        "vram_total": cfg.vram_total,
                        "vram_used": cfg.vram_baseline,
                        "vram_used_percent": round(100 * cfg.vram_baseline / cfg.vram_total, 1),
                    }
                    for _ in range(1, cfg.gpus)
                ),
            ],
        }

    async def run_forever(self) -> None:
        while True:
            self.hub.send("crystools.monitor", self.reading(), None)
            await asyncio.sleep(self.config.crystools_interval)
