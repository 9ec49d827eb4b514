"""The node classes the simulator offers, read from an ``/object_info`` document.

The package ships one ``/object_info`` per release it plays, loaded through
:mod:`importlib.resources` so it works from a wheel: for 0.8.0 a trimmed copy
(the model-free nodes, the classic SD1.5 text-to-image nodes and the two probe
nodes of the traces), for 0.33.0 the whole recorded one, 889 classes, gzipped
(1.6 MB of JSON, 175 kB on disk). ``SimConfig.object_info_path`` swaps in another
dump; classes the simulator has no behaviour for still validate and run as
generic nodes.

A document is read and parsed once per process and shared: simulators start by
the hundred in the tests, and the catalog changes only the few classes that list
files, copying them on write.
"""

from __future__ import annotations

import copy
import gzip
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sweeps.schema import NodeSchema, parse_object_info
from sweeps.simulator.versions import NEWEST, comfy_version

__all__ = ["Catalog", "load_object_info"]


def load_object_info(path: Path | None = None, version: str = NEWEST) -> dict[str, Any]:
    """The raw ``/object_info`` JSON: the file at ``path``, or ``version``'s packaged one.

    A fresh copy each call, so callers may change it."""
    return copy.deepcopy(_shared(path, version)[0])


@cache
def _shared(path: Path | None, version: str) -> tuple[dict[str, Any], dict[str, NodeSchema]]:
    """The document and its schemas, read once; never mutated (the Catalog copies on write)."""
    if path is not None:
        data = Path(path).read_bytes()
    else:
        name = comfy_version(version).object_info
        data = resources.files("sweeps.simulator").joinpath(f"data/{name}").read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    info: dict[str, Any] = json.loads(data)
    return info, parse_object_info(info)


class Catalog:
    """Node schemas plus the raw JSON served by ``GET /object_info``.

    File-backed combos (LoadImage's ``image``) must list what is really in the
    simulator's input directory, so :meth:`with_input_files` rewrites them
    whenever an upload changes that directory.
    """

    _FILE_COMBOS = (("LoadImage", "image"), ("LoadImageMask", "image"))

    def __init__(self, raw: dict[str, Any], schemas: dict[str, NodeSchema] | None = None) -> None:
        self._raw = raw
        self._body: tuple[dict[str, Any], bytes] | None = None
        self.schemas: dict[str, NodeSchema] = (
            dict(schemas) if schemas is not None else parse_object_info(raw)
        )

    @classmethod
    def packaged(cls, path: Path | None = None, version: str = NEWEST) -> Catalog:
        """The catalog of ``version`` (or of the file at ``path``), sharing the parsed copy."""
        raw, schemas = _shared(path, version)
        return cls(dict(raw), schemas)

    def _replace_class(self, class_type: str, info: dict[str, Any]) -> None:
        """Swap one class's JSON and schema; the shared originals stay untouched."""
        self._raw = {**self._raw, class_type: info}
        self.schemas.update(parse_object_info({class_type: info}))

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    def json_body(self) -> bytes:
        """``GET /object_info``'s body, serialised once per change (1.6 MB for 0.33.0)."""
        if self._body is None or self._body[0] is not self._raw:
            self._body = (self._raw, json.dumps(self._raw).encode())
        return self._body[1]

    def combo_options(self, class_type: str, input_name: str) -> list[Any]:
        schema = self.schemas.get(class_type)
        spec = schema.inputs.get(input_name) if schema else None
        return list(spec.options or ()) if spec else []

    def with_checkpoints(self, extra: tuple[str, ...]) -> None:
        """Offer ``extra`` checkpoint files too, wherever a loader lists checkpoints."""
        current = self.combo_options("CheckpointLoaderSimple", "ckpt_name")
        names = sorted({*map(str, current), *extra})
        for class_type, schema in list(self._raw.items()):
            sections = schema.get("input", {}) if isinstance(schema, dict) else {}
            if not any(
                isinstance(spec, list) and spec and spec[0] == current
                for section in sections.values()
                if isinstance(section, dict)
                for spec in section.values()
            ):
                continue
            info = copy.deepcopy(schema)
            for section in info["input"].values():
                for spec in section.values() if isinstance(section, dict) else ():
                    if isinstance(spec, list) and spec and spec[0] == current:
                        spec[0] = names
            self._replace_class(class_type, info)

    def with_input_files(self, files: list[str]) -> None:
        """Make LoadImage-style combos list ``files`` (sorted, as ComfyUI lists them)."""
        for class_type, input_name in self._FILE_COMBOS:
            if class_type not in self._raw:
                continue
            info = copy.deepcopy(self._raw[class_type])
            spec = info.get("input", {}).get("required", {}).get(input_name)
            if isinstance(spec, list) and spec and isinstance(spec[0], list):
                spec[0] = sorted(files)
                self._replace_class(class_type, info)
