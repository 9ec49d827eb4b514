"""Simulated RAM and VRAM: one resident checkpoint, as ComfyUI's smart memory keeps.

The dashboard plots ``/system_stats`` and crystools readings, and a scheduler
may prefer servers that already hold the checkpoint it needs, so the numbers
must move for the right reasons: up when a checkpoint loads, down on
``POST /free``, swapped when another checkpoint replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweeps.simulator.config import SimConfig

__all__ = ["ModelMemory"]


@dataclass
class ModelMemory:
    """Which checkpoint is on the GPU, and what that costs in bytes."""

    config: SimConfig
    resident: str | None = None
    """The checkpoint whose weights are on the device, or None after an unload."""
    busy: bool = False
    """True while a node runs; drives the utilisation readings of the monitor."""

    def load(self, ckpt_name: str) -> bool:
        """Make ``ckpt_name`` resident; True when that meant loading (and paying for) it."""
        if self.resident == ckpt_name:
            return False
        self.resident = ckpt_name
        return True

    def unload_all(self) -> None:
        self.resident = None

    @property
    def vram_used(self) -> int:
        used = self.config.vram_baseline
        if self.resident is not None:
            used += self.config.checkpoint_vram
        return min(used, self.config.vram_total)

    @property
    def ram_used(self) -> int:
        used = self.config.ram_baseline
        if self.resident is not None:
            used += self.config.checkpoint_ram
        return min(used, self.config.ram_total)

    def system_stats_devices(self) -> list[dict[str, object]]:
        """The ``devices`` list of ``/system_stats``; on ``cpu`` RAM stands in for VRAM."""
        cfg = self.config
        if cfg.device_type == "cpu":
            free = cfg.ram_total - self.ram_used - (self.vram_used - cfg.vram_baseline)
            return [
                {
                    "name": "cpu",
                    "type": "cpu",
                    "index": None,
                    "vram_total": cfg.ram_total,
                    "vram_free": free,
                    "torch_vram_total": cfg.ram_total,
                    "torch_vram_free": free,
                }
            ]
        torch_total = self.vram_used - cfg.vram_baseline // 2
        devices: list[dict[str, object]] = [
            {
                "name": cfg.device_name,
                "type": "cuda",
                "index": 0,
                "vram_total": cfg.vram_total,
                "vram_free": cfg.vram_total - self.vram_used,
                "torch_vram_total": torch_total,
                "torch_vram_free": max(0, torch_total // 16),
            }
        ]
        # ComfyUI runs on the primary device; the others hold only their CUDA context.
        for index in range(1, cfg.gpus):
            devices.append(
                {
                    "name": cfg.device_name.replace("cuda:0", f"cuda:{index}", 1),
                    "type": "cuda",
                    "index": index,
                    "vram_total": cfg.vram_total,
                    "vram_free": cfg.vram_total - cfg.vram_baseline,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            )
        return devices
