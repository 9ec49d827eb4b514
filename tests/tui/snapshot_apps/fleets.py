"""Fleets in known states, built by folding typed events into a monitor with a frozen clock.

Snapshot tests draw these: no network, no real time, fixed URLs, so an SVG
changes only when the dashboard's rendering does. The events are the ones the
simulator and ComfyUI send (see tests/sweeps/test_state.py for replays of
recorded traces).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image

from sweeps.client import ComfyClient
from sweeps.config import ServerConfig
from sweeps.connection import ServerConnection
from sweeps.events import (
    CrystoolsMonitor,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionStart,
    GpuReading,
    PreviewImage,
    Progress,
    SocketClosed,
    SocketOpened,
)
from sweeps.models import QueueState, SystemStats
from sweeps.monitor import FleetMonitor
from sweeps.progress import ServerProgress, SweepProgress
from sweeps.state import apply_queue, apply_stats
from tui.app import FleetApp

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
GIB = 1024**3


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def system_stats(
    vram_used: float,
    *,
    device: str = "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
    vram_total: int = 24 * GIB,
    ram_used: float = 11 * GIB,
    gpus: int = 1,
) -> SystemStats:
    """One box; with ``gpus`` > 1 the others hold 1.5 GiB more each (0.23+ lists them all)."""
    return SystemStats.from_json(
        {
            "system": {
                "os": "linux",
                "ram_total": 64 * GIB,
                "ram_free": int(64 * GIB - ram_used),
                "comfyui_version": "0.8.0",
                "python_version": "3.11.7 (main)",
                "pytorch_version": "2.14.1+cu130",
                "argv": ["main.py", "--listen", "0.0.0.0"],
            },
            "devices": [
                {
                    "name": device.replace("cuda:0", f"cuda:{i}", 1),
                    "type": "cuda",
                    "index": i,
                    "vram_total": vram_total,
                    "vram_free": int(vram_total - min(vram_total, vram_used + i * 1.5 * GIB)),
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
                for i in range(gpus)
            ],
        }
    )


TXT2IMG = {
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {},
        "_meta": {"title": "Load Checkpoint"},
    },
    "6": {"class_type": "CLIPTextEncode", "inputs": {}, "_meta": {"title": "Positive"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {}, "_meta": {"title": "Negative"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {}},
    "3": {"class_type": "KSampler", "inputs": {}, "_meta": {"title": "Sampler"}},
    "8": {"class_type": "VAEDecode", "inputs": {}},
    "9": {"class_type": "SaveImage", "inputs": {}},
}


def queue(running: list[str], pending: list[str]) -> QueueState:
    def item(n: int, pid: str) -> list[object]:
        return [n, pid, TXT2IMG, {"client_id": "dash"}, ["9"]]

    return QueueState.from_json(
        {
            "queue_running": [item(i, p) for i, p in enumerate(running)],
            "queue_pending": [item(len(running) + i, p) for i, p in enumerate(pending)],
        }
    )


def gradient_png(size: int = 64) -> bytes:
    image = Image.new("RGB", (size, size))
    image.putdata([(x * 4 % 256, y * 4 % 256, 128) for y in range(size) for x in range(size)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _history_entry(pid: str, n: int, outcome: str, start: int, seconds: float) -> dict:
    end = start + int(seconds * 1000)
    final = {
        "success": "execution_success",
        "failed": "execution_error",
        "interrupted": "execution_interrupted",
    }[outcome]
    return {
        "prompt": [n, pid, TXT2IMG, {"client_id": "dash"}, ["9"]],
        "outputs": {
            "9": {
                "images": [{"filename": f"ComfyUI_{n:05d}_.png", "subfolder": "", "type": "output"}]
            }
        }
        if outcome == "success"
        else {},
        "status": {
            "status_str": "success" if outcome == "success" else "error",
            "completed": outcome == "success",
            "messages": [
                ["execution_start", {"prompt_id": pid, "timestamp": start}],
                [
                    "execution_cached",
                    {"prompt_id": pid, "nodes": ["4", "6", "7"][: n % 4], "timestamp": start},
                ],
                [final, {"prompt_id": pid, "timestamp": end}],
            ],
        },
    }


HISTORY = {
    f"{i:08x}-hist-0000-0000-000000000000": _history_entry(
        f"{i:08x}-hist-0000-0000-000000000000",
        i,
        ("success", "success", "failed", "interrupted")[i % 4],
        int(T0 * 1000) - (10 - i) * 60_000,
        3.5 + i * 1.7,
    )
    for i in range(1, 7)
}

CANNED: dict[str, object] = {
    "/history": HISTORY,
    "/extensions": [f"/extensions/core/ext{i}.js" for i in range(14)],
    "/embeddings": ["easynegative", "badhands"],
    "/models": ["checkpoints", "loras", "vae", "upscale_models"],
    "/models/checkpoints": ["sd15.safetensors", "sdxl.safetensors", "flux.safetensors"],
    "/models/loras": ["detail.safetensors"],
    "/models/vae": [],
    "/models/upscale_models": ["4x.pth", "2x.pth"],
}


def canned_server(request: httpx.Request) -> httpx.Response:
    """A ComfyUI that answers the in-depth view's questions with fixed data."""
    if request.method == "POST":
        return httpx.Response(200)
    body = CANNED.get(request.url.path)
    if body is None:
        return httpx.Response(404, text="404: Not Found")
    return httpx.Response(
        200, content=json.dumps(body), headers={"content-type": "application/json"}
    )


