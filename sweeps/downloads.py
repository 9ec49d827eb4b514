"""Where a run's output files land on disk, and fetching them there.

A server chooses filenames and subfolders; we never trust them as paths. The
local name carries the run index (so files sort by run and never collide
across runs or servers) and only a sanitised base name of the server's file,
so nothing can be written outside the output directory.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from .client import ComfyClient
from .errors import ServerFailed, TransportError
from .models import OutputFile

__all__ = ["download_outputs", "local_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")


def local_name(run_index: int, file: OutputFile) -> str:
    """``00042-9-ComfyUI_00001_.png``: run index, node id, sanitised base name.

    >>> local_name(3, OutputFile("../../etc/passwd", "..", node_id="9"))
    '00003-9-passwd'
    """
    base = PureWindowsPath(PurePosixPath(file.filename).name).name
    safe = _UNSAFE.sub("_", base).lstrip(".") or "output"
    node = _UNSAFE_ID.sub("_", file.node_id) or "x"
    return f"{run_index:05d}-{node}-{safe}"[:200]


async def download_outputs(
    client: ComfyClient,
    files: tuple[OutputFile, ...],
    *,
    run_index: int,
    dest_dir: Path,
    attempts: int = 3,
) -> list[tuple[OutputFile, Path]]:
    """Fetch every file of a run into ``dest_dir``, retrying transient failures.

    A name already taken gets a counter rather than overwriting: two SaveImage
    nodes of one run sharing a prefix, or a file an earlier run of an edited
    grid left under the same index (a report row still points at it).
    """
    saved: list[tuple[OutputFile, Path]] = []
    for file in files:
        # local_name leaves no separator and no leading dot: the file stays in dest_dir.
        target = dest_dir / local_name(run_index, file)
        for attempt in range(attempts):
            try:
                landed = await client.download(file, target, keep_existing=True)
                break
            except (TransportError, ServerFailed):
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        saved.append((file, landed))
    return saved
