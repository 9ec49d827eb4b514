"""The simulator's input/, output/ and temp/ directories, with ComfyUI's path rules.

The path rules are part of the protocol a client sees: ``/view`` answers 400,
403 or 404 for specific mistakes, uploads rename on a content clash, and
SaveImage numbers its files from what is already on disk. These are ports of
``folder_paths`` and the upload/view handlers of ComfyUI's server.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileStore", "PathRefused", "SavePath"]

_ANNOTATIONS = {" [output]": "output", " [input]": "input", " [temp]": "temp"}
FOLDER_TYPES = ("output", "input", "temp")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tiff")


class PathRefused(Exception):
    """A request path ComfyUI refuses; ``status`` is the HTTP answer it gives."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class SavePath:
    """Where the next files of one ``filename_prefix`` go (``folder_paths.get_save_image_path``)."""

    folder: Path
    filename: str
    counter: int
    subfolder: str


class FileStore:
    """Owns the three directories; a fresh temporary root unless one is given."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="comfyfleet-sim-")
            root = Path(self._tmp.name)
        self.root = Path(root).resolve()
        self.input_dir = self.root / "input"
        self.output_dir = self.root / "output"
        self.temp_dir = self.root / "temp"
        self.user_dir = self.root / "user"
        """Per-user data and settings (``--user-directory``); survives restarts."""
        self.web_dir = self.root / "web"
        """An empty web root: upstream's static catch-all serves from here and finds nothing."""

    def prepare(self) -> None:
        """Create the directories; wipe temp/, as ComfyUI's ``cleanup_temp`` does at start."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        for d in (self.input_dir, self.output_dir, self.temp_dir, self.user_dir, self.web_dir):
            d.mkdir(parents=True, exist_ok=True)

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def directory(self, folder_type: str) -> Path:
        if folder_type == "output":
            return self.output_dir
        if folder_type == "input":
            return self.input_dir
        if folder_type == "temp":
            return self.temp_dir
        raise PathRefused(400)

    # ----- LoadImage

    def input_images(self) -> list[str]:
        """Image files under input/ (relative, with subfolders), as LoadImage lists them."""
        found = []
        for path in self.input_dir.rglob("*"):
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path.relative_to(self.input_dir).as_posix())
        return sorted(found)

    def annotated_path(self, name: str, default_type: str = "input") -> Path:
        """Resolve ``"x.png [output]"``-style names (``folder_paths.get_annotated_filepath``)."""
        base = self.directory(default_type)
        for suffix, folder_type in _ANNOTATIONS.items():
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                base = self.directory(folder_type)
                break
        return base / name

    def exists_annotated(self, name: str) -> bool:
        return self.annotated_path(name).is_file()

    # ----- /view

    def view_path(self, filename: str, folder_type: str, subfolder: str) -> Path:
        """The file ``GET /view`` serves, or :class:`PathRefused` with ComfyUI's status."""
        for suffix, annotated in _ANNOTATIONS.items():
            if filename.endswith(suffix):
                filename = filename[: -len(suffix)]
                folder_type = annotated
                break
        if not filename or filename[0] == "/" or ".." in filename:
            raise PathRefused(400)
        base = self.directory(folder_type)
        output_dir = str(base)
        if subfolder:
            full = os.path.abspath(os.path.join(output_dir, subfolder))
            if os.path.commonpath((full, output_dir)) != output_dir:
                raise PathRefused(403)
            output_dir = full
        path = Path(output_dir) / os.path.basename(filename)
        if not path.is_file():
            raise PathRefused(404)
        return path

    # ----- SaveImage / PreviewImage

    def save_path(self, prefix: str, folder_type: str, width: int, height: int) -> SavePath:
        """Next counter for ``prefix``; continues from the files already there."""
        base = str(self.directory(folder_type))
        prefix = prefix.replace("%width%", str(width)).replace("%height%", str(height))
        subfolder = os.path.dirname(os.path.normpath(prefix))
        filename = os.path.basename(os.path.normpath(prefix))
        folder = os.path.join(base, subfolder)
        if os.path.commonpath((base, os.path.abspath(folder))) != base:
            raise ValueError(
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {os.path.abspath(folder)}"
                f"\n         output_dir: {base}"
                f"\n         commonpath: {os.path.commonpath((base, os.path.abspath(folder)))}"
            )
        os.makedirs(folder, exist_ok=True)
        prefix_len = len(filename)
        counter = 0
        for existing in os.listdir(folder):
            head = existing[: prefix_len + 1]
            if head[:-1] != filename or head[-1:] != "_":
                continue
            try:
                digits = int(existing[prefix_len + 1 :].split("_")[0])
            except ValueError:
                digits = 0
            counter = max(counter, digits)
        return SavePath(Path(folder), filename, counter + 1, subfolder)

    # ----- uploads

    def upload(
        self, data: bytes, filename: str, folder_type: str, subfolder: str, overwrite: bool
    ) -> str:
        """Store an upload; the name it was stored under (``name (1).ext`` on a clash)."""
        base = str(self.directory(folder_type))
        folder = os.path.join(base, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((base, path)) != base:
            raise PathRefused(400)
        os.makedirs(folder, exist_ok=True)
        stem, ext = os.path.splitext(filename)
        if not overwrite:
            digest = hashlib.sha256(data).digest()
            i = 1
            while os.path.exists(path):
                with open(path, "rb") as existing:
                    if hashlib.sha256(existing.read()).digest() == digest:
                        return filename
                filename = f"{stem} ({i}){ext}"
                path = os.path.join(folder, filename)
                i += 1
        with open(path, "wb") as out:
            out.write(data)
        return filename
