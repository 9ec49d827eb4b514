"""Model folders and the files a client sees in them: ``/models``, ``/experiment/models``, ...

The simulator holds no weights, so the listings come from the node catalog's
combos (``CheckpointLoaderSimple.ckpt_name`` and friends); the shapes and
status codes are those of server.py and ``app/model_manager.py``. Folder
names and their order are the real ``folder_paths.folder_names_and_paths``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from sweeps.simulator.catalog import Catalog
from sweeps.simulator.middleware import Handler
from sweeps.simulator.versions import comfy_version

__all__ = ["MODEL_FOLDERS", "ModelFolders"]

MODEL_FOLDERS = list(comfy_version("0.8.0").model_folders)
"""0.8.0's folders; a later release passes its own to :class:`ModelFolders`."""
_LEGACY_DIRS = {
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
}
_EXPERIMENT_HIDDEN = ("configs", "custom_nodes")
_FAKE_SIZES = {"checkpoints": 2_132_625_894, "loras": 151_108_832, "vae": 334_641_164}


class ModelFolders:
    """What ``folder_paths`` would report for a ComfyUI install under ``root``."""

    def __init__(
        self, catalog: Catalog, root: Path, folders: Sequence[str] = tuple(MODEL_FOLDERS)
    ) -> None:
        self.folders = tuple(folders)
        self.catalog = catalog
        self.root = str(root)
        self.installed = time.time()
        """When the simulated model files were "written": their mtime and ctime."""

    def folder_paths(self) -> dict[str, list[str]]:
        paths: dict[str, list[str]] = {}
        for folder in self.folders:
            if folder == "custom_nodes":
                paths[folder] = [os.path.join(self.root, "custom_nodes")]
                continue
            dirs = _LEGACY_DIRS.get(folder, (folder,))
            paths[folder] = [os.path.join(self.root, "models", d) for d in dirs]
        return paths

    def files(self, folder: str) -> list[str]:
        """``folder_paths.get_filename_list``: what the loaders' combos offer."""
        catalog = self.catalog
        listing = {
            "checkpoints": catalog.combo_options("CheckpointLoaderSimple", "ckpt_name"),
            "loras": catalog.combo_options("LoraLoader", "lora_name"),
            "vae": [v for v in catalog.combo_options("VAELoader", "vae_name") if "." in str(v)],
        }
        return [str(name) for name in listing.get(folder, [])]

    # ----- routes

    async def list_folders(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.folders))

    async def list_files(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in self.folders:
            return web.Response(status=404)
        return web.json_response(self.files(folder))

    async def experiment_folders(self, request: web.Request) -> web.Response:
        paths = self.folder_paths()
        return web.json_response(
            [{"name": f, "folders": paths[f]} for f in MODEL_FOLDERS if f not in _EXPERIMENT_HIDDEN]
        )

    async def experiment_files(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in self.folders:
            return web.Response(status=404)
        entries: list[dict[str, Any]] = [
            {
                "name": name,
                "pathIndex": 0,
                "modified": self.installed,
                "created": self.installed,
                "size": _FAKE_SIZES.get(folder, 1_000_000),
            }
            for name in self.files(folder)
        ]
        return web.json_response(entries)

    async def experiment_preview(self, request: web.Request) -> web.Response:
        """No model ships a preview image here; upstream answers 404 then too."""
        int(request.match_info["path_index"])  # a non-integer index is a 500 upstream
        return web.Response(status=404)

    async def view_metadata(self, request: web.Request) -> web.Response:
        """The simulated safetensors carry no ``__metadata__``: upstream's 404."""
        return web.Response(status=404)

    async def embeddings(self, request: web.Request) -> web.Response:
        return web.json_response([os.path.splitext(n)[0] for n in self.files("embeddings")])

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/embeddings", self.embeddings),
            ("GET", "/models", self.list_folders),
            ("GET", "/models/{folder}", self.list_files),
            ("GET", "/view_metadata/{folder_name}", self.view_metadata),
            ("GET", "/experiment/models", self.experiment_folders),
            ("GET", "/experiment/models/{folder}", self.experiment_files),
            (
                "GET",
                "/experiment/models/preview/{folder}/{path_index}/{filename:.*}",
                self.experiment_preview,
            ),
        ]
