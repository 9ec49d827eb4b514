"""Pictures the simulator "generates": PNG outputs and JPEG previews via Pillow.

Nothing is rendered for real, but outputs must look different when inputs
differ (a sweep over seeds should produce a visibly varied grid) and identical
when they do not (a cached rerun serves the same file). So every picture is a
two-colour diagonal gradient whose colours come from a hash of what produced it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

from PIL import Image, PngImagePlugin

__all__ = [
    "colour_from",
    "encode_jpeg",
    "encode_png",
    "gradient",
    "mix_colour",
]


def colour_from(*parts: object) -> int:
    """A 0xRRGGBB colour derived from ``parts``; stable across runs and processes."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:3], "big")


def _rgb(colour: int) -> tuple[int, int, int]:
    return ((colour >> 16) & 0xFF, (colour >> 8) & 0xFF, colour & 0xFF)


def mix_colour(a: int, b: int, t: float) -> int:
    """Linear blend of two 0xRRGGBB colours, ``t`` in [0, 1]."""
    ra, ga, ba = _rgb(a)
    rb, gb, bb = _rgb(b)
    r = round(ra + (rb - ra) * t)
    g = round(ga + (gb - ga) * t)
    bl = round(ba + (bb - ba) * t)
    return (r << 16) | (g << 8) | bl


def gradient(width: int, height: int, colour: int, accent: int | None = None) -> Image.Image:
    """An RGB image fading from ``colour`` to ``accent`` along the diagonal.

    With no accent the image is flat, which is what ``EmptyImage`` produces.
    """
    width, height = max(1, width), max(1, height)
    base = Image.new("RGB", (width, height), _rgb(colour))
    if accent is None or accent == colour:
        return base
    mask = Image.linear_gradient("L").rotate(45, expand=False).resize((width, height))
    return Image.composite(Image.new("RGB", (width, height), _rgb(accent)), base, mask)


def encode_png(
    image: Image.Image, text: Mapping[str, Any] | None = None, compress_level: int = 4
) -> bytes:
    """PNG bytes; ``text`` becomes tEXt chunks (JSON-encoded), as SaveImage writes them."""
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, json.dumps(value))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, compress_level=compress_level)
    return out.getvalue()


def encode_jpeg(image: Image.Image, quality: int = 95, max_size: int | None = None) -> bytes:
    """JPEG bytes of ``image`` shrunk to fit ``max_size`` (ComfyUI's preview encoding)."""
    if max_size is not None and (image.width > max_size or image.height > max_size):
        image = image.copy()
        image.thumbnail((max_size, max_size))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()
