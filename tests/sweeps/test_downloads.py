"""Whatever names a server returns, outputs land inside the output directory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sweeps.client import ComfyClient
from sweeps.downloads import download_outputs, local_name
from sweeps.models import OutputFile

HOSTILE = [
    OutputFile("../../etc/passwd", "", node_id="9"),
    OutputFile("/abs/path.png", "../../..", node_id="9"),
    OutputFile("..\\..\\win.png", "", node_id="9"),
    OutputFile(".hidden.png", "sub/dir", node_id="../9"),
    OutputFile("", "", node_id="9"),
    OutputFile("a b?c*.png", "", node_id="9"),
]


@pytest.mark.parametrize("file", HOSTILE, ids=lambda f: f.filename or "empty")
def test_local_names_are_plain_and_carry_the_run_index(file: OutputFile) -> None:
    name = local_name(42, file)
    assert name.startswith("00042-")
    assert "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".")


async def test_hostile_names_stay_inside_and_same_names_do_not_collide(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=request.url.params["filename"].encode() or b"x")

    files = (
        *HOSTILE,
        OutputFile("ComfyUI_00001_.png", "a", node_id="9"),
        OutputFile("ComfyUI_00001_.png", "b", node_id="9"),
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ComfyClient("http://s", http=http)
        saved = await download_outputs(client, files, run_index=7, dest_dir=tmp_path / "out")
    paths = [path for _, path in saved]
    assert len(set(paths)) == len(files)
    for path in paths:
        assert path.parent == (tmp_path / "out").resolve()
        assert path.is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert not (tmp_path / "etc").exists()


async def test_a_file_already_on_disk_is_never_overwritten(tmp_path: Path) -> None:
    """An edited grid can give a new run the index an earlier run's file carries."""
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "00003-9-ComfyUI_00001_.png"
    earlier.write_bytes(b"paid for last week")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"new")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ComfyClient("http://s", http=http)
        [(_, path)] = await download_outputs(
            client, (OutputFile("ComfyUI_00001_.png", "", node_id="9"),), run_index=3, dest_dir=out
        )
    assert earlier.read_bytes() == b"paid for last week"
    assert path.name == "00003-9-ComfyUI_00001_-2.png" and path.read_bytes() == b"new"
