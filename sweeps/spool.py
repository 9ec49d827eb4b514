"""A downloaded file written off the event loop, appearing whole or not at all.

Creating, writing and renaming a file can each wait on the disk: behind the
journal's fsync, or a filesystem under writeback pressure. On the loop that
wait stalls every server's socket. Here chunks gather in memory and reach the
disk in a worker thread a few MiB at a time, so a typical image costs one thread
hop and a large video a handful, with memory bounded by ``FLUSH_BYTES``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["FLUSH_BYTES", "Spool"]

FLUSH_BYTES = 4 * 1024 * 1024


class Spool:
    """Write ``dest`` through a hidden ``.name.part`` beside it.

    ``keep_existing`` never replaces a file already there: the first free name of
    ``stem-2.ext``, ``stem-3.ext``, ... is taken instead (chosen in the thread,
    where the name is also claimed). :meth:`finish` returns where the file landed;
    :meth:`discard` (or leaving without finishing) removes the partial file.
    """

    def __init__(self, dest: Path, *, keep_existing: bool = False) -> None:
        self.dest = dest
        self.partial = dest.with_name(f".{dest.name}.part")
        self._keep_existing = keep_existing
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._file: BinaryIO | None = None

    async def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= FLUSH_BYTES:
            chunks, self._chunks, self._buffered = self._chunks, [], 0
            await asyncio.to_thread(self._flush, chunks)

    async def finish(self) -> Path:
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        return await asyncio.to_thread(self._finish, chunks)

    async def discard(self) -> None:
        self._chunks, self._buffered = [], 0
        await asyncio.to_thread(self._discard)

    def _flush(self, chunks: list[bytes]) -> None:
        if self._file is None:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.partial.open("wb")
        self._file.writelines(chunks)

    def _finish(self, chunks: list[bytes]) -> Path:
        try:
            self._flush(chunks)
            assert self._file is not None
            self._file.close()
            target = self._free_name() if self._keep_existing else self.dest
            os.replace(self.partial, target)
        except BaseException:
            self._discard()
            raise
        return target

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
        self.partial.unlink(missing_ok=True)

    def _free_name(self) -> Path:
        first = self.dest
        stem, dot, ext = first.name.rpartition(".")
        target, counter = first, 1
        while target.exists():
            counter += 1
            target = first.with_name(
                f"{stem}-{counter}{dot}{ext}" if dot else f"{first.name}-{counter}"
            )
        return target
