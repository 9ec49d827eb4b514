"""Users, settings and per-user files: ``app/user_manager.py`` and ``app/app_settings.py``.

The ComfyUI frontend reads these before anything else (``/users``,
``/settings``, ``/userdata?dir=workflows``), so a simulator that 404s them
breaks a browser session at startup. Files live on disk under
``<root>/user/default/``, as on the real server, so settings written through
``/settings`` are also readable as ``/userdata/comfy.settings.json``. Single-user
mode only: the ``comfy-user`` header is ignored, as without ``--multi-user``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib import parse

from aiohttp import web

from sweeps.simulator.middleware import Handler

__all__ = ["UserData"]

_SETTINGS_FILE = "comfy.settings.json"


def _file_info(path: str, relative_to: str) -> dict[str, Any]:
    return {
        "path": os.path.relpath(path, relative_to).replace(os.sep, "/"),
        "size": os.path.getsize(path),
        "modified": os.path.getmtime(path),
        "created": os.path.getctime(path),
    }


class UserData:
    """The ``default`` user's directory and the routes that read and write it."""

    def __init__(self, user_dir: Path) -> None:
        self.root = str(user_dir.resolve())
        self.users: dict[str, str] = {"default": "default"}

    def user_path(self, file: str | None, create_dir: bool = True) -> str | None:
        """``get_request_user_filepath``: None when ``file`` escapes the user's directory."""
        user_root = os.path.abspath(os.path.join(self.root, "default"))
        path = user_root
        if file is not None:
            if "%" in file:
                file = parse.unquote(file)
            path = os.path.abspath(os.path.join(user_root, file))
            if os.path.commonpath((user_root, path)) != user_root:
                return None
        parent = os.path.split(path)[0]
        if create_dir and not os.path.exists(parent):
            os.makedirs(parent, exist_ok=True)
        return path

    # ----- settings

    def settings(self) -> dict[str, Any]:
        file = self.user_path(_SETTINGS_FILE)
        assert file is not None
        if not os.path.isfile(file):
            return {}
        try:
            with open(file, encoding="utf-8") as f:
                loaded = json.load(f)
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def save_settings(self, settings: dict[str, Any]) -> None:
        file = self.user_path(_SETTINGS_FILE)
        assert file is not None
        with open(file, "w", encoding="utf-8") as f:
            f.write(json.dumps(settings, indent=4))

    async def get_settings(self, request: web.Request) -> web.Response:
        return web.json_response(self.settings())

    async def get_setting(self, request: web.Request) -> web.Response:
        return web.json_response(self.settings().get(request.match_info["id"]))

    async def post_settings(self, request: web.Request) -> web.Response:
        new = await request.json()
        self.save_settings({**self.settings(), **new})
        return web.Response(status=200)

    async def post_setting(self, request: web.Request) -> web.Response:
        settings = self.settings()
        settings[request.match_info["id"]] = await request.json()
        self.save_settings(settings)
        return web.Response(status=200)

    # ----- users

    async def get_users(self, request: web.Request) -> web.Response:
        user_dir = self.user_path(None, create_dir=False)
        assert user_dir is not None
        return web.json_response({"storage": "server", "migrated": os.path.exists(user_dir)})

    async def post_users(self, request: web.Request) -> web.Response:
        username = (await request.json())["username"]
        if username in self.users.values():
            return web.json_response({"error": "Duplicate username."}, status=400)
        name = str(username).strip()
        if not name:
            raise ValueError("username not provided")
        user_id = re.sub("[^a-zA-Z0-9-_]+", "-", name) + "_" + str(uuid.uuid4())
        self.users[user_id] = name
        return web.json_response(user_id)

    # ----- listings

    async def list_userdata(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        directory = query.get("dir", "")
        if not directory:
            return web.Response(status=400, text="Directory not provided")
        path = self.user_path(directory)
        if not path:
            return web.Response(status=403, text="Invalid directory")
        if not os.path.exists(path):
            return web.Response(status=404, text="Directory not found")
        recurse = query.get("recurse", "").lower() == "true"
        full_info = query.get("full_info", "").lower() == "true"
        split = query.get("split", "").lower() == "true"
        parts = ("**", "*") if recurse else ("*",)
        results: list[Any] = []
        for full in glob.glob(os.path.join(glob.escape(path), *parts), recursive=recurse):
            if not os.path.isfile(full):
                continue
            if full_info:
                results.append(_file_info(full, path))
                continue
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            results.append([rel, *rel.split("/")] if split else rel)
        return web.json_response(results)

    async def list_userdata_v2(self, request: web.Request) -> web.Response:
        requested = parse.unquote(request.rel_url.query.get("path", ""))
        user_root = self.user_path(None, create_dir=False)
        target = self.user_path(requested, create_dir=False)
        if not target or not user_root:
            return web.Response(status=403, text="Invalid path requested")
        if not os.path.exists(target):
            if requested == "":
                return web.json_response([])
            return web.Response(status=404, text="Path not found")
        if not os.path.isdir(target):
            return web.Response(status=400, text="Requested path is not a directory")
        results: list[dict[str, Any]] = []
        for entry in os.scandir(target):
            info: dict[str, Any] = {
                "name": entry.name,
                "path": os.path.relpath(entry.path, user_root).replace(os.sep, "/"),
                "type": "directory" if entry.is_dir() else "file",
            }
            if entry.is_file():
                stats = entry.stat()
                info["size"] = stats.st_size
                info["modified"] = stats.st_mtime
            results.append(info)
        results.sort(key=lambda x: (x["type"] != "directory", x["name"].lower()))
        return web.json_response(results)

    # ----- one file

    def _file_param(
        self, request: web.Request, check_exists: bool = False, param: str = "file"
    ) -> str | web.Response:
        file = request.match_info.get(param)
        if not file:
            return web.Response(status=400)
        path = self.user_path(file)
        if not path:
            return web.Response(status=403)
        if check_exists and not os.path.exists(path):
            return web.Response(status=404)
        return path

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        path = self._file_param(request, check_exists=True)
        if isinstance(path, web.Response):
            return path
        return web.FileResponse(path)

    def _written(self, request: web.Request, path: str) -> web.Response:
        user_root = self.user_path(None)
        assert user_root is not None
        if request.query.get("full_info", "false").lower() == "true":
            return web.json_response(_file_info(path, user_root))
        return web.json_response(os.path.relpath(path, user_root))

    async def post_file(self, request: web.Request) -> web.Response:
        path = self._file_param(request)
        if isinstance(path, web.Response):
            return path
        if request.query.get("overwrite", "true") == "false" and os.path.exists(path):
            return web.Response(status=409, text="File already exists")
        body = await request.read()
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError:
            return web.Response(
                status=400,
                reason='Invalid filename. Please avoid special characters like :\\/*?"<>|',
            )
        return self._written(request, path)

    async def delete_file(self, request: web.Request) -> web.Response:
        path = self._file_param(request, check_exists=True)
        if isinstance(path, web.Response):
            return path
        os.remove(path)
        return web.Response(status=204)

    async def move_file(self, request: web.Request) -> web.Response:
        source = self._file_param(request, check_exists=True)
        if isinstance(source, web.Response):
            return source
        dest = self._file_param(request, param="dest")
        if isinstance(dest, web.Response):
            return dest
        if request.query.get("overwrite", "true") == "false" and os.path.exists(dest):
            return web.Response(status=409, text="File already exists")
        shutil.move(source, dest)
        return self._written(request, dest)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/users", self.get_users),
            ("POST", "/users", self.post_users),
            ("GET", "/userdata", self.list_userdata),
            ("GET", "/v2/userdata", self.list_userdata_v2),
            ("GET", "/userdata/{file}", self.get_file),
            ("POST", "/userdata/{file}", self.post_file),
            ("DELETE", "/userdata/{file}", self.delete_file),
            ("POST", "/userdata/{file}/move/{dest}", self.move_file),
            ("GET", "/settings", self.get_settings),
            ("GET", "/settings/{id}", self.get_setting),
            ("POST", "/settings", self.post_settings),
            ("POST", "/settings/{id}", self.post_setting),
        ]