class Fleet:
    """A monitor fed by hand, with the clock it folds with; HTTP goes to :func:`canned_server`."""

    def __init__(self, count: int = 1) -> None:
        self.clock = FrozenClock(T0 - 600)
        configs = [
            ServerConfig(f"http://10.0.0.{i + 1}:8188", name=f"gpu{i + 1}") for i in range(count)
        ]
        self.monitor = FleetMonitor(clock=self.clock)
        for config in configs:
            http = httpx.AsyncClient(transport=httpx.MockTransport(canned_server))
            connection = ServerConnection(config, client=ComfyClient(config, http=http))
            self.monitor.add_server(config, connection=connection)
        self.urls = [c.url for c in configs]

    def at(self, seconds_before_now: float) -> Fleet:
        self.clock.now = T0 - seconds_before_now
        return self

    def idle(self, url: str, vram: float = 6.5) -> None:
        self.at(590).monitor.feed(url, SocketOpened("sid"))
        for i in range(30):
            self.at(580 - i * 10).monitor.fold(
                url, apply_stats, system_stats((vram + (i % 7) * 0.6) * GIB)
            )
        self.at(5).monitor.fold(url, apply_queue, queue([], []))

    def busy(self, url: str, *, pending: int = 3, step: int = 12, crystools: bool = True) -> None:
        self.idle(url, vram=14.0)
        pid = (
            "5f0c6f1e-" + url.rsplit(".", 1)[-1].split(":")[0].zfill(4) + "-4c1d-9a7e-1b2c3d4e5f60"
        )
        m = self.at(40).monitor
        m.fold(url, apply_queue, queue([pid], [f"pending-{i:02d}-0000" for i in range(pending)]))
        m.feed(url, ExecutionStart(pid))
        m.feed(url, ExecutionCached(pid, ("4", "6", "7")))
        self.at(39).monitor.feed(url, Executing(pid, "5"))
        self.at(38).monitor.feed(url, Executing(pid, "3"))
        self.at(2).monitor.feed(url, Progress(pid, "3", step, 20))
        if crystools:
            self.at(1).monitor.feed(
                url,
                CrystoolsMonitor(
                    23.0,
                    64 * GIB,
                    11 * GIB,
                    17.0,
                    (GpuReading(97.0, 71.0, 24 * GIB, 14 * GIB, 58.0),),
                ),
            )
        self.at(1).monitor.feed(
            url, PreviewImage(4, "image/png", gradient_png(), prompt_id=pid, node_id="3")
        )

    def down(self, url: str) -> None:
        self.idle(url)
        self.at(125).monitor.feed(
            url, SocketClosed("connection lost: no close frame received", retry_in=0.25)
        )
        self.at(124).monitor.feed(
            url,
            SocketClosed(
                f"websocket ws://{url[7:]}/ws failed: [Errno 111] Connect call failed", retry_in=0.5
            ),
        )

    def multi_gpu(self, url: str, gpus: int = 4) -> None:
        """A four-GPU box, busy, with Crystools readings for every GPU."""
        self.busy(url, crystools=False)
        self.at(1).monitor.fold(url, apply_stats, system_stats(14 * GIB, gpus=gpus))
        readings = tuple(
            GpuReading(97.0 - 20 * i, 71.0 - 5 * i, 24 * GIB, (14 + i) * GIB, 58.0)
            for i in range(gpus)
        )
        self.at(1).monitor.feed(url, CrystoolsMonitor(23.0, 64 * GIB, 11 * GIB, 17.0, readings))

    def refused(self, url: str) -> None:
        """Down for a reason longer than a card is wide."""
        self.idle(url)
        self.at(30).monitor.feed(
            url,
            SocketClosed(
                f"websocket ws://{url[7:]}/ws refused: HTTP 401 Unauthorized; "
                "the server wants a token: set headers in servers.yaml",
                retry_in=30.0,
            ),
        )

    def failed(self, url: str) -> None:
        self.idle(url)
        pid = "9d1e2f3a-0000-4c1d-9a7e-1b2c3d4e5f60"
        m = self.at(70).monitor
        m.feed(url, ExecutionStart(pid))
        self.at(69).monitor.feed(url, Executing(pid, "3"))
        self.at(60).monitor.feed(
            url,
            ExecutionError(
                pid,
                "3",
                "KSampler",
                "torch.OutOfMemoryError",
                "CUDA out of memory. Tried to allocate 2.00 GiB\n",
            ),
        )
        self.at(60).monitor.feed(url, Executing(pid, None))

    def app(self, **kwargs: object) -> FleetApp:
        self.clock.now = T0
        app = FleetApp(monitor=self.monitor, clock=self.clock, start_engine=False, **kwargs)  # type: ignore[arg-type]
        app.animation_level = "none"
        return app


