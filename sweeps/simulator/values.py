"""What flows along the links of a simulated graph instead of tensors.

Each value is small and frozen, carries just enough to render a picture or to
tell two results apart (sizes, two colours, a fingerprint), and prints like a
tensor summary, because ``execution_error.current_inputs`` shows ``str()`` of
every input.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from sweeps.simulator.images import gradient

__all__ = ["Conditioning", "Latent", "Model", "Opaque", "Picture"]


@dataclass(frozen=True)
class Picture:
    """An IMAGE or MASK batch: ``batch`` images of ``width`` x ``height``."""

    width: int
    height: int
    batch: int
    colour: int
    accent: int | None = None
    kind: str = "IMAGE"

    def render(self, index: int = 0, max_side: int = 2048) -> Image.Image:
        width, height = min(self.width, max_side), min(self.height, max_side)
        accent = self.accent
        if accent is not None and index:
            accent = (accent + index * 0x0F0A05) & 0xFFFFFF
        return gradient(width, height, self.colour, accent)

    def __str__(self) -> str:
        shape = (
            [self.batch, self.height, self.width, 3]
            if self.kind == "IMAGE"
            else [
                self.batch,
                self.height,
                self.width,
            ]
        )
        return f"tensor(shape={shape}, colour=#{self.colour:06x})"


@dataclass(frozen=True)
class Latent:
    """A LATENT batch; ``width``/``height`` are the pixel size it decodes to."""

    width: int
    height: int
    batch: int
    colour: int = 0x808080
    accent: int | None = None

    def __str__(self) -> str:
        return (
            f"{{'samples': tensor(shape=[{self.batch}, 4, {self.height // 8}, {self.width // 8}])}}"
        )


@dataclass(frozen=True)
class Model:
    """A MODEL, CLIP or VAE handle; ``ckpt`` names the checkpoint it came from."""

    kind: str
    ckpt: str | None
    fingerprint: str

    def __str__(self) -> str:
        return f"<comfy.{self.kind.lower()} {self.ckpt or 'standalone'} {self.fingerprint[:8]}>"


@dataclass(frozen=True)
class Conditioning:
    fingerprint: str

    def __str__(self) -> str:
        return f"[[tensor(shape=[1, 77, 768]), {{'pooled_output': {self.fingerprint[:8]}}}]]"


@dataclass(frozen=True)
class Opaque:
    """Any other type, from classes the simulator has no specific behaviour for."""

    type: str
    fingerprint: str

    def __str__(self) -> str:
        return f"<{self.type} {self.fingerprint[:8]}>"
