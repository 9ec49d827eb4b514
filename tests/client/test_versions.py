"""Servers older and newer than 0.8.0, and custom nodes: shapes the traces do not show.

Unknown keys are ignored, missing optional keys have defaults, odd values never
crash parsing: a frame becomes :class:`MalformedFrame` at worst, an answer a
:class:`ProtocolError`, and never a bare ``KeyError``/``AttributeError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sweeps.client import ComfyClient
from sweeps.connection import ServerConnection
from sweeps.errors import PromptRejected, ProtocolError, ServerUnreachable
from sweeps.events import (
    Event,
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionStart,
    ExecutionSuccess,
    MalformedFrame,
    ProgressState,
    SocketOpened,
    Status,
    UnknownEvent,
    parse_message,
)
from sweeps.models import HistoryEntry, OutputFile, QueueItem, SystemStats
from sweeps.simulator import SimConfig, Simulator
from sweeps.tracking import PromptTracker
from tests.client.test_against_simulator import _sleepy
from tests.simulator.wire import open_socket

# -- websocket messages ------------------------------------------------------


def test_known_messages_with_unknown_keys_and_int_node_ids() -> None:
    event = parse_message(
        {
            "type": "executing",
            "data": {"node": 12, "display_node": 7, "prompt_id": "p", "new_field": [1]},
            "extra": True,
        }
    )
    assert event == Executing("p", "12", "7")
    executed = parse_message(
        {"type": "executed", "data": {"node": 3, "output": {"text": ["hi"]}, "prompt_id": "p"}}
    )
    assert isinstance(executed, Executed) and executed.node == "3"


def test_missing_optional_keys_have_defaults() -> None:
    assert parse_message({"type": "execution_cached", "data": {"prompt_id": "p"}}) == (
        ExecutionCached("p", ())
    )
    assert parse_message({"type": "status", "data": {}}) == Status(0)
    assert parse_message({"type": "executed", "data": {"node": "9"}}) == Executed(
        None, "9", None, None
    )


def test_timestamps_of_any_shape_never_break_the_tracker() -> None:
    """A custom server's timestamp may be a string, a float or absurd."""
    start = parse_message(
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": "1795359130719"}}
    )
    assert start == ExecutionStart("p", 1795359130719)
    tracker = PromptTracker("p", clock=lambda: 100.0)
    tracker.feed(start)
    for stamp in ("soon", 1e30, None, float("nan")):
        tracker.feed(
            parse_message(
                {"type": "execution_success", "data": {"prompt_id": "p", "timestamp": stamp}}
            )
        )
    tracker.feed(parse_message({"type": "executing", "data": {"node": None, "prompt_id": "p"}}))
    outcome = tracker.outcome()
    assert outcome.status == "success"
    assert outcome.started_at is not None and outcome.finished_at is not None


@pytest.mark.parametrize(
    "nodes",
    [
        [{"node_id": "4", "value": 1, "max": 2, "state": "running"}],  # a list, not a map
        {"4": {"value": 1, "max": 2}, "5": "garbage", "6": {"value": None, "max": 1}},
    ],
)
def test_progress_state_of_other_shapes_keeps_what_it_can(nodes: object) -> None:
    event = parse_message({"type": "progress_state", "data": {"prompt_id": "p", "nodes": nodes}})
    assert isinstance(event, ProgressState)
    assert [(n.node_id, n.value, n.max, n.state) for n in event.nodes] == [
        ("4", 1.0, 2.0, "running")
    ]


def test_execution_error_with_a_string_traceback() -> None:
    event = parse_message(
        {
            "type": "execution_error",
            "data": {"prompt_id": "p", "node_id": 3, "traceback": "Traceback...\n", "executed": 0},
        }
    )
    assert isinstance(event, ExecutionError)
    assert (event.node_id, event.traceback, event.executed) == ("3", ("Traceback...\n",), ())


@pytest.mark.parametrize(
    "message",
    [
        {"type": "progress_state", "data": {"nodes": 5}},
        {"type": "progress", "data": {"value": 1, "node": 3}},
        {"type": "executing", "data": {"display_node": "1"}},
    ],
)
def test_hopeless_messages_are_malformed_frames_not_exceptions(message: dict) -> None:
    assert isinstance(parse_message(message), MalformedFrame)


# -- history --------------------------------------------------------------


