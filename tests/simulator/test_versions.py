"""What the simulator does differently per ComfyUI release, beyond what the recordings show.

The recordings (test_conformance_*.py) fix the shared scenarios; these tests cover
the behaviours the 0.33.0 README lists that no scenario exercised: client-chosen
prompt ids, dependency cycles, cancelled jobs and the cancel routes, several GPUs,
and the RAM-pressure cache.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sweeps.simulator import NEWEST, VERSIONS, SimConfig, Simulator
from tests.simulator.prompts import sleep_prompt, txt2img
from tests.simulator.wire import Recorder, open_socket


@asynccontextmanager
async def _server(version: str, **knobs: Any) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    config = SimConfig(**{"speed": 0.0, **knobs}, comfy_version=version)
    async with Simulator(config) as sim, httpx.AsyncClient(base_url=sim.url) as http:
        yield sim, http


def _cycle() -> dict[str, Any]:
    """Two ImageInvert nodes feeding each other, saved by a third."""
    return {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}},
    }


def test_the_default_is_the_newest_release_known() -> None:
    assert SimConfig().comfy_version == NEWEST == list(VERSIONS)[-1]


def test_an_unknown_release_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'0\.47\.1'.*0\.8\.0, 0\.33\.0"):
        SimConfig(comfy_version="0.47.1")


async def test_system_stats_report_the_release_played() -> None:
    for version in VERSIONS:
        async with _server(version) as (_, http):
            system = (await http.get("/system_stats")).json()["system"]
        assert system["comfyui_version"] == version
        assert ("deploy_environment" in system) == (version != "0.8.0")


@pytest.mark.parametrize("version", ["0.8.0", "0.33.0"])
async def test_client_chosen_prompt_ids_must_be_uuids_since_0_25(version: str) -> None:
    async with _server(version) as (_, http):
        bad = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0), "prompt_id": "mine"})
        good_id = str(uuid.uuid4())
        good = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0), "prompt_id": good_id})
    assert good.status_code == 200 and good.json()["prompt_id"] == good_id
    if version == "0.8.0":
        assert bad.status_code == 200 and bad.json()["prompt_id"] == "mine"
        return
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "type": "invalid_prompt_id",
            "message": "prompt_id must be a valid UUID",
            "details": "prompt_id 'mine' is not a canonical lowercase UUID",
            "extra_info": {},
        },
        "node_errors": {},
    }
    assert good.json()["number"] == 1  # the rejected prompt used up number 0


async def test_an_uppercase_uuid_is_not_canonical() -> None:
    async with _server("0.33.0") as (_, http):
        chosen = str(uuid.uuid4()).upper()
        response = await http.post(
            "/prompt", json={"prompt": sleep_prompt(1, 0), "prompt_id": chosen}
        )
    assert response.status_code == 400


async def test_missing_node_type_names_the_title_from_meta() -> None:
    prompt = {
        **sleep_prompt(1, 0),
        "9": {"class_type": "Nope", "inputs": {}, "_meta": {"title": "Up"}},
    }
    async with _server("0.33.0") as (_, http):
        body = (await http.post("/prompt", json={"prompt": prompt})).json()
    assert body["error"] == {
        "type": "missing_node_type",
        "message": "Node 'Up' not found. The custom node may not be installed.",
        "details": "Node ID '#9'",
        "extra_info": {"node_id": "9", "class_type": "Nope", "node_title": "Up"},
    }


async def test_a_cycle_is_an_empty_400_on_0_8_and_a_dependency_cycle_since_0_20() -> None:
    async with _server("0.8.0") as (_, http):
        old = await http.post("/prompt", json={"prompt": _cycle()})
    async with _server("0.33.0") as (_, http):
        new = await http.post("/prompt", json={"prompt": _cycle()})
    assert old.status_code == new.status_code == 400
    assert old.json()["node_errors"] == {}
    (node_id, node), *rest = new.json()["node_errors"].items()
    assert rest == []
    (reason,) = node["errors"]
    assert reason["type"] == "dependency_cycle"
    assert reason["extra_info"]["cycle_nodes"] in (["2", "1", "2"], ["1", "2", "1"])
    assert node_id == reason["extra_info"]["cycle_nodes"][0]
    assert node["dependent_outputs"] == ["3"]


async def _interrupted_job(sim: Simulator, http: httpx.AsyncClient, a: Recorder) -> dict[str, Any]:
    body = {"prompt": sleep_prompt(50, 100), "client_id": "c"}
    prompt_id = (await http.post("/prompt", json=body)).json()["prompt_id"]
    await a.wait_message("progress", value=1)
    await http.post("/interrupt", json={})
    await a.wait_done(prompt_id)
    return (await http.get(f"/api/jobs/{prompt_id}")).json()


async def test_an_interrupted_job_is_failed_on_0_8_and_cancelled_since_0_26() -> None:
    statuses = {}
    for version in VERSIONS:
        async with (
            _server(version, speed=0.1) as (sim, http),
            open_socket(sim.ws_url, "c") as a,
        ):
            job = await _interrupted_job(sim, http, a)
        statuses[version] = job["status"]
        assert ("previewable_outputs_count" in job) == (version != "0.8.0")
    assert statuses == {"0.8.0": "failed", "0.33.0": "cancelled"}


async def test_cancelling_a_pending_job_dequeues_it_and_a_running_one_interrupts_it() -> None:
    async with (
        Simulator(SimConfig(speed=0.1)) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
        open_socket(sim.ws_url, "c") as a,
    ):
        running, pending = [
            (
                await http.post(
                    "/prompt", json={"prompt": sleep_prompt(50, 100, color=i), "client_id": "c"}
                )
            ).json()["prompt_id"]
            for i in (1, 2)
        ]
        await a.wait_message("progress", value=1, prompt_id=running)
        dequeued = await http.post(f"/api/jobs/{pending}/cancel")
        assert dequeued.json() == {"cancelled": True}
        assert (await http.get("/queue")).json()["queue_pending"] == []
        interrupted = await http.post(f"/api/jobs/{running}/cancel")
        assert interrupted.json() == {"cancelled": True}
        await a.wait_done(running)
        job = (await http.get(f"/api/jobs/{running}")).json()
        again = await http.post(f"/api/jobs/{running}/cancel")
        unknown = await http.post(f"/api/jobs/{uuid.uuid4()}/cancel")
    assert job["status"] == "cancelled"
    assert again.json() == unknown.json() == {"cancelled": False}  # finished or unknown: no-op


async def test_cancelling_several_jobs_at_once() -> None:
    async with _server(NEWEST) as (sim, http):
        sim.faults.stall_worker = True
        ids = [
            (await http.post("/prompt", json={"prompt": sleep_prompt(1, 0, color=i)})).json()[
                "prompt_id"
            ]
            for i in (1, 2, 3)
        ]
        none = await http.post("/api/jobs/cancel", json={"job_ids": [str(uuid.uuid4())]})
        some = await http.post("/api/jobs/cancel", json={"job_ids": ids[1:]})
        bad = await http.post("/api/jobs/cancel", json={"job_ids": ["", 3]})
        left = [item[1] for item in (await http.get("/queue")).json()["queue_pending"]]
        sim.faults.stall_worker = False
    assert none.json() == {"cancelled": False}
    assert some.json() == {"cancelled": True}
    assert bad.status_code == 400 and bad.json()["invalid_ids"] == ["", 3]
    assert ids[0] in left or left == []  # the first may have started
    assert ids[1] not in left and ids[2] not in left


async def test_0_8_has_no_cancel_routes() -> None:
    async with _server("0.8.0") as (_, http):
        one = await http.post(f"/api/jobs/{uuid.uuid4()}/cancel")
        many = await http.post("/api/jobs/cancel", json={"job_ids": []})
    # The static web root answers any POST it does not route with 405.
    assert one.status_code == many.status_code == 405


@pytest.mark.parametrize(("version", "listed"), [("0.8.0", 1), ("0.33.0", 3)])
async def test_every_gpu_is_listed_since_0_23(version: str, listed: int) -> None:
    async with _server(version, gpus=3) as (_, http):
        devices = (await http.get("/system_stats")).json()["devices"]
    assert [d["index"] for d in devices] == list(range(listed))
    assert all(d["name"].startswith(f"cuda:{d['index']} ") for d in devices)


async def test_the_ram_pressure_cache_keeps_more_than_the_previous_prompt() -> None:
    """a, b, then a again: classic forgets a's loader when b runs; 0.33's cache keeps it."""
    cached = {}
    for version in VERSIONS:
        async with (
            _server(version) as (sim, http),
            open_socket(sim.ws_url, "c") as a,
        ):
            for seed, ckpt in enumerate(
                ["random-sd15-a.safetensors", "random-sd15-b.safetensors"] * 2
            ):
                body = {"prompt": txt2img(seed, ckpt), "client_id": "c"}
                prompt_id = (await http.post("/prompt", json=body)).json()["prompt_id"]
                await a.wait_done(prompt_id)
            last = [m for m in a.messages if m["type"] == "execution_cached"][-1]
        cached[version] = sorted(last["data"]["nodes"])
    assert cached["0.8.0"] == ["5"]  # only the latent, shared by every prompt
    assert cached["0.33.0"] == ["4", "5", "6", "7"]  # b's loader and prompts, from two runs ago
