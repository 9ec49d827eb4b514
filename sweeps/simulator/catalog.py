"""The node classes the simulator offers, read from an ``/object_info`` document.

The package ships a trimmed copy of the real server's ``/object_info`` (the
model-free nodes, the classic SD1.5 text-to-image nodes and the two probe nodes
of the traces), loaded through :mod:`importlib.resources` so it works from a
wheel. ``SimConfig.object_info_path`` swaps in a full dump; classes the
simulator has no behaviour for still validate and run as generic nodes.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from sweeps.schema import NodeSchema, parse_object_info

__all__ = ["Catalog", "load_object_info"]


def load_object_info(path: Path | None = None) -> dict[str, Any]:
    """The raw ``/object_info`` JSON: the file at ``path``, or the packaged trimmed copy."""
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = (
            resources.files("sweeps.simulator")
            .joinpath("data/object_info.json")
            .read_text(encoding="utf-8")
        )
    info: dict[str, Any] = json.loads(text)
    return info


class Catalog:
    """Node schemas plus the raw JSON served by ``GET /object_info``.

    File-backed combos (LoadImage's ``image``) must list what is really in the
    simulator's input directory, so :meth:`with_input_files` rewrites them
    whenever an upload changes that directory.
    """

    _FILE_COMBOS = (("LoadImage", "image"), ("LoadImageMask", "image"))

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self.schemas: dict[str, NodeSchema] = parse_object_info(raw)

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    def combo_options(self, class_type: str, input_name: str) -> list[Any]:
        schema = self.schemas.get(class_type)
        spec = schema.inputs.get(input_name) if schema else None
        return list(spec.options or ()) if spec else []

    def with_checkpoints(self, extra: tuple[str, ...]) -> None:
        """Offer ``extra`` checkpoint files too, wherever a loader lists checkpoints."""
        current = self.combo_options("CheckpointLoaderSimple", "ckpt_name")
        names = sorted({*map(str, current), *extra})
        raw = copy.deepcopy(self._raw)
        for schema in raw.values():
            for section in schema.get("input", {}).values():
                for spec in section.values():
                    if isinstance(spec, list) and spec and spec[0] == current:
                        spec[0] = names
        self._raw = raw
        self.schemas = parse_object_info(raw)

    def with_input_files(self, files: list[str]) -> None:
        """Make LoadImage-style combos list ``files`` (sorted, as ComfyUI lists them)."""
        raw = copy.deepcopy(self._raw)
        for class_type, input_name in self._FILE_COMBOS:
            spec = raw.get(class_type, {}).get("input", {}).get("required", {}).get(input_name)
            if isinstance(spec, list) and spec and isinstance(spec[0], list):
                spec[0] = sorted(files)
        self._raw = raw
        self.schemas = parse_object_info(raw)