def test_custom_node_outputs_yield_their_files_and_skip_values() -> None:
    entry = HistoryEntry.from_json(
        "p",
        {
            "prompt": [1, "p", {}, {}, ["9"]],
            "outputs": {
                "9": {
                    "text": ["a caption"],
                    "animated": [True],
                    "images": [{"filename": "a.png", "type": "temp"}],
                    "gifs": [
                        {
                            "filename": "v.mp4",
                            "subfolder": "vid",
                            "type": "output",
                            "format": "video/h264-mp4",
                        }
                    ],
                    "audio": [{"filename": "s.flac", "subfolder": "", "type": "output"}],
                    "3d": [{"filename": "m.glb", "subfolder": "mesh", "type": "output"}],
                },
                "10": ["not", "a", "dict"],
                "11": {"text": "a bare string", "images": "also not a list"},
            },
            "status": {"status_str": "success", "completed": True, "messages": []},
            "meta": {"9": {"node_id": "9"}},
            "a_newer_key": {},
        },
    )
    assert entry.files == [
        OutputFile("a.png", "", "temp", node_id="9", kind="images"),
        OutputFile("v.mp4", "vid", "output", node_id="9", kind="gifs"),
        OutputFile("s.flac", "", "output", node_id="9", kind="audio"),
        OutputFile("m.glb", "mesh", "output", node_id="9", kind="3d"),
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [["execution_start"], ["execution_error"], "junk", [3, {}], None],
        [{"type": "execution_start", "data": {"timestamp": 5}}, {"type": "execution_error"}],
        "not a list",
    ],
)
def test_status_messages_in_other_shapes(messages: object) -> None:
    entry = HistoryEntry.from_json(
        "p",
        {
            "prompt": [0, "p", {}, None, None],
            "status": {"status_str": "error", "completed": False, "messages": messages},
        },
    )
    assert entry.outcome == "failed"
    assert entry.outputs_to_execute == () and entry.extra_data == {}


def test_history_from_before_the_status_field() -> None:
    """Old servers wrote ``{prompt, outputs}`` only, with a four-slot prompt."""
    entry = HistoryEntry.from_json(
        "p",
        {
            "prompt": [3, "p", {"1": {}}, {"client_id": "c"}],
            "outputs": {
                "9": {"images": [{"filename": "x.png", "subfolder": "", "type": "output"}]}
            },
        },
    )
    assert not entry.has_status
    assert entry.outcome == "success"
    tracker = PromptTracker("p")
    tracker.feed(
        parse_message(
            {
                "type": "execution_error",
                "data": {"prompt_id": "p", "exception_type": "OOM", "exception_message": "x"},
            }
        )
    )
    tracker.feed(parse_message({"type": "executing", "data": {"node": None, "prompt_id": "p"}}))
    assert tracker.outcome(entry).status == "failed"  # the event says more than no status


def test_queue_items_with_fewer_or_more_slots() -> None:
    short = QueueItem.from_json([2, "p", {}, {"client_id": "c"}])
    long = QueueItem.from_json([2, "p", {}, {}, ["9"], {"sensitive": 1}, "more"])
    assert (short.prompt_id, short.client_id, short.outputs_to_execute) == ("p", "c", ())
    assert long.outputs_to_execute == ("9",)


# -- /system_stats ---------------------------------------------------------


def test_system_stats_with_several_devices_and_an_older_servers_fields() -> None:
    stats = SystemStats.from_json(
        {
            "system": {"os": "nt", "ram_total": 1.5e10, "ram_free": "1000", "python_version": 3},
            "devices": [
                {"name": "cuda:0", "type": "cuda", "index": 0, "vram_total": 8, "vram_free": 2},
                {"name": "cuda:1", "type": "cuda", "index": 1, "vram_total": None},
                "junk",
            ],
        }
    )
    assert stats.system.pytorch_version is None and stats.system.comfyui_version is None
    assert stats.system.embedded_python is False
    assert (stats.system.ram_total, stats.system.ram_free) == (15_000_000_000, 1000)
    assert stats.system.python_version == "3"
    assert [d.name for d in stats.devices] == ["cuda:0", "cuda:1"]
    assert stats.devices[1].vram_total == 0


@pytest.mark.parametrize("devices", [[], None])
def test_system_stats_without_devices(devices: object) -> None:
    stats = SystemStats.from_json({"system": {}, "devices": devices})
    assert stats.device is None and stats.system.os == ""


# -- REST answers of other versions ----------------------------------------------


def _answer(status: int, body: Any) -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: httpx.Response(status, json=body))


