"""The simulator replays each recorded run and must send what the real server sent.

Each test drives the simulator with the trace's own requests (same bodies, same
client id) and compares the message shapes per socket (tests/simulator/wire.py).
Where the count of progress updates depends on timing, runs of updates are
collapsed on both sides.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from sweeps.simulator import SimConfig, Simulator
from tests.simulator.wire import Recorder, collapse_progress, open_socket, shape, trace_shapes
from tests.traces import Trace, load_trace


@pytest.fixture
def sim_config(version: str) -> SimConfig:
    """The recording of every version, replayed against a simulator playing it."""
    return SimConfig(speed=0.0, comfy_version=version)


def _client_id(trace: Trace) -> str:
    return trace.ws_messages("A")[0]["data"]["sid"]


def _shapes(recorder: Recorder) -> list[tuple[Any, ...]]:
    return [shape(f) for f in recorder.frames if f["kind"] != "closed"]


def history_shape(body: dict[str, Any]) -> list[Any]:
    """The comparable part of a ``/history`` answer: no ids, times or file counters."""
    out = []
    for entry in body.values():
        number, _, prompt, extra, outputs_to_execute = entry["prompt"]
        outputs = re.sub(r"_\d{5}_\.", "_N_.", json.dumps(entry["outputs"], sort_keys=True))
        out.append(
            (
                type(number).__name__,
                prompt,
                sorted(extra),
                outputs_to_execute,
                outputs,
                entry["status"]["status_str"],
                entry["status"]["completed"],
                [(m[0], sorted(m[1])) for m in entry["status"]["messages"]],
                entry["meta"],
                sorted(entry),
            )
        )
    return out


async def _post(http: httpx.AsyncClient, body: Any) -> dict[str, Any]:
    response = await http.post("/prompt", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_run_basic_then_cached(sim: Simulator, http: httpx.AsyncClient, version: str) -> None:
    trace = load_trace("run_basic_then_cached", version)
    async with (
        open_socket(sim.ws_url, _client_id(trace)) as a,
        open_socket(sim.ws_url) as b,
    ):
        for exchange in trace.http("POST", "/prompt"):
            body = await _post(http, exchange.request)
            assert sorted(body) == sorted(exchange.response)
            await a.wait_done(body["prompt_id"])
            history = (await http.get(f"/history/{body['prompt_id']}")).json()
            recorded = trace.http("GET", f"/history/{exchange.response['prompt_id']}")[0]
            assert history_shape(history) == history_shape(recorded.response)
        expected_b = trace_shapes(trace, "B-no-clientId")
        await b.wait_for(lambda f: len(b.frames) >= len(expected_b))
        view = trace.http("GET", "/view")[0]
        image = next(iter(history.values()))["outputs"]["3"]["images"][0]
        got = await http.get("/view", params=image)
        assert got.status_code == view.status
        assert got.headers["content-type"] == view.response["_content_type"]
    assert _shapes(a) == trace_shapes(trace, "A")
    assert _shapes(b) == expected_b


async def test_run_execution_error(sim: Simulator, http: httpx.AsyncClient, version: str) -> None:
    trace = load_trace("run_execution_error", version)
    async with open_socket(sim.ws_url, _client_id(trace)) as a:
        exchange = trace.http("POST", "/prompt")[0]
        body = await _post(http, exchange.request)
        await a.wait_done(body["prompt_id"])
        history = (await http.get(f"/history/{body['prompt_id']}")).json()
    recorded = trace.http("GET", "/history/")[0].response
    assert history_shape(history) == history_shape(recorded)
    assert _shapes(a) == trace_shapes(trace, "A")
    error = next(m for m in a.messages if m["type"] == "execution_error")["data"]
    want = next(m for m in trace.ws_messages("A") if m["type"] == "execution_error")["data"]
    assert error["exception_message"] == want["exception_message"]
    assert error["exception_type"] == want["exception_type"]
    assert error["current_inputs"]["message"] == want["current_inputs"]["message"]
    assert sorted(error["current_outputs"]) == sorted(want["current_outputs"])
    assert all(isinstance(line, str) for line in error["traceback"])


async def test_run_interrupt(http: httpx.AsyncClient, version: str) -> None:
    trace = load_trace("run_interrupt", version)
    # 60 steps of 100 ms at speed 0.1: 0.6 s to interrupt it after a few updates.
    async with (
        Simulator(SimConfig(speed=0.1, comfy_version=version)) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
        open_socket(sim.ws_url, _client_id(trace)) as a,
    ):
        body = await _post(client, trace.http("POST", "/prompt")[0].request)
        await a.wait_message("progress", value=3)
        response = await client.post("/interrupt", json={"prompt_id": body["prompt_id"]})
        assert response.status_code == 200 and response.content == b""
        await a.wait_done(body["prompt_id"])
        history = (await client.get(f"/history/{body['prompt_id']}")).json()
    recorded = trace.http("GET", "/history/")[0].response
    assert history_shape(history) == history_shape(recorded)
    assert collapse_progress(_shapes(a)) == collapse_progress(trace_shapes(trace, "A"))


async def _run_previews(
    sim: Simulator, http: httpx.AsyncClient, name: str, flags: bool, version: str
) -> None:
    trace = load_trace(name, version)
    async with open_socket(sim.ws_url, _client_id(trace), flags=flags) as a:
        if flags:
            await a.wait_message("feature_flags")
        body = await _post(http, trace.http("POST", "/prompt")[0].request)
        await a.wait_done(body["prompt_id"])
    assert _shapes(a) == trace_shapes(trace, "A")
    binary = [f for f in a.frames if f["kind"] == "binary"]
    if flags:
        assert all(f["metadata"]["image_type"] == "image/jpeg" for f in binary)
        assert all(f["metadata"]["node_id"] == "2" for f in binary)
    else:
        assert all(f["raw"][4:8] == b"\x00\x00\x00\x01" for f in binary)  # 1 = JPEG
        assert all(f["raw"][8:10] == b"\xff\xd8" for f in binary)


async def test_run_progress_preview_legacy(
    sim: Simulator, http: httpx.AsyncClient, version: str
) -> None:
    await _run_previews(sim, http, "run_progress_preview_legacy", flags=False, version=version)


async def test_run_progress_preview_metadata(
    sim: Simulator, http: httpx.AsyncClient, version: str
) -> None:
    await _run_previews(sim, http, "run_progress_preview_metadata", flags=True, version=version)


async def test_run_txt2img_random_sd15(
    sim: Simulator, http: httpx.AsyncClient, version: str
) -> None:
    trace = load_trace("run_txt2img_random_sd15", version)
    async with open_socket(sim.ws_url, _client_id(trace), flags=True) as a:
        await a.wait_message("feature_flags")
        for exchange in trace.http("POST", "/prompt"):
            body = await _post(http, exchange.request)
            await a.wait_done(body["prompt_id"])
        checkpoints = await http.get("/models/checkpoints")
    assert checkpoints.json() == trace.http("GET", "/models/checkpoints")[0].response
    assert _shapes(a) == trace_shapes(trace, "A")
    executing = [m["data"]["node"] for m in a.messages if m["type"] == "executing"]
    assert executing == [
        *("4", "5", "7", "6", "3", "8", "9", None),  # first prompt: ExecutionList order
        *("3", "8", "9", None),  # same checkpoint: 4, 5, 6, 7 cached
        *("4", "7", "6", "3", "8", "9", None),  # checkpoint b: only 5 cached
    ]


async def test_queue_ops(version: str) -> None:
    trace = load_trace("queue_ops", version)
    posts = trace.http("POST", "/prompt")
    async with (
        Simulator(
            SimConfig(speed=1.0, comfy_version=version)
        ) as sim,  # 100 ms steps: time for the requests
        httpx.AsyncClient(base_url=sim.url) as http,
        open_socket(sim.ws_url, _client_id(trace)) as a,
    ):
        first = await _post(http, posts[0].request)
        await a.wait_message("executing", node="2")
        numbers = [first["number"]]
        ids = [first["prompt_id"]]
        for exchange in posts[1:]:
            body = await _post(http, exchange.request)
            numbers.append(body["number"])
            ids.append(body["prompt_id"])
        await a.wait_message("progress", value=1)  # the trace looked at the queue mid-node
        assert numbers == [0, 1, 2, -3]  # the trace: 66, 67, 68, -69
        queue = (await http.get("/queue")).json()
        pending = [(item[0], item[1]) for item in queue["queue_pending"]]
        assert pending == [(-3, ids[3]), (2, ids[2]), (1, ids[1])]  # raw heap order
        assert [i[0] for i in queue["queue_running"]] == [0]
        assert (await http.get("/prompt")).json() == {"exec_info": {"queue_remaining": 4}}
        await http.post("/queue", json={"delete": [ids[2]]})
        queue = (await http.get("/queue")).json()
        assert [item[0] for item in queue["queue_pending"]] == [-3, 1]
        await http.post("/queue", json={"clear": True})
        assert (await http.get("/queue")).json()["queue_pending"] == []
        await http.post("/interrupt", json={})
        await a.wait_done(first["prompt_id"])
        history = (await http.get("/history", params={"max_items": 2})).json()
        assert list(history) == [first["prompt_id"]]
        assert (await http.get(f"/history/{ids[2]}")).json() == {}
    # Where progress updates fall between the HTTP-driven statuses is timing: drop them.
    recorded = [s for s in collapse_progress(trace_shapes(trace, "A")) if s != ("progress*",)]
    assert [s for s in collapse_progress(_shapes(a)) if s != ("progress*",)] == recorded
