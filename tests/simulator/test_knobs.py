"""SimConfig knobs and behaviours beyond the traces: speed, memory, cache, previews, files."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from sweeps.simulator import SimConfig, Simulator
from tests.simulator.prompts import run, sleep_prompt, txt2img
from tests.simulator.wire import open_socket


async def vram_free(http: httpx.AsyncClient) -> int:
    return (await http.get("/system_stats")).json()["devices"][0]["vram_free"]


async def test_speed_zero_is_instantaneous(sim: Simulator, http: httpx.AsyncClient) -> None:
    started = time.monotonic()
    await run(http, sim, sleep_prompt(steps=50, step_ms=1000))
    assert time.monotonic() - started < 2.0


async def test_speed_scales_costs() -> None:
    async with (
        Simulator(SimConfig(speed=0.05)) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        started = time.monotonic()
        await run(http, sim, sleep_prompt(steps=4, step_ms=1000))  # 4 s at speed 1
        elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0


async def test_vram_moves_with_checkpoint_and_free(sim: Simulator, http: httpx.AsyncClient) -> None:
    idle = await vram_free(http)
    await run(http, sim, txt2img(1))
    loaded = await vram_free(http)
    assert idle - loaded == sim.config.checkpoint_vram
    await run(http, sim, txt2img(2, "random-sd15-b.safetensors"))
    assert await vram_free(http) == loaded  # one resident model: b replaced a
    assert (await http.post("/free", json={"unload_models": True})).status_code == 200
    await sim.wait_idle()
    assert await vram_free(http) == idle
    ram = (await http.get("/system_stats")).json()["system"]["ram_free"]
    assert ram == sim.config.ram_total - sim.config.ram_baseline


async def test_unload_keeps_the_cache_but_free_memory_clears_it(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    async with open_socket(sim.ws_url, "c") as ws:
        await run(http, sim, txt2img(1), client_id="c")
        await http.post("/free", json={"unload_models": True})
        await sim.wait_idle()
        second = await run(http, sim, txt2img(1), client_id="c")
        await http.post("/free", json={"unload_models": True, "free_memory": True})
        await sim.wait_idle()
        third = await run(http, sim, txt2img(1), client_id="c")
        await ws.wait_done(third)
    cached = {
        m["data"]["prompt_id"]: m["data"]["nodes"]
        for m in ws.messages
        if m["type"] == "execution_cached"
    }
    assert cached[second] == ["3", "4", "5", "6", "7", "8", "9"]
    assert cached[third] == []


async def test_cache_none_runs_everything() -> None:
    async with (
        Simulator(SimConfig(speed=0.0, cache="none")) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
        open_socket(sim.ws_url, "c") as ws,
    ):
        await run(http, sim, sleep_prompt(1, 0), client_id="c")
        second = await run(http, sim, sleep_prompt(1, 0), client_id="c")
        await ws.wait_done(second)
    cached = [m["data"]["nodes"] for m in ws.messages if m["type"] == "execution_cached"]
    assert cached == [[], []]
    executing = [m["data"]["node"] for m in ws.messages if m["type"] == "executing"]
    assert executing == ["1", "2", "3", None, "1", "2", "3", None]


@pytest.mark.parametrize(
    ("config", "extra", "expected"),
    [
        (SimConfig(speed=0.0, previews=True), {}, 3),
        (SimConfig(speed=0.0, previews=False), {}, 0),
        (SimConfig(speed=0.0, previews=True), {"preview_method": "none"}, 0),
        (SimConfig(speed=0.0, previews=False), {"preview_method": "auto"}, 3),
    ],
)
async def test_sampler_previews(config: SimConfig, extra: dict[str, Any], expected: int) -> None:
    async with (
        Simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
        open_socket(sim.ws_url, "c") as ws,
    ):
        prompt_id = await run(http, sim, txt2img(1), client_id="c", extra_data=extra)
        await ws.wait_done(prompt_id)
    binary = [f for f in ws.frames if f["kind"] == "binary"]
    assert len(binary) == expected
    assert all(f["event_type"] == 1 for f in binary)


async def test_crystools_monitor() -> None:
    config = SimConfig(speed=0.0, crystools=True, crystools_interval=0.02)
    async with Simulator(config) as sim, open_socket(sim.ws_url) as ws:
        message = await ws.wait_message("crystools.monitor")
    data = message["data"]
    assert set(data) == {
        "cpu_utilization",
        "ram_total",
        "ram_used",
        "ram_used_percent",
        "hdd_total",
        "hdd_used",
        "hdd_used_percent",
        "device_type",
        "gpus",
    }
    assert set(data["gpus"][0]) == {
        "gpu_utilization",
        "gpu_temperature",
        "vram_total",
        "vram_used",
        "vram_used_percent",
    }


async def test_outputs_differ_per_seed_and_counters_continue(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    first = await run(http, sim, txt2img(1))
    second = await run(http, sim, txt2img(2))
    images = []
    for prompt_id in (first, second):
        entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
        image = entry["outputs"]["9"]["images"][0]
        images.append(image["filename"])
        png = (await http.get("/view", params=image)).content
        with Image.open(io.BytesIO(png)) as picture:
            images.append(picture.getpixel((0, 0)))
            assert picture.size == (64, 64)
    assert images[0] == "fox_00001_.png" and images[2] == "fox_00002_.png"
    assert images[1] != images[3]


async def test_preview_image_goes_to_temp(sim: Simulator, http: httpx.AsyncClient) -> None:
    prompt = sleep_prompt(1, 0)
    prompt["3"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    prompt_id = await run(http, sim, prompt)
    entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    image = entry["outputs"]["3"]["images"][0]
    assert image["type"] == "temp" and image["subfolder"] == ""
    assert image["filename"].startswith("ComfyUI_temp_") and image["filename"].endswith(
        "_00001_.png"
    )
    assert len(image["filename"]) == len("ComfyUI_temp_abcde_00001_.png")
    assert (await http.get("/view", params=image)).status_code == 200


async def test_no_client_id_broadcasts_progress_only(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    async with open_socket(sim.ws_url, "watcher") as ws:
        await run(http, sim, sleep_prompt(2, 0))
    types = {m["type"] for m in ws.messages}
    assert types == {"status", "progress", "progress_state"}


async def test_reconnect_with_same_client_id_goes_deaf(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    async with open_socket(sim.ws_url, "dup") as old:
        await old.wait_message("status")
        async with open_socket(sim.ws_url, "dup") as new:
            await new.wait_message("status")
            await old.ws.close()
            await old.wait_closed()
            await sim.hub.drain()
            assert "dup" not in sim.hub.sockets  # the old socket's cleanup popped the new one
            await run(http, sim, sleep_prompt(1, 0), client_id="dup")
        assert [m["type"] for m in new.messages] == ["status"]


async def test_uploads(sim: Simulator, http: httpx.AsyncClient) -> None:
    def png(colour: tuple[int, int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (2, 2), colour).save(out, format="PNG")
        return out.getvalue()

    async def upload(data: bytes, **fields: str) -> httpx.Response:
        return await http.post("/upload/image", files={"image": ("a.png", data)}, data=fields)

    assert (await upload(png((1, 2, 3)))).json() == {
        "name": "a.png",
        "subfolder": "",
        "type": "input",
    }
    assert (await upload(png((1, 2, 3)))).json()["name"] == "a.png"
    assert (await upload(png((9, 9, 9)))).json()["name"] == "a (1).png"
    assert (await upload(png((9, 9, 9)))).json()["name"] == "a (1).png"
    assert (await upload(png((1, 2, 3)), type="bogus")).status_code == 500
    info = (await http.get("/object_info/LoadImage")).json()
    assert "a (1).png" in info["LoadImage"]["input"]["required"]["image"][0]
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a (1).png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert (await http.post("/prompt", json={"prompt": prompt})).status_code == 200


async def test_http_quirks(sim: Simulator, http: httpx.AsyncClient) -> None:
    assert (await http.get("/interrupt")).status_code == 404
    assert (await http.get("/api/prompt")).json() == {"exec_info": {"queue_remaining": 0}}
    bad = await http.get("/history", params={"max_items": "x"})
    assert bad.status_code == 500 and bad.headers["content-type"].startswith("text/plain")
    assert (
        await http.get("/view", params={"filename": "a.png", "type": "nope"})
    ).status_code == 400
    assert (await http.get("/view", params={"filename": "/etc/passwd"})).status_code == 400
    assert (await http.get("/models/not_a_folder")).status_code == 404
    assert (await http.post("/free", content=b"")).status_code == 500
    rejected = await http.post("/prompt", json={"client_id": "x"})
    assert rejected.status_code == 400
    queued = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0), "front": True})
    assert queued.json()["number"] == -1  # the rejected POST still took number 0
    explicit = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0), "number": 42})
    assert explicit.json()["number"] == 42.0


async def test_full_object_info_runs_unknown_classes_generically() -> None:
    from tests.traces import traces_dir

    config = SimConfig(speed=0.0, object_info_path=traces_dir() / "object_info.json")
    prompt = sleep_prompt(1, 0)
    prompt["2"] = {"class_type": "SplitImageWithAlpha", "inputs": {"image": ["1", 0]}}
    prompt["3"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["2", 0], "filename_prefix": "s"},
    }
    async with Simulator(config) as sim, httpx.AsyncClient(base_url=sim.url) as http:
        assert len((await http.get("/object_info")).json()) == 547
        prompt_id = await run(http, sim, prompt)
        entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["3"]["images"][0]["filename"] == "s_00001_.png"


async def test_extra_checkpoints_run_comfyuis_own_script_examples() -> None:
    """basic_api_example.py loads v1-5-pruned-emaonly.safetensors, which the traces lack."""
    example = "v1-5-pruned-emaonly.safetensors"
    async with (
        Simulator(SimConfig(speed=0.0, extra_checkpoints=(example,))) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        listed = (await http.get("/models/checkpoints")).json()
        info = (await http.get("/object_info/CheckpointLoaderSimple")).json()
        prompt_id = await run(http, sim, txt2img(1, example))
        history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert listed == ["random-sd15-a.safetensors", "random-sd15-b.safetensors", example]
    assert example in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert history["status"]["status_str"] == "success"


async def test_without_extra_checkpoints_the_example_is_refused_as_on_the_traced_server(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/prompt", json={"prompt": txt2img(1, "v1-5-pruned-emaonly.safetensors")}
    )
    assert response.status_code == 400
    [error] = response.json()["node_errors"]["4"]["errors"]
    assert error["type"] == "value_not_in_list"
