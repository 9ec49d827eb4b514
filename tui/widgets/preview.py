"""The latest preview image, drawn with half blocks: two pixels per terminal cell.

Each cell is ``▀`` with the upper pixel as foreground and the lower as
background, so a 40x20 cell area shows a 40x40 pixel image. Decoding happens
once per new preview; resizing to the widget happens on render.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sweeps.state import Preview

__all__ = ["HalfBlocks", "PreviewImage", "decode"]


def decode(data: bytes) -> Image.Image | None:
    """The image in ``data`` as RGB, or None when Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None


class HalfBlocks:
    """A Rich renderable drawing ``image`` into at most ``width`` x ``height`` cells."""

    def __init__(self, image: Image.Image, width: int, height: int) -> None:
        self.image = image
        self.width = max(1, width)
        self.height = max(1, height)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(self.width, options.max_width)
        fitted = ImageOps.contain(self.image, (width, self.height * 2))
        w, h = fitted.size
        pixels = fitted.load()
        assert pixels is not None
        styles: dict[tuple[object, object], Style] = {}
        for y in range(0, h, 2):
            for x in range(w):
                top = pixels[x, y]
                bottom = pixels[x, y + 1] if y + 1 < h else None
                key = (top, bottom)
                style = styles.get(key)
                if style is None:
                    style = Style(
                        color=Color.from_rgb(*top[:3]),  # type: ignore[index]
                        bgcolor=Color.from_rgb(*bottom[:3]) if bottom else None,  # type: ignore[index]
                    )
                    styles[key] = style
                yield Segment("▀", style)
            yield Segment.line()


class PreviewImage(Widget):
    """Shows :attr:`preview`, scaled to fit, with a caption of where it came from."""

    DEFAULT_CSS = """
    PreviewImage { height: 1fr; width: 1fr; }
    """

    preview: reactive[Preview | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._image: Image.Image | None = None

    def watch_preview(self, preview: Preview | None) -> None:
        self._image = decode(preview.image) if preview is not None else None

    def render(self) -> HalfBlocks | Text:
        preview = self.preview
        if preview is None:
            return Text("No preview yet: previews arrive while a sampler runs.", style="dim")
        if self._image is None:
            return Text(f"Cannot decode the {preview.mime_type} preview.", style="red")
        width, height = self.size
        return HalfBlocks(self._image, width, max(1, height))