def one(kind: str) -> Fleet:
    fleet = Fleet(1)
    getattr(fleet, kind)(fleet.urls[0])
    return fleet


def pair(*kinds: str) -> Fleet:
    """One server per kind, in order."""
    fleet = Fleet(len(kinds))
    for kind, url in zip(kinds, fleet.urls, strict=True):
        getattr(fleet, kind)(url)
    return fleet


def mixed(count: int) -> Fleet:
    fleet = Fleet(count)
    kinds: list[Callable[[str], None]] = [
        fleet.busy,
        fleet.idle,
        fleet.busy,
        fleet.down,
        fleet.failed,
        fleet.busy,
        fleet.idle,
        fleet.busy,
    ]
    for index, url in enumerate(fleet.urls):
        kind = kinds[index % len(kinds)]
        if kind == fleet.busy:
            fleet.busy(url, pending=index % 5, step=(index * 3) % 20 + 1, crystools=index % 2 == 0)
        else:
            kind(url)
    return fleet


def sweep_progress() -> SweepProgress:
    return SweepProgress(
        name="cfg-vs-steps",
        total=240,
        done=87,
        failed=3,
        running=2,
        started=0.0,
        now=900.0,
        servers={
            "http://gpu1:8188": ServerProgress(done=45, failed=1, running=1),
            "http://gpu2:8188": ServerProgress(done=42, failed=2, running=1),
        },
        latest_outputs=(
            Path("runs/cfg-vs-steps/00085-9-sweep_00086_.png"),
            Path("runs/cfg-vs-steps/00086-9-sweep_00087_.png"),
        ),
        last_failure=(
            "gpu2: torch.OutOfMemoryError: CUDA out of memory (point 61: cfg=12, steps=50)"
        ),
    )