async def test_a_prompt_answer_without_a_queue_number() -> None:
    async with httpx.AsyncClient(transport=_answer(200, {"prompt_id": "p"})) as http:
        queued = await ComfyClient("http://s", http=http).queue_prompt({})
    assert (queued.prompt_id, queued.number, queued.node_errors) == ("p", 0, ())


async def test_a_rejection_whose_error_is_a_plain_string() -> None:
    """ComfyUI before structured errors, and some on-prompt hooks, answer this way."""
    body = {"error": "invalid prompt: no outputs", "node_errors": []}
    async with httpx.AsyncClient(transport=_answer(400, body)) as http:
        with pytest.raises(PromptRejected) as caught:
            await ComfyClient("http://s", http=http).queue_prompt({})
    assert "invalid prompt: no outputs" in str(caught.value)


async def test_combo_options_lookup_refused_by_a_proxy_keeps_the_rejection() -> None:
    rejection = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "failed"},
        "node_errors": {
            "3": {
                "class_type": "KSampler",
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "sampler_name: 'eulr' not in list",
                        "extra_info": {"input_name": "sampler_name", "input_config": None},
                    }
                ],
            }
        },
    }

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json=rejection)
        return httpx.Response(403, text="Forbidden")

    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        with pytest.raises(PromptRejected) as caught:
            await ComfyClient("http://s", http=http).queue_prompt({})
    assert caught.value.node_errors[0].node_id == "3"


async def test_history_with_a_status_of_another_shape() -> None:
    entry = {"p": {"prompt": [1, "p", {}, {}, []], "status": "done", "outputs": None}}
    async with httpx.AsyncClient(transport=_answer(200, entry)) as http:
        parsed = await ComfyClient("http://s", http=http).get_history_entry("p")
    assert parsed is not None and parsed.outputs == {} and parsed.outcome == "failed"


@pytest.mark.parametrize("entry", [{"prompt": 5}, {"prompt": ["p"]}, {"outputs": {}}, []])
async def test_hopeless_history_is_a_protocol_error(entry: object) -> None:
    async with httpx.AsyncClient(transport=_answer(200, {"p": entry})) as http:
        with pytest.raises(ProtocolError):
            await ComfyClient("http://s", http=http).get_history_entry("p")


# -- a server that forgets -----------------------------------------------------


async def test_a_restart_that_loses_the_prompt_ends_the_wait() -> None:
    """Queue and history live in memory (PROTOCOL 6.12): after a restart the prompt
    is nowhere, and waiting for it would never end."""
    async with Simulator(SimConfig(speed=1.0)) as sim:
        connection = ServerConnection(sim.url, poll_interval=0.05)
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(connection.listen())
            await asyncio.wait_for(connection.connected.wait(), 5)
            _, tracker = await connection.submit(_sleepy(steps=200, step_ms=50))
            await sim.restart()
            with pytest.raises(ServerUnreachable, match="no longer knows prompt"):
                await asyncio.wait_for(connection.wait(tracker), 10)
            listener.cancel()
        await connection.client.aclose()


async def test_a_prompt_deleted_from_the_queue_by_someone_else_ends_the_wait() -> None:
    async with Simulator(SimConfig(speed=1.0)) as sim:
        connection = ServerConnection(sim.url, poll_interval=0.05, safety_poll=0.2)
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(connection.listen())
            await asyncio.wait_for(connection.connected.wait(), 5)
            await connection.submit(_sleepy(steps=200, step_ms=50))  # keeps the worker busy
            _, pending = await connection.submit(_sleepy(steps=1, step_ms=1))
            await connection.client.delete_from_queue([pending.prompt_id])
            with pytest.raises(ServerUnreachable, match="deleted"):
                await asyncio.wait_for(connection.wait(pending), 10)
            await connection.client.interrupt()
            listener.cancel()
        await connection.client.aclose()


