"""Servers that misbehave on purpose: every request and download ends, and says why."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from sweeps import spool
from sweeps.client import ComfyClient
from sweeps.config import Limits, ServerConfig, Timeouts
from sweeps.connection import ServerConnection
from sweeps.downloads import download_outputs
from sweeps.errors import ProtocolError, ServerTimeout, ServerUnreachable
from sweeps.events import MalformedFrame, parse_binary, parse_text
from sweeps.models import HistoryEntry, OutputFile
from sweeps.simulator import Simulator
from sweeps.tracking import PromptTracker
from tests.client.servers import serving
from tests.client.test_against_simulator import MODEL_FREE

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


async def test_a_file_within_the_cap_downloads_whole(tmp_path: Path) -> None:
    async with serving({"/api/view": _large}) as url:
        server = ServerConfig(url, limits=Limits(max_download_bytes=64 * 1024))
        async with ComfyClient(server) as client:
            path = await client.download(PNG, tmp_path / "a.png")
    assert path.stat().st_size == 64 * 1024


async def _numbered(request: web.Request) -> web.StreamResponse:
    """64 distinct KiB chunks, no Content-Length: order and completeness show."""
    response = web.StreamResponse(headers={"content-type": "image/png"})
    await response.prepare(request)
    for i in range(64):
        await response.write(bytes([i]) * 1024)
    await response.write_eof()
    return response


async def test_a_file_larger_than_the_write_buffer_arrives_whole_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "FLUSH_BYTES", 4096)  # many trips to the writer thread
    async with serving({"/api/view": _numbered}) as url:
        async with ComfyClient(url) as client:
            path = await client.download(PNG, tmp_path / "a.png")
    assert path.read_bytes() == b"".join(bytes([i]) * 1024 for i in range(64))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


async def _declared(request: web.Request) -> web.Response:
    return web.Response(body=b"\0" * 50_000, content_type="image/png")


@pytest.mark.parametrize(
    ("view", "match"),
    [
        (_declared, "larger than 20000 bytes \\(50000 bytes declared\\)"),  # before reading
        (_numbered, "larger than 20000 bytes; raise"),  # after some of it reached the disk
    ],
)
async def test_a_download_over_the_cap_is_refused_and_leaves_no_partial_file(
    view, match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "FLUSH_BYTES", 4096)
    async with serving({"/api/view": view}) as url:
        server = ServerConfig(url, limits=Limits(max_download_bytes=20_000))
        async with ComfyClient(server) as client:
            with pytest.raises(ProtocolError, match=match):
                await client.download(PNG, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


@asynccontextmanager
async def stalled_prompt(
    sim: Simulator, timeouts: Timeouts
) -> AsyncIterator[tuple[ServerConnection, PromptTracker]]:
    """A listening connection and a prompt queued on ``sim`` whose worker is stalled."""
    sim.faults.stall_worker = True
    connection = ServerConnection(ServerConfig(sim.url, timeouts=timeouts), poll_interval=0.05)
    try:
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(connection.listen())
            await asyncio.wait_for(connection.connected.wait(), 5)
            yield connection, (await connection.submit(MODEL_FREE))[1]
            listener.cancel()
    finally:
        sim.faults.clear()
        await connection.client.aclose()


async def test_a_server_whose_http_hangs_while_its_socket_stays_open_is_given_up(
    sim: Simulator,
) -> None:
    """SIGSTOP-like: the socket stays up (silent), every request is accepted, none answered."""
    loop = asyncio.get_running_loop()
    timeouts = Timeouts(read=30.0, probe=0.2, silence=1.0)
    async with stalled_prompt(sim, timeouts) as (connection, tracker):
        sim.faults.hang_http = True
        started = loop.time()
        with pytest.raises(ServerUnreachable, match=r"nothing for 1s") as caught:
            await asyncio.wait_for(connection.wait(tracker), 20)
        assert loop.time() - started < 10  # not the 30 s read timeout, let alone forever
        assert connection.connected.is_set()  # the socket never said a word about it
    assert "websocket open" in str(caught.value)


async def test_a_busy_server_that_answers_http_is_not_given_up(sim: Simulator) -> None:
    """Silence on the socket alone (a long node without progress) is not a hang."""
    # A probe may take its time (a loaded machine): only its answer matters here.
    async with stalled_prompt(sim, Timeouts(probe=10.0, silence=0.3)) as (connection, tracker):
        answers: asyncio.Queue[object] = asyncio.Queue()
        ask = connection.client.get_history_entry

        async def counted(prompt_id: str) -> HistoryEntry | None:
            entry = await ask(prompt_id)
            answers.put_nowait(entry)
            return entry

        connection.client.get_history_entry = counted  # type: ignore[method-assign]
        waiting = asyncio.ensure_future(connection.wait(tracker))
        for _ in range(4):  # several silences longer than the limit, each answered by HTTP
            assert await asyncio.wait_for(answers.get(), 10) is None
        assert not waiting.done()
        sim.faults.stall_worker = False
        outcome = await asyncio.wait_for(waiting, 10)
    assert outcome.status == "success"


DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize("route", ["/object_info", "/history/p1", "/queue", "/system_stats"])
async def test_json_nested_200000_deep_is_a_protocol_error(route: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=DEEP, headers={"content-type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ComfyClient("http://s", http=http)
        ask = {
            "/object_info": client.object_info,
            "/history/p1": lambda: client.get_history_entry("p1"),
            "/queue": client.get_queue,
            "/system_stats": client.system_stats,
        }[route]
        with pytest.raises(ProtocolError, match="nested too deeply"):
            await ask()


def test_a_websocket_frame_nested_200000_deep_is_malformed_not_fatal() -> None:
    assert isinstance(parse_text(DEEP, server="s"), MalformedFrame)
    framed = b'{"type": "executed", "data": {"output": ' + DEEP + b"}}"
    assert isinstance(parse_text(framed, server="s"), MalformedFrame)
    meta = b'{"a": ' + DEEP + b"}"
    preview = struct.pack(">II", 4, len(meta)) + meta
    assert isinstance(parse_binary(preview, server="s"), MalformedFrame)


def _entry(outputs: object) -> HistoryEntry:
    status = {"status_str": "success", "completed": True, "messages": []}
    raw = {"prompt": [0, "p", {}, {}, ["9"]], "outputs": outputs, "status": status}
    return HistoryEntry.from_json("p", raw)


GOOD_FILE = {"filename": "a.png", "subfolder": "", "type": "output"}


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        ({"9": {"images": [{"subfolder": "", "type": "output"}]}}, "node 9: images[0] has no"),
        ({"9": {"images": [{"filename": 5, "type": "output"}]}}, "node 9: images[0] has no"),
        ({"9": {"images": [GOOD_FILE, {"filename": ""}]}}, "node 9: images[1] has no"),
        ({"9": "saved"}, "node 9: its outputs are str"),
        ({"9": {"images": GOOD_FILE}}, "node 9: images is one mapping"),
        (["9"], "outputs are list"),
    ],
)
def test_history_outputs_of_the_wrong_shape_fail_the_run_and_say_why(
    outputs: object, problem: str
) -> None:
    outcome = PromptTracker("p", server="s").outcome(_entry(outputs))
    assert (outcome.status, outcome.error_type) == ("failed", "ProtocolError")
    assert problem in (outcome.error_message or "")
    assert "not downloaded" in (outcome.error_message or "")


def test_odd_but_valid_outputs_are_a_success_with_their_files() -> None:
    outputs = {"9": {"text": ["hello"], "animated": [True], "images": [GOOD_FILE]}, "10": {}}
    outcome = PromptTracker("p", server="s").outcome(_entry(outputs))
    assert (outcome.status, outcome.error_type) == ("success", None)
    assert [f.filename for f in outcome.outputs] == ["a.png"]


async def _trickle_json(request: web.Request) -> web.StreamResponse:
    """An answer that starts at once and never ends: httpx's read timeout never fires."""
    response = web.StreamResponse(headers={"content-type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"system": {')
    while True:
        await response.write(b" ")
        await asyncio.sleep(0.01)


async def test_a_trickling_answer_to_any_request_is_cut_at_the_request_deadline() -> None:
    async with serving({"/{tail:.*}": _trickle_json}) as url:
        server = ServerConfig(url, timeouts=Timeouts(read=5.0, request=0.5))
        async with ComfyClient(server) as client:
            for ask in (client.system_stats, client.object_info, client.get_queue):
                with pytest.raises(ServerTimeout, match=r"within 0\.5s \(timeouts\.request\)"):
                    await asyncio.wait_for(ask(), 20)


async def test_a_prompt_sent_to_a_frozen_server_gives_up_after_the_silence(
    sim: Simulator,
) -> None:
    server = ServerConfig(sim.url, timeouts=Timeouts(read=30.0, silence=0.5))
    connection = ServerConnection(server, poll_interval=0.05)
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(connection.connected.wait(), 5)
        sim.faults.hang_http = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ServerTimeout, match=r"no answer within 0\.5s \(timeouts\.silence\)"):
            await asyncio.wait_for(connection.submit(MODEL_FREE), 20)
        assert loop.time() - started < 10  # not the 30 s read timeout
        listener.cancel()
        sim.faults.clear()
    await connection.client.aclose()
