"""The simulator's knobs: what kind of server it pretends to be, and how fast it is.

Everything here is fixed for the life of a :class:`~sweeps.simulator.Simulator`;
what changes at run time (injected faults) lives in :mod:`.faults`. Costs are in
milliseconds of a real mid-range GPU, measured roughly from the recorded SD1.5
run, and every one of them is multiplied by ``speed``: ``speed=0`` makes a
prompt finish as fast as the event loop can emit its messages, which is what
tests want; ``speed=1`` gives the dashboard something to watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sweeps.simulator.versions import NEWEST, ComfyVersion, comfy_version

__all__ = ["GIB", "NodeCosts", "SimConfig"]

GIB = 1024**3

_DEFAULT_CLASS_MS: Mapping[str, float] = {
    "CLIPTextEncode": 150.0,
    "VAEDecode": 260.0,
    "VAEEncode": 200.0,
    "LoraLoader": 120.0,
    "VAELoader": 80.0,
    "SaveImage": 5.0,
    "PreviewImage": 5.0,
    "ImageBlur": 20.0,
    "ImageSharpen": 20.0,
    "ImageScale": 10.0,
    "ImageScaleBy": 10.0,
}


@dataclass(frozen=True)
class NodeCosts:
    """How long simulated nodes take, in ms at ``speed=1``.

    ``KSampler`` and ``KSamplerAdvanced`` cost ``sampler_step_ms`` per step and
    report one progress update per step. ``ProbeSleep`` costs its own
    ``steps * step_ms``. ``CheckpointLoaderSimple`` costs ``checkpoint_load_ms``
    only when the checkpoint is not the resident one; a sampler whose model was
    unloaded (``POST /free``) pays ``model_to_gpu_ms`` to bring it back.
    """

    default_ms: float = 5.0
    per_class_ms: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_CLASS_MS))
    sampler_step_ms: float = 160.0
    checkpoint_load_ms: float = 400.0
    model_to_gpu_ms: float = 120.0

    def base_ms(self, class_type: str) -> float:
        return self.per_class_ms.get(class_type, self.default_ms)


@dataclass(frozen=True)
class SimConfig:
    """One simulated ComfyUI server (the newest release it knows, unless told).

    Example::

        SimConfig(speed=0.0)                       # tests: instantaneous
        SimConfig(speed=1.0, crystools=True)       # the demo: watchable, with GPU gauges
        SimConfig(device_type="cpu")               # reports like `main.py --cpu`
        SimConfig(comfy_version="0.8.0", gpus=2)   # an older release on a two-GPU box
    """

    comfy_version: str = NEWEST
    """The ComfyUI release to behave as (:mod:`.versions`): its errors, routes,
    ``/object_info``, defaults and reported version number."""
    gpus: int = 1
    """CUDA devices in ``/system_stats`` (releases before 0.23 list only the first)."""
    speed: float = 1.0
    """Multiplier on every cost; 0 means instantaneous (the loop still yields between nodes)."""
    seed: int = 0
    """Seeds every random choice: temp-file names, fault probabilities, monitor readings."""
    previews: bool = True
    """Sampler latent previews (``--preview-method auto``).

    A prompt's ``extra_data.preview_method`` overrides this, as on the real server."""
    preview_size: int = 512
    cache: Literal["classic", "ram_pressure", "none"] | None = None
    """None: the version's default (``ram_pressure`` since 0.33, ``classic`` before).

    ``classic`` keeps the previous prompt's outputs; ``ram_pressure`` keeps older
    outputs too, until memory runs short; ``none`` (``--cache-none``) runs every node."""
    crystools: bool = False
    """Broadcast ``crystools.monitor`` messages, as the ComfyUI-Crystools extension does."""
    crystools_interval: float = 1.0
    """Seconds between monitor messages (real time, not scaled by ``speed``)."""
    device_type: Literal["cuda", "cpu"] = "cuda"
    device_name: str = "cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync"
    vram_total: int = 12 * GIB
    ram_total: int = 32 * GIB
    vram_baseline: int = 350 * 1024**2
    """VRAM in use with no model loaded (CUDA context, caching allocator)."""
    ram_baseline: int = 3 * GIB
    checkpoint_vram: int = 2 * GIB
    """VRAM a resident SD1.5-sized checkpoint occupies."""
    checkpoint_ram: int = 600 * 1024**2
    costs: NodeCosts = field(default_factory=NodeCosts)
    object_info_path: Path | None = None
    """An ``/object_info`` JSON to serve instead of the version's packaged one."""
    extra_checkpoints: tuple[str, ...] = ()
    """Checkpoint files to offer beside the object_info's own: ComfyUI's script
    examples load ``v1-5-pruned-emaonly.safetensors``, which the traces' server lacked."""
    data_dir: Path | None = None
    """Where input/, output/ and temp/ live; a fresh temporary directory when None."""
    max_upload_size: int = 100 * 1024**2
    max_image_side: int = 2048
    """Generated images are clamped to this many pixels a side to keep memory small."""

    def __post_init__(self) -> None:
        comfy_version(self.comfy_version)  # an unknown release fails here, naming the known ones
        if self.gpus < 1:
            raise ValueError(f"gpus must be at least 1, not {self.gpus}")

    @property
    def version(self) -> ComfyVersion:
        return comfy_version(self.comfy_version)

    @property
    def cache_mode(self) -> Literal["classic", "ram_pressure", "none"]:
        return self.cache or self.version.default_cache

    def with_changes(self, **changes: Any) -> SimConfig:
        """A copy with some knobs changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def scaled_seconds(self, ms: float) -> float:
        return max(0.0, ms * self.speed / 1000.0)