async def test_a_server_that_never_sends_executing_null_is_polled_after_the_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``execution_success`` without the final ``executing {node: null}``: the waiter
    must not sit out ``safety_poll`` before asking /history."""
    events: asyncio.Queue[Event] = asyncio.Queue()
    history: dict[str, Any] = {}

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"prompt_id": json.loads(request.content)["prompt_id"]})
        return httpx.Response(200, json=history)

    async def stream(**_: object) -> AsyncIterator[Event]:
        while True:
            yield await events.get()

    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        client = ComfyClient("http://s", http=http, client_id="c")
        monkeypatch.setattr(client, "events", stream)
        connection = ServerConnection("http://s", client=client, poll_interval=0.01)
        connection.safety_poll = 3600.0
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(connection.listen())
            events.put_nowait(SocketOpened("c"))
            await asyncio.wait_for(connection.connected.wait(), 5)
            _, tracker = await connection.submit({"1": {}})
            waiting = group.create_task(connection.wait(tracker))
            events.put_nowait(ExecutionStart(tracker.prompt_id, 1))
            events.put_nowait(ExecutionSuccess(tracker.prompt_id, 2))
            history[tracker.prompt_id] = {
                "prompt": [0, tracker.prompt_id, {}, {}, []],
                "status": {"status_str": "success", "completed": True, "messages": []},
            }
            outcome = await asyncio.wait_for(waiting, 5)
            listener.cancel()
    assert outcome.status == "success"


# -- what newer servers offer --------------------------------------------------


@pytest.mark.parametrize("version", ["0.8.0", "0.33.0"])
async def test_cancel_dequeues_a_pending_prompt_and_interrupts_the_running_one(
    version: str,
) -> None:
    """Through /api/jobs/cancel on 0.26+, through /queue and /interrupt before."""
    config = SimConfig(speed=0.1, comfy_version=version)
    async with Simulator(config) as sim, ComfyClient(sim.url) as client:
        async with open_socket(sim.ws_url, client.client_id) as ws:
            running = (await client.queue_prompt(_sleepy(steps=100, step_ms=100))).prompt_id
            pending = (await client.queue_prompt(_sleepy(steps=1, step_ms=1))).prompt_id
            await ws.wait_message("progress", prompt_id=running)
            said = await client.cancel([pending, running])
            await ws.wait_done(running)
        queue = await client.get_queue()
        ran = await client.get_history_entry(running)
        never = await client.get_history_entry(pending)
    assert said is (True if version == "0.33.0" else None)  # 0.8.0 cannot say
    assert queue.pending == () and queue.running == ()
    assert ran is not None and ran.status_str == "error"  # interrupted
    assert never is None


async def test_cancelling_nothing_asks_nothing() -> None:
    async with Simulator(SimConfig(speed=0.0)) as sim, ComfyClient(sim.url) as client:
        await sim.die()  # any request would fail
        assert await client.cancel([]) is False


async def test_every_node_goes_out_with_a_title_and_keeps_its_own() -> None:
    prompt = _sleepy(steps=1, step_ms=0)
    prompt["3"]["_meta"] = {"title": "Keep me"}
    async with Simulator(SimConfig(speed=0.0)) as sim, ComfyClient(sim.url) as client:
        prompt_id = (await client.queue_prompt(prompt)).prompt_id
        await sim.wait_idle()
        entry = await client.get_history_entry(prompt_id)
    assert entry is not None and entry.prompt is not None
    titles = {node_id: node["_meta"]["title"] for node_id, node in entry.prompt.items()}
    assert titles == {"1": "EmptyImage", "2": "ProbeSleep", "3": "Keep me"}
    assert "_meta" not in prompt["1"]  # the caller's graph is left as it was


@pytest.mark.parametrize("version", ["0.8.0", "0.33.0"])
async def test_a_missing_node_class_is_said_plainly_in_old_and_new_words(version: str) -> None:
    prompt = {"1": {"class_type": "Upscale4000", "inputs": {}, "_meta": {"title": "Big"}}}
    async with (
        Simulator(SimConfig(speed=0.0, comfy_version=version)) as sim,
        ComfyClient(sim.url) as client,
    ):
        with pytest.raises(PromptRejected) as caught:
            await client.queue_prompt(prompt)
    assert caught.value.missing_class == "Upscale4000"
    named = ', "Big")' if version == "0.33.0" else ")"  # 0.8.0 does not send the title
    assert str(caught.value).endswith(
        f"node class Upscale4000 is not installed on 127.0.0.1 (node 1{named}"
    )


async def test_a_dependency_cycle_names_its_nodes() -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}},
    }
    async with Simulator(SimConfig(speed=0.0)) as sim, ComfyClient(sim.url) as client:
        with pytest.raises(PromptRejected) as caught:
            await client.queue_prompt(prompt)
    assert "node 2 (ImageInvert): is part of a dependency cycle (2 -> 1 -> 2)" in str(caught.value)


def test_assets_events_are_kept_as_unknown_events() -> None:
    event = parse_message({"type": "assets.updated", "data": {"ids": ["a"], "new": 1}})
    assert isinstance(event, UnknownEvent) and event.type == "assets.updated"
