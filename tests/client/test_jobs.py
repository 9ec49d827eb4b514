"""ComfyClient.jobs() and .job(): typed /api/jobs results, against the simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sweeps.client import ComfyClient
from sweeps.errors import ProtocolError, RequestRejected
from sweeps.jobs import Job, JobPage
from sweeps.models import OutputFile
from sweeps.simulator import SimConfig, Simulator
from tests.simulator.prompts import sleep_prompt, txt2img
from tests.simulator.wire import open_socket
from tests.traces import traces_dir

WORKFLOW = {"extra_pnginfo": {"workflow": {"id": "wf-1", "nodes": []}}}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(sim.url, client_id="jobs-test") as comfy:
        yield comfy


async def _run(sim: Simulator, client: ComfyClient, prompt: dict[str, Any], **kw: Any) -> str:
    queued = await client.queue_prompt(prompt, **kw)
    await sim.wait_idle()
    return queued.prompt_id


async def test_completed_job(sim: Simulator, client: ComfyClient) -> None:
    prompt_id = await _run(sim, client, txt2img(1), extra_data=WORKFLOW)
    page = await client.jobs()
    assert isinstance(page, JobPage)
    assert (page.offset, page.limit, page.total, page.has_more) == (0, None, 1, False)
    (job,) = page.jobs
    history = await client.get_history_entry(prompt_id)
    assert history is not None
    assert job.id == prompt_id and job.status == "completed" and job.finished
    assert job.priority == 0
    assert job.created_ms == history.extra_data["create_time"]
    assert (job.started_ms, job.finished_ms) == (history.started_ms, history.finished_ms)
    assert job.duration_ms is not None and job.duration_ms >= 0
    assert job.outputs_count == 1 and job.previewable_outputs_count == 1  # 0.26+ counts these
    assert job.workflow_id == "wf-1"
    assert job.execution_error is None
    assert job.preview == OutputFile(
        filename=history.files[0].filename, subfolder="", type="output", node_id="9", kind="images"
    )
    # The list carries no detail.
    assert (job.outputs, job.execution_status, job.prompt, job.extra_data) == (None,) * 4
    assert job.files == []

    detail = await client.job(prompt_id)
    assert detail is not None
    assert detail.preview == job.preview
    assert detail.outputs == history.outputs
    assert detail.files == history.files
    assert detail.execution_status is not None
    assert detail.execution_status["status_str"] == "success"
    assert detail.prompt == history.prompt
    assert detail.extra_data == history.extra_data


async def test_failed_and_cancelled(sim: Simulator, client: ComfyClient) -> None:
    sim.faults.fail_class("KSampler")
    failed = await _run(sim, client, txt2img(1))
    sim.faults.clear()
    sim.faults.stall_worker = True
    async with open_socket(sim.ws_url, client.client_id) as ws:
        interrupted = (await client.queue_prompt(sleep_prompt(1, 0))).prompt_id
        await ws.wait_message("executing", node="1", prompt_id=interrupted)
        await client.interrupt(interrupted)
        sim.faults.stall_worker = False
        await ws.wait_done(interrupted)
    page = await client.jobs(status=["failed", "cancelled"], sort_order="asc")
    assert [j.id for j in page.jobs] == [failed, interrupted]
    by_id = {j.id: j for j in page.jobs}
    assert (by_id[failed].status, by_id[interrupted].status) == ("failed", "cancelled")
    error = by_id[failed].execution_error
    assert error is not None and error["node_type"] == "KSampler"
    assert by_id[interrupted].execution_error is None  # interrupted: no error event
    assert by_id[interrupted].finished_ms is not None
    assert (await client.jobs(status="completed")).jobs == ()


async def test_running_and_pending(sim: Simulator, client: ComfyClient) -> None:
    sim.faults.stall_worker = True
    async with open_socket(sim.ws_url, client.client_id) as ws:
        running = (await client.queue_prompt(sleep_prompt(1, 0))).prompt_id
        await ws.wait_message("executing", node="1", prompt_id=running)
        pending = (await client.queue_prompt(sleep_prompt(1, 0, 2), extra_data=WORKFLOW)).prompt_id
        page = await client.jobs(status=["in_progress", "pending"])
        assert {j.id: j.status for j in page.jobs} == {running: "in_progress", pending: "pending"}
        job = await client.job(running)
        assert job is not None and job.status == "in_progress" and not job.finished
        assert (job.outputs_count, job.started_ms, job.outputs, job.prompt) == (0, None, None, None)
        job = await client.job(pending)
        assert job is not None and job.status == "pending" and job.priority == 1
        assert job.workflow_id == "wf-1"
        sim.faults.stall_worker = False
        await ws.wait_done(running)
    await sim.wait_idle()
    assert {j.status for j in (await client.jobs()).jobs} == {"completed"}


async def test_filters_and_paging(sim: Simulator, client: ComfyClient) -> None:
    ids = [await _run(sim, client, sleep_prompt(1, 0, c), extra_data=WORKFLOW) for c in (1, 2)]
    ids.append(await _run(sim, client, sleep_prompt(1, 0, 3)))
    everything = [j.id for j in (await client.jobs(sort_order="asc")).jobs]
    assert set(everything) == set(ids)
    page = await client.jobs(sort_order="asc", limit=2)
    assert [j.id for j in page.jobs] == everything[:2]
    assert (page.limit, page.total, page.has_more) == (2, 3, True)
    page = await client.jobs(sort_order="asc", limit=2, offset=2)
    assert [j.id for j in page.jobs] == everything[2:]
    assert (page.offset, page.has_more) == (2, False)
    page = await client.jobs(workflow_id="wf-1")
    assert {j.id for j in page.jobs} == set(ids[:2]) and page.total == 2
    page = await client.jobs(sort_by="execution_duration")
    assert page.total == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": ["done"]}, "Invalid status value(s): done"),
        ({"sort_by": "name"}, "sort_by must be"),
        ({"sort_order": "up"}, "sort_order must be"),
        ({"limit": 0}, "limit must be a positive integer"),
    ],
)
async def test_bad_parameters_are_rejected(
    client: ComfyClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestRejected) as caught:
        await client.jobs(**kwargs)
    assert caught.value.status == 400
    assert message in json.loads(caught.value.body)["error"]


async def test_unknown_job_is_none(client: ComfyClient) -> None:
    assert await client.job("no-such-job") is None
    assert await client.job("with/slash and space") is None


async def test_empty_status_is_refused_locally(client: ComfyClient) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.jobs(status=[])


# ----- parsing at the edge (answers the simulator does not give)


async def _replying(body: object, status: int = 200) -> tuple[ComfyClient, httpx.AsyncClient]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return ComfyClient("http://comfy.test:8188", http=http), http


async def test_newer_servers_cancelled_status_parses() -> None:
    job = {"id": "a", "status": "cancelled", "priority": 3, "create_time": 5, "outputs_count": 0}
    body = {"jobs": [job], "pagination": {"offset": 0, "limit": None, "total": 1}}
    client, http = await _replying(body)
    async with http:
        page = await client.jobs()
    assert page.jobs == (Job(id="a", status="cancelled", priority=3, created_ms=5),)
    assert page.has_more is False


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": [{"id": "a", "status": "exploded", "priority": 0}], "pagination": {"total": 1}},
        {"jobs": [{"status": "completed", "priority": 0}], "pagination": {"total": 1}},
        {"jobs": []},
        ["not", "an", "object"],
    ],
)
async def test_malformed_answers_are_protocol_errors(body: object) -> None:
    client, http = await _replying(body)
    async with http:
        with pytest.raises(ProtocolError):
            await client.jobs()


def test_the_recorded_0_33_job_list_parses_with_its_cancelled_jobs() -> None:
    body = json.loads((traces_dir("0.33.0") / "api_jobs_sample.json").read_text())
    page = JobPage.from_json(body)
    assert [job.status for job in page.jobs] == ["completed"] * 3 + ["cancelled"] * 2
    assert [job.previewable_outputs_count for job in page.jobs] == [1, 1, 1, 0, 0]
    assert all(job.finished for job in page.jobs)
    assert (page.total, page.has_more) == (27, True)
    assert page.jobs[0].preview is not None and page.jobs[0].preview.node_id == "9"
