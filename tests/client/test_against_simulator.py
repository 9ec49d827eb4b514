"""The client end to end against the simulator: submit, watch, outputs, errors, queue, files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sweeps.client import ComfyClient
from sweeps.config import ServerConfig, Timeouts
from sweeps.connection import REFUSED_GIVE_UP, ServerConnection
from sweeps.errors import PromptRejected, ServerFailed, ServerUnreachable
from sweeps.events import Executing, PreviewImage, Progress, SocketClosed, SocketOpened
from sweeps.models import OutputFile
from sweeps.simulator import NEWEST, SimConfig, Simulator

REPO = Path(__file__).resolve().parents[2]
MODEL_FREE = json.loads((REPO / "sample_workflows" / "model_free.json").read_text())


def _sleepy(steps: int = 3, step_ms: int = 50, preview: bool = False) -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 7},
        },
        "2": {
            "class_type": "ProbeSleep",
            "inputs": {"image": ["1", 0], "steps": steps, "step_ms": step_ms, "preview": preview},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t"}},
    }


def _failing() -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 7},
        },
        "2": {"class_type": "ProbeFail", "inputs": {"image": ["1", 0], "message": "boom"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t"}},
    }


@pytest.fixture
def speed() -> float:
    """Instant by default; a test that must catch a prompt mid-run overrides it."""
    return 0.0


@pytest.fixture
async def sim(speed: float) -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(speed=speed)) as simulator:
        yield simulator


@pytest.fixture
async def conn(sim: Simulator) -> AsyncIterator[ServerConnection]:
    connection = ServerConnection(sim.url, poll_interval=0.05)
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(connection.connected.wait(), 5)
        yield connection
        listener.cancel()
    await connection.client.aclose()


async def test_run_prompt_collects_outputs_and_downloads_them(conn, tmp_path: Path) -> None:
    outcome = await conn.run_prompt(MODEL_FREE)
    assert outcome.status == "success"
    assert [f.node_id for f in outcome.outputs] == ["4"]
    assert {t.class_type for t in outcome.node_timings} == {
        "EmptyImage",
        "ImageAddNoise",
        "ImageBlur",
        "SaveImage",
    }
    path = await conn.client.download(outcome.outputs[0], tmp_path / "out.png")
    assert path.read_bytes().startswith(b"\x89PNG")

    again = await conn.run_prompt(MODEL_FREE)
    assert again.cached_nodes == ("1", "2", "3", "4")
    assert again.outputs == outcome.outputs  # a cached rerun reports the old files


async def test_execution_error_is_an_outcome_not_an_exception(sim, conn) -> None:
    sim.faults.fail_class("ImageBlur")
    outcome = await conn.run_prompt(MODEL_FREE)
    assert outcome.status == "failed"
    assert outcome.error_node == "3"
    assert outcome.error_message == "simulated failure in ImageBlur"


async def test_rejection_names_node_and_input(conn) -> None:
    bad = json.loads(json.dumps(MODEL_FREE))
    bad["3"]["inputs"]["blur_radius"] = 99
    with pytest.raises(PromptRejected) as caught:
        await conn.run_prompt(bad)
    assert "node 3 (ImageBlur) input blur_radius: 99 is outside the allowed range 1..31" in str(
        caught.value
    )
    assert conn.tracked() == []


async def test_progress_and_previews_arrive_typed(sim, conn) -> None:
    seen = []
    conn.subscribe(seen.append)
    outcome = await conn.run_prompt(_sleepy(steps=4, preview=True))
    assert outcome.status == "success"
    progress = [e for e in seen if isinstance(e, Progress) and e.prompt_id == outcome.prompt_id]
    assert [p.value for p in progress] == [1, 2, 3, 4]
    previews = [e for e in seen if isinstance(e, PreviewImage)]
    assert previews and all(
        p.frame_type == 4 and p.prompt_id == outcome.prompt_id for p in previews
    )
    assert isinstance(seen[-1], Executing) and seen[-1].is_done


@pytest.mark.parametrize("speed", [1.0])
async def test_interrupt_running_prompt(sim, conn) -> None:
    seen = asyncio.Event()

    def on_event(event):
        if isinstance(event, Progress):
            seen.set()

    conn.subscribe(on_event)
    queued, tracker = await conn.submit(_sleepy(steps=400, step_ms=50))
    await asyncio.wait_for(seen.wait(), 5)
    await conn.client.interrupt(queued.prompt_id)
    outcome = await conn.wait(tracker)
    assert outcome.status == "interrupted"
    assert outcome.error_node == "2"


async def test_queue_delete_and_clear(sim, conn) -> None:
    sim.faults.stall_worker = True
    client = conn.client
    ids = [(await client.queue_prompt(_sleepy(steps=1, step_ms=1 + i))).prompt_id for i in range(4)]
    front = await client.queue_prompt(_sleepy(steps=1, step_ms=99), front=True)
    queue = await client.get_queue()
    pending = [i.prompt_id for i in queue.pending + queue.running]
    assert set(pending) == {*ids, front.prompt_id}
    assert queue.pending[0].prompt_id in (front.prompt_id, ids[0])
    waiting = [i.prompt_id for i in queue.pending]
    await client.delete_from_queue(waiting[:1])
    assert len((await client.get_queue()).pending) == len(waiting) - 1
    await client.clear_queue()
    assert (await client.get_queue()).pending == ()
    sim.faults.stall_worker = False
    await sim.wait_idle()
    assert await client.queue_remaining() == 0


async def test_upload_and_free(sim, conn, tmp_path: Path) -> None:
    client = conn.client
    image = _png_bytes()
    first = await client.upload_image(image, filename="pixel.png")
    assert (first.name, first.type) == ("pixel.png", "input")
    same = await client.upload_image(image, filename="pixel.png")
    assert same.name == "pixel.png"  # identical content keeps the name
    other = await client.upload_image(_png_bytes(color=(0, 255, 0)), filename="pixel.png")
    assert other.name == "pixel (1).png"
    before = (await client.system_stats()).device
    await conn.run_prompt(_sdish())  # loads a checkpoint: VRAM in use goes up
    loaded = (await client.system_stats()).device
    await client.free(unload_models=True, free_memory=True)
    after = (await client.system_stats()).device
    assert before is not None and loaded is not None and after is not None
    assert loaded.vram_free < before.vram_free
    assert after.vram_free == before.vram_free


def _sdish() -> dict:
    return json.loads((REPO / "sample_workflows" / "txt2img_sd15.json").read_text())


def _png_bytes(color=(255, 0, 0)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), color).save(buffer, "PNG")
    return buffer.getvalue()


async def test_transport_errors_are_typed(sim) -> None:
    async with ComfyClient(sim.url) as client:
        sim.faults.prompt_500 = 1
        with pytest.raises(ServerFailed):
            await client.queue_prompt(MODEL_FREE)
        await sim.refuse_connections()
        with pytest.raises(ServerUnreachable):
            await client.system_stats()
        await sim.accept_connections()
        assert (await client.system_stats()).system.comfyui_version == NEWEST


async def test_websocket_reconnects_after_a_drop(sim) -> None:
    async with ComfyClient(sim.url) as client:
        kinds = []
        stream = client.events()
        async for event in stream:
            kinds.append(type(event))
            if isinstance(event, SocketOpened) and kinds.count(SocketOpened) == 1:
                await sim.drop_websockets()
            if isinstance(event, SocketOpened) and kinds.count(SocketOpened) == 2:
                break
        await stream.aclose()
    assert SocketClosed in kinds


@pytest.mark.parametrize("abort", [False, True])
async def test_events_keep_flowing_after_a_reconnect(sim, abort: bool) -> None:
    """After an unclean drop the client takes a fresh clientId (PROTOCOL 6.6)."""
    connection = ServerConnection(sim.url, poll_interval=0.05, safety_poll=5.0)
    opened = asyncio.Event()
    ids: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, SocketOpened):
            ids.append(event.sid)
            opened.set()

    connection.subscribe(on_event)
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(opened.wait(), 5)
        opened.clear()
        await sim.drop_websockets(abort=abort)
        await asyncio.wait_for(opened.wait(), 5)
        seen = []
        connection.subscribe(seen.append)
        outcome = await connection.run_prompt(MODEL_FREE)
        listener.cancel()
    await connection.client.aclose()
    assert outcome.status == "success"
    assert len(ids) == 2
    assert (ids[0] != ids[1]) is abort
    # The outcome came from the websocket, not from polling: the new socket is not deaf.
    assert any(isinstance(e, Executing) and e.prompt_id == outcome.prompt_id for e in seen)


async def test_history_delete_and_clear(conn) -> None:
    first = await conn.run_prompt(MODEL_FREE)
    second = await conn.run_prompt(_sleepy(steps=1, step_ms=1))
    client = conn.client
    assert [h.prompt_id for h in await client.get_history()] == [first.prompt_id, second.prompt_id]
    assert [h.prompt_id for h in await client.get_history(max_items=1)] == [second.prompt_id]
    await client.delete_history([first.prompt_id])
    assert await client.get_history_entry(first.prompt_id) is None
    await client.clear_history()
    assert await client.get_history() == []


async def test_mask_upload_lands_in_input(conn) -> None:
    client = conn.client
    original = await client.upload_image(_png_bytes(), filename="base.png")
    mask = await client.upload_image(
        _png_bytes(color=(0, 0, 0)),
        filename="base_mask.png",
        mask_of=OutputFile(original.name, original.subfolder, original.type),
    )
    assert (mask.name, mask.type) == ("base_mask.png", "input")
    assert (await client.view(OutputFile(mask.name, "", "input"))).startswith(b"\x89PNG")


@pytest.mark.parametrize("speed", [1.0])
async def test_a_prompt_running_through_an_unclean_reconnect_still_completes(sim) -> None:
    """Its events go to the old clientId after the drop; the waiter polls /history instead."""
    connection = ServerConnection(sim.url, poll_interval=0.05)  # safety_poll stays 30 s
    progressed = asyncio.Event()
    connection.subscribe(lambda e: isinstance(e, Progress) and progressed.set())
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(connection.connected.wait(), 5)
        _, tracker = await connection.submit(_sleepy(steps=10, step_ms=50))
        await asyncio.wait_for(progressed.wait(), 5)
        await sim.drop_websockets(abort=True)
        outcome = await asyncio.wait_for(connection.wait(tracker), 5)
        listener.cancel()
    await connection.client.aclose()
    assert outcome.status == "success"
    assert outcome.outputs
    assert tracker.missed, "events went to the old clientId: only /history saw the end"


def _count_history_questions(conn: ServerConnection, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    get_history_entry = conn.client.get_history_entry

    async def counted(prompt_id: str):
        asked.append(prompt_id)
        return await get_history_entry(prompt_id)

    monkeypatch.setattr(conn.client, "get_history_entry", counted)
    return asked


async def test_a_success_heard_whole_on_the_socket_costs_no_history_request(
    conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request fewer per run; the outcome is the one /history would give."""
    asked = _count_history_questions(conn, monkeypatch)
    outcome = await conn.run_prompt(MODEL_FREE)
    assert asked == []
    assert outcome.status == "success"
    entry = await conn.client.get_history_entry(outcome.prompt_id)
    assert entry is not None
    assert outcome.outputs == tuple(entry.files)
    assert outcome.cached_nodes == entry.cached_nodes
    assert outcome.started_at is not None and outcome.finished_at is not None


