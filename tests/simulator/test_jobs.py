"""GET /api/jobs and /api/jobs/{id}: the unified job view (PROTOCOL 1.2 "History and jobs").

As 0.8.0 serves it; what 0.26+ changed (``cancelled``, the cancel routes) is in
test_versions.py."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sweeps.simulator import SimConfig, Simulator
from sweeps.simulator import routes as sim_routes
from sweeps.simulator.jobs import JobQuery, get_job, list_jobs, outputs_summary
from tests.simulator.prompts import sleep_prompt, txt2img
from tests.simulator.wire import Recorder, open_socket

LIST_KEYS = {"id", "status", "priority", "create_time", "outputs_count"}
FINISHED_KEYS = LIST_KEYS | {"execution_start_time", "execution_end_time"}


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(speed=0.0, comfy_version="0.8.0")


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``create_time`` one second apart per submission, so sort orders are deterministic."""
    ticks = itertools.count(1_700_000_000_000, 1000)
    monkeypatch.setattr(sim_routes, "now_ms", lambda: next(ticks))
    yield


def _workflow(workflow_id: str) -> dict[str, Any]:
    return {"extra_pnginfo": {"workflow": {"id": workflow_id, "nodes": []}}}


def _images(color: int = 1) -> dict[str, Any]:
    """A temp PreviewImage and a saved SaveImage of the same picture."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "j"}},
    }


async def _submit(http: httpx.AsyncClient, prompt: dict[str, Any], **body: Any) -> str:
    response = await http.post("/prompt", json={"prompt": prompt, **body})
    assert response.status_code == 200, response.text
    return str(response.json()["prompt_id"])


async def _run(sim: Simulator, http: httpx.AsyncClient, prompt: dict[str, Any], **body: Any) -> str:
    prompt_id = await _submit(http, prompt, **body)
    await sim.wait_idle()
    return prompt_id


async def _jobs(http: httpx.AsyncClient, path: str = "/api/jobs", **params: Any) -> Any:
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _ids(http: httpx.AsyncClient, **params: Any) -> list[str]:
    return [job["id"] for job in (await _jobs(http, **params))["jobs"]]


@asynccontextmanager
async def _held(sim: Simulator, http: httpx.AsyncClient) -> AsyncIterator[tuple[str, Recorder]]:
    """A prompt held running at its first node (worker stalled), and its socket."""
    sim.faults.stall_worker = True
    async with open_socket(sim.ws_url, "held") as ws:
        prompt_id = await _submit(http, sleep_prompt(1, 0), client_id="held")
        await ws.wait_message("executing", node="1", prompt_id=prompt_id)
        yield prompt_id, ws


# ----- routing


async def test_routes_exist_under_api_and_api_api_only(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    prompt_id = await _run(sim, http, txt2img(1))
    assert (await _jobs(http))["pagination"]["total"] == 1
    assert await _jobs(http, "/api/api/jobs") == await _jobs(http)
    assert (await http.get(f"/api/api/jobs/{prompt_id}")).json()["id"] == prompt_id
    assert (await http.get("/jobs")).status_code == 404
    assert (await http.get(f"/jobs/{prompt_id}")).status_code == 404
    # Only GET and HEAD fall through to the static root's 404; POST meets its 405.
    assert (await http.post("/api/jobs", json={})).status_code == 405


async def test_empty_server(http: httpx.AsyncClient) -> None:
    assert await _jobs(http) == {
        "jobs": [],
        "pagination": {"offset": 0, "limit": None, "total": 0, "has_more": False},
    }


async def test_unknown_job_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/jobs/no-such-job")
    assert response.status_code == 404
    assert response.json() == {"error": "Job not found"}


# ----- job fields


async def test_completed_job_in_the_list(sim: Simulator, http: httpx.AsyncClient) -> None:
    prompt_id = await _run(sim, http, txt2img(1), extra_data=_workflow("wf-1"))
    (job,) = (await _jobs(http))["jobs"]
    history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert set(job) == FINISHED_KEYS | {"preview_output", "workflow_id"}
    assert job["id"] == prompt_id
    assert job["status"] == "completed"
    assert job["priority"] == 0
    assert job["create_time"] == history["prompt"][3]["create_time"] == 1_700_000_000_000
    messages = dict(history["status"]["messages"])
    assert job["execution_start_time"] == messages["execution_start"]["timestamp"]
    assert job["execution_end_time"] == messages["execution_success"]["timestamp"]
    assert job["outputs_count"] == 1
    assert job["preview_output"] == {
        **history["outputs"]["9"]["images"][0],
        "nodeId": "9",
        "mediaType": "images",
    }
    assert job["workflow_id"] == "wf-1"


async def test_completed_job_detail(sim: Simulator, http: httpx.AsyncClient) -> None:
    extra = {**_workflow("wf-1"), "api_key_comfy_org": "secret"}
    prompt_id = await _run(sim, http, txt2img(1), extra_data=extra)
    listed = (await _jobs(http))["jobs"][0]
    job = (await http.get(f"/api/jobs/{prompt_id}")).json()
    history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert {k: v for k, v in job.items() if k in listed} == listed
    assert set(job) - set(listed) == {"outputs", "execution_status", "workflow"}
    assert job["outputs"] == history["outputs"]
    assert job["execution_status"] == history["status"]
    assert job["workflow"] == {"prompt": history["prompt"][2], "extra_data": history["prompt"][3]}
    assert "api_key_comfy_org" not in job["workflow"]["extra_data"]


async def test_text_outputs_are_not_counted(sim: Simulator, http: httpx.AsyncClient) -> None:
    await _run(sim, http, sleep_prompt(1, 0))  # PreviewAny: {"text": [str]}
    (job,) = (await _jobs(http))["jobs"]
    assert job["outputs_count"] == 0
    assert "preview_output" not in job and "workflow_id" not in job


async def test_preview_prefers_a_saved_output(sim: Simulator, http: httpx.AsyncClient) -> None:
    await _run(sim, http, _images())
    (job,) = (await _jobs(http))["jobs"]
    assert job["outputs_count"] == 2
    assert job["preview_output"]["type"] == "output"
    assert job["preview_output"]["nodeId"] == "3"
    only_temp = {k: v for k, v in _images(2).items() if k != "3"}
    await _run(sim, http, only_temp)
    job = (await _jobs(http))["jobs"][0]
    assert job["preview_output"]["type"] == "temp"
    assert job["preview_output"]["nodeId"] == "2"


async def test_failed_job_carries_the_error(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.fail_class("KSampler")
    prompt_id = await _run(sim, http, txt2img(1))
    (job,) = (await _jobs(http))["jobs"]
    history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert job["status"] == "failed"
    assert job["execution_error"] == dict(history["status"]["messages"])["execution_error"]
    assert job["execution_error"]["node_type"] == "KSampler"
    assert job["execution_end_time"] == job["execution_error"]["timestamp"]
    detail = (await http.get(f"/api/jobs/{prompt_id}")).json()
    assert detail["execution_status"]["status_str"] == "error"


async def test_interrupted_job_counts_as_failed(sim: Simulator, http: httpx.AsyncClient) -> None:
    async with _held(sim, http) as (prompt_id, ws):
        await http.post("/interrupt", json={"prompt_id": prompt_id})
        sim.faults.stall_worker = False
        await ws.wait_done(prompt_id)
    (job,) = (await _jobs(http, status="failed"))["jobs"]
    assert job["id"] == prompt_id
    assert "execution_error" not in job
    assert set(job) == FINISHED_KEYS
    detail = (await http.get(f"/api/jobs/{prompt_id}")).json()
    assert detail["execution_status"]["messages"][-1][0] == "execution_interrupted"
    assert await _ids(http, status="completed") == []


async def test_running_and_pending_jobs(sim: Simulator, http: httpx.AsyncClient) -> None:
    async with _held(sim, http) as (running, ws):
        pending = await _submit(http, sleep_prompt(1, 0, 2), extra_data=_workflow("wf-p"))
        listed = {job["id"]: job for job in (await _jobs(http))["jobs"]}
        assert listed[running] == {
            "id": running,
            "status": "in_progress",
            "priority": 0,
            "create_time": 1_700_000_000_000,
            "outputs_count": 0,
        }
        assert listed[pending] == {
            "id": pending,
            "status": "pending",
            "priority": 1,
            "create_time": 1_700_000_001_000,
            "outputs_count": 0,
            "workflow_id": "wf-p",  # upstream's normalize_queue_item keeps it
        }
        # The detail route adds nothing for unfinished jobs.
        assert (await http.get(f"/api/jobs/{running}")).json() == listed[running]
        assert (await http.get(f"/api/jobs/{pending}")).json() == listed[pending]
        assert await _ids(http, status="in_progress") == [running]
        assert await _ids(http, status="pending") == [pending]
        sim.faults.stall_worker = False
        await ws.wait_done(running)
    await sim.wait_idle()
    assert await _ids(http, status="completed") == [pending, running]


# ----- filtering, sorting, paging


@pytest.fixture
async def mixed(sim: Simulator, http: httpx.AsyncClient) -> dict[str, str]:
    """Two completed and one failed, by create_time: ok1, bad, ok2."""
    ids = {"ok1": await _run(sim, http, txt2img(1), extra_data=_workflow("a"))}
    sim.faults.fail_class("KSampler")
    ids["bad"] = await _run(sim, http, txt2img(3), extra_data=_workflow("b"))
    sim.faults.clear()
    ids["ok2"] = await _run(sim, http, txt2img(2), extra_data=_workflow("a"))
    return ids


async def test_status_filter(
    sim: Simulator, http: httpx.AsyncClient, mixed: dict[str, str]
) -> None:
    assert await _ids(http) == [mixed["ok2"], mixed["bad"], mixed["ok1"]]
    assert await _ids(http, status="completed") == [mixed["ok2"], mixed["ok1"]]
    assert await _ids(http, status="failed") == [mixed["bad"]]
    assert await _ids(http, status=" FAILED , pending") == [mixed["bad"]]
    assert await _ids(http, status="") == await _ids(http)
    assert await _ids(http, status=",") == []  # parses to an empty filter: nothing matches
    assert await _ids(http, status="pending,in_progress") == []


async def test_workflow_filter(
    sim: Simulator, http: httpx.AsyncClient, mixed: dict[str, str]
) -> None:
    assert await _ids(http, workflow_id="a") == [mixed["ok2"], mixed["ok1"]]
    assert await _ids(http, workflow_id="a", status="failed") == []
    assert await _ids(http, workflow_id="b") == [mixed["bad"]]
    assert await _ids(http, workflow_id="zzz") == []
    assert len(await _ids(http, workflow_id="")) == 3  # empty means no filter


async def test_sorting(http: httpx.AsyncClient, mixed: dict[str, str]) -> None:
    newest_first = [mixed["ok2"], mixed["bad"], mixed["ok1"]]
    assert await _ids(http, sort_order="asc") == newest_first[::-1]
    assert await _ids(http, sort_by="CREATED_AT", sort_order="DESC") == newest_first
    jobs = (await _jobs(http, sort_by="execution_duration"))["jobs"]
    durations = [j["execution_end_time"] - j["execution_start_time"] for j in jobs]
    assert durations == sorted(durations, reverse=True)


async def test_pagination(http: httpx.AsyncClient, mixed: dict[str, str]) -> None:
    everything = await _ids(http)
    page = await _jobs(http, limit=2)
    assert [j["id"] for j in page["jobs"]] == everything[:2]
    assert page["pagination"] == {"offset": 0, "limit": 2, "total": 3, "has_more": True}
    page = await _jobs(http, limit=2, offset=2)
    assert [j["id"] for j in page["jobs"]] == everything[2:]
    assert page["pagination"] == {"offset": 2, "limit": 2, "total": 3, "has_more": False}
    page = await _jobs(http, offset=-5)
    assert page["pagination"] == {"offset": 0, "limit": None, "total": 3, "has_more": False}
    page = await _jobs(http, offset=10)
    assert page == {
        "jobs": [],
        "pagination": {"offset": 10, "limit": None, "total": 3, "has_more": False},
    }
    page = await _jobs(http, offset=1, status="completed")
    assert [j["id"] for j in page["jobs"]] == [mixed["ok1"]]
    assert page["pagination"]["total"] == 2


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"status": "done"},
            "Invalid status value(s): done. Valid values: pending, in_progress, completed, failed",
        ),
        (
            {"status": "completed,cancelled,x"},
            "Invalid status value(s): cancelled, x. "
            "Valid values: pending, in_progress, completed, failed",
        ),
        ({"sort_by": "name"}, "sort_by must be 'created_at' or 'execution_duration'"),
        ({"sort_order": "up"}, "sort_order must be 'asc' or 'desc'"),
        ({"limit": "0"}, "limit must be a positive integer"),
        ({"limit": "-3"}, "limit must be a positive integer"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"limit": ""}, "limit must be an integer"),
        ({"limit": "1.5"}, "limit must be an integer"),
        ({"offset": "x"}, "offset must be an integer"),
        # Checked in the server's order: the first problem wins.
        (
            {"status": "nope", "sort_by": "nope"},
            "Invalid status value(s): nope. Valid values: pending, in_progress, completed, failed",
        ),
        ({"sort_order": "nope", "limit": "0"}, "sort_order must be 'asc' or 'desc'"),
    ],
)
async def test_bad_parameters_are_400(
    http: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    for path in ("/api/jobs", "/api/api/jobs"):
        response = await http.get(path, params=params)
        assert response.status_code == 400
        assert response.json() == {"error": error}


async def test_priority_is_the_queue_number(sim: Simulator, http: httpx.AsyncClient) -> None:
    explicit = await _run(sim, http, sleep_prompt(1, 0, 1), number=42.5)
    front = await _run(sim, http, sleep_prompt(1, 0, 2), front=True)
    priorities = {j["id"]: j["priority"] for j in (await _jobs(http))["jobs"]}
    assert priorities == {explicit: 42.5, front: 0}  # an explicit number leaves the counter at 0
    assert (await http.get(f"/api/jobs/{explicit}")).json()["priority"] == 42.5


# ----- the pure functions, on state the simulator cannot produce


def _entry(number: int, create: int, start: int | None, end: int | None) -> dict[str, Any]:
    messages: list[Any] = []
    if start is not None:
        messages.append(["execution_start", {"timestamp": start}])
    if end is not None:
        messages.append(["execution_success", {"timestamp": end}])
    status = {"status_str": "success", "completed": True, "messages": messages}
    return {
        "prompt": [number, "", {}, {"create_time": create}, []],
        "outputs": {},
        "status": status,
    }


def test_duration_sort_treats_missing_times_as_zero() -> None:
    history = {
        "short": _entry(0, 10, 100, 150),
        "long": _entry(1, 20, 100, 400),
        "no_start": _entry(2, 30, None, 500),
        "mid": _entry(3, 40, 100, 300),
    }
    pending = [[4, "queued", {}, {"create_time": 50}, []]]
    query = JobQuery(sort_by="execution_duration")
    body = list_jobs([], pending, history, query)
    # Equal keys keep their collection order (pending before history), reversed or not.
    assert [j["id"] for j in body["jobs"]] == ["long", "mid", "short", "queued", "no_start"]
    body = list_jobs([], pending, history, JobQuery(sort_by="execution_duration", sort_order="asc"))
    assert [j["id"] for j in body["jobs"]] == ["queued", "no_start", "short", "mid", "long"]


def test_equal_create_times_keep_running_pending_history_order() -> None:
    history = {"done": _entry(0, 5, 6, 7)}
    running = [[1, "run", {}, {"create_time": 5}, []]]
    pending = [[2, "wait", {}, {"create_time": 5}, []]]
    for order in ("asc", "desc"):
        body = list_jobs(running, pending, history, JobQuery(sort_order=order))
        assert [j["id"] for j in body["jobs"]] == ["run", "wait", "done"]


def test_detail_looks_in_history_before_the_queue() -> None:
    history = {"x": _entry(0, 5, 6, 7)}
    running = [[1, "x", {}, {"create_time": 5}, []]]
    job = get_job("x", running, [], history)
    assert job is not None and job["status"] == "completed" and "outputs" in job
    assert get_job("y", running, [], history) is None


def test_outputs_summary_rules() -> None:
    outputs = {
        "1": {"text": ["hello"], "animated": [True]},
        "2": {"latents": [{"filename": "a.latent", "subfolder": "", "type": "output"}]},
        "3": {"gifs": [{"filename": "a.mp4", "type": "output", "format": "video/h264-mp4"}]},
        "4": {"images": [{"filename": "b.png", "type": "output"}]},
        "5": "not a dict",
    }
    count, preview = outputs_summary(outputs)
    assert count == 3
    assert preview == {
        "filename": "a.mp4",
        "type": "output",
        "format": "video/h264-mp4",
        "nodeId": "3",
        "mediaType": "gifs",
    }
    count, preview = outputs_summary({"7": {"meshes": [{"filename": "m.GLB", "type": "temp"}]}})
    assert count == 1 and preview is not None and preview["nodeId"] == "7"
