"""Servers that misbehave on purpose: every request and download ends, and says why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from sweeps.client import ComfyClient
from sweeps.config import Limits, ServerConfig, Timeouts
from sweeps.downloads import download_outputs
from sweeps.errors import ProtocolError, ServerTimeout
from sweeps.models import OutputFile
from tests.client.servers import serving

PNG = OutputFile("ComfyUI_00001_.png", "", node_id="9")


async def _trickle(request: web.Request) -> web.StreamResponse:
    """A /view that sends one byte at a time, forever: each read is quick, the file never ends."""
    response = web.StreamResponse(headers={"content-type": "image/png"})
    await response.prepare(request)
    while True:
        await response.write(b"x")
        await asyncio.sleep(0.01)


async def _large(request: web.Request) -> web.StreamResponse:
    """A /view whose file is larger than it should be, sent without a Content-Length."""
    response = web.StreamResponse(headers={"content-type": "image/png"})
    await response.prepare(request)
    for _ in range(64):
        await response.write(b"\0" * 1024)
    await response.write_eof()
    return response


async def test_a_trickling_view_is_cut_at_the_whole_file_deadline(tmp_path: Path) -> None:
    server = ServerConfig("http://x", timeouts=Timeouts(read=5.0, download=0.5))
    async with serving({"/api/view": _trickle}) as url:
        server = ServerConfig(url, timeouts=server.timeouts)
        async with ComfyClient(server) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with asyncio.timeout(20):  # a failure here is the bug: it hangs
                with pytest.raises(ServerTimeout, match=r"within 0\.5s") as caught:
                    await client.download(PNG, tmp_path / "a.png")
            assert loop.time() - started < 5
    assert "ComfyUI_00001_.png" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


async def test_a_file_over_the_size_cap_is_refused_and_not_retried(tmp_path: Path) -> None:
    asked = 0

    async def large(request: web.Request) -> web.StreamResponse:
        nonlocal asked
        asked += 1
        return await _large(request)

    async with serving({"/api/view": large}) as url:
        server = ServerConfig(url, limits=Limits(max_download_bytes=10_000))
        async with ComfyClient(server) as client:
            with pytest.raises(ProtocolError, match="larger than 10000 bytes") as caught:
                await download_outputs(client, (PNG,), run_index=1, dest_dir=tmp_path)
    assert "max_download_bytes" in str(caught.value)
    assert asked == 1  # the same file would be as large again
    assert list(tmp_path.iterdir()) == []


async def test_a_declared_size_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"\0" * 50_000, content_type="image/png")

    async with serving({"/api/view": declared}) as url:
        server = ServerConfig(url, limits=Limits(max_download_bytes=1000))
        async with ComfyClient(server) as client:
            with pytest.raises(ProtocolError, match="50000 bytes"):
                await client.download(PNG, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


async def test_a_file_within_the_cap_downloads_whole(tmp_path: Path) -> None:
    async with serving({"/api/view": _large}) as url:
        server = ServerConfig(url, limits=Limits(max_download_bytes=64 * 1024))
        async with ComfyClient(server) as client:
            path = await client.download(PNG, tmp_path / "a.png")
    assert path.stat().st_size == 64 * 1024