async def test_a_failure_is_still_reconciled_with_history(
    conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _count_history_questions(conn, monkeypatch)
    outcome = await conn.run_prompt(_failing())
    assert outcome.status == "failed"
    assert asked == [outcome.prompt_id]


async def test_a_server_that_ignores_the_chosen_prompt_id_is_followed_by_its_own(
    conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ComfyUI before the prompt_id field answered with an id of its own choosing."""
    queue_prompt = conn.client.queue_prompt

    async def older_server(prompt, *, prompt_id=None, **kwargs):
        return await queue_prompt(prompt, **kwargs)

    monkeypatch.setattr(conn.client, "queue_prompt", older_server)
    queued, tracker = await conn.submit(MODEL_FREE, prompt_id="chosen-by-the-client")
    assert queued.prompt_id != "chosen-by-the-client"
    assert tracker.prompt_id == queued.prompt_id
    outcome = await asyncio.wait_for(conn.wait(tracker), 10)
    assert outcome.status == "success"
    assert [f.node_id for f in outcome.outputs] == ["4"]


@pytest.mark.parametrize("speed", [1.0])
async def test_a_killed_server_is_given_up_on_in_seconds_and_is_up_again_after_a_restart(
    sim,
) -> None:
    """Refused connections are definitive: the waiter does not sit out ``give_up_after``."""
    assert REFUSED_GIVE_UP <= 5.0
    connection = ServerConnection(sim.url, poll_interval=0.05, give_up_refused=0.3)
    assert connection.give_up_after == 60.0  # what a dead server used to cost every waiter
    changes: list[float | None] = []
    back = asyncio.Event()
    connection.watch_down(lambda since: (changes.append(since), since is None and back.set()))
    progressed = asyncio.Event()
    connection.subscribe(lambda e: isinstance(e, Progress) and progressed.set())
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(connection.connected.wait(), 5)
        _, tracker = await connection.submit(_sleepy(steps=40, step_ms=50))
        await asyncio.wait_for(progressed.wait(), 5)
        await sim.die()
        with pytest.raises(ServerUnreachable, match="refused connections"):
            await asyncio.wait_for(connection.wait(tracker), 10)
        assert connection.down_since is not None and changes == [connection.down_since]
        await sim.restart()
        await asyncio.wait_for(back.wait(), 10)
        outcome = await asyncio.wait_for(connection.run_prompt(MODEL_FREE), 10)
        listener.cancel()
    await connection.client.aclose()
    assert connection.down_since is None and changes[-1] is None
    assert outcome.status == "success"


async def test_a_server_that_times_out_is_waited_for_until_give_up_after(sim) -> None:
    """A timeout is not a refusal (a busy server, a slow network): the short limit
    for refused connections does not apply to it."""
    server = ServerConfig(sim.url, timeouts=Timeouts(connect=2.0, read=0.1))
    connection = ServerConnection(
        server, poll_interval=0.05, give_up_refused=0.05, give_up_after=0.6
    )
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(connection.listen())
        await asyncio.wait_for(connection.connected.wait(), 5)
        sim.faults.stall_worker = True
        _, tracker = await connection.submit(MODEL_FREE)
        sim.faults.hang_http = True
        await sim.drop_websockets(abort=True)
        with pytest.raises(ServerUnreachable, match="has not answered for 0.6s"):
            await asyncio.wait_for(connection.wait(tracker), 10)
        listener.cancel()
        sim.faults.clear()
    await connection.client.aclose()


async def test_a_refused_connection_says_what_to_check() -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ComfyClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ServerUnreachable, match=r"connection refused \(is ComfyUI running"):
            await client.system_stats()
