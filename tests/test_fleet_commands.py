"""The fleet one-liners as a script uses them: JSON out, exit codes, every server listed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sweeps.client import ComfyClient
from sweeps.events import Progress
from sweeps.simulator import NEWEST, SimConfig, Simulator
from tests.cli import comfyfleet
from tests.simulator.prompts import sleep_prompt

DEAD = "http://127.0.0.1:1"


async def _json(*args: str) -> tuple[int, Any]:
    code, out, err = await comfyfleet(*args, "--json")
    assert err == "", err
    return code, json.loads(out)


async def test_status_lists_every_server_and_exits_1_when_one_is_down(sim, sim2) -> None:
    code, servers = await _json("status", "-s", sim.url, "-s", sim2.url, "-s", DEAD)
    assert code == 1
    assert [s["url"] for s in servers] == [sim.url, sim2.url, DEAD]
    up, _, down = servers
    assert up["ok"] and up["error"] is None
    assert up["comfyui_version"] == sim.config.comfy_version
    assert up["devices"][0]["label"] == "NVIDIA GeForce RTX 3060"
    assert 0 < up["devices"][0]["vram_free"] <= up["devices"][0]["vram_total"]
    assert (up["queue_running"], up["queue_pending"]) == (0, 0)
    assert not down["ok"] and "connection refused" in down["error"]

    code, out, _ = await comfyfleet("status", "-s", sim.url, "-s", DEAD)
    assert code == 1
    assert "NVIDIA GeForce" in out and "down" in out
    code, _, _ = await comfyfleet("status", "-s", sim.url)
    assert code == 0


async def test_queue_shows_pending_in_order_and_clear_empties_it(sim: Simulator) -> None:
    sim.faults.stall_worker = True
    async with ComfyClient(sim.url) as client:
        ids = [(await client.queue_prompt(sleep_prompt(1, 1, color=i))).prompt_id for i in range(3)]
    code, [server] = await _json("queue", "-s", sim.url)
    assert code == 0
    # The stalled worker has taken the first prompt: it shows as running.
    assert [p["prompt_id"] for p in server["running"]] == ids[:1]
    assert [p["prompt_id"] for p in server["pending"]] == ids[1:]
    code, [server] = await _json("clear", "-s", sim.url)
    assert code == 0 and server["cleared"] == ids[1:]
    code, [server] = await _json("queue", "-s", sim.url)
    assert server["pending"] == [] and [p["prompt_id"] for p in server["running"]] == ids[:1]


@pytest.mark.parametrize("version", ["0.8.0", NEWEST])  # /queue + /interrupt, /api/jobs
async def test_cancel_finds_prompts_on_whichever_server_holds_them(version: str) -> None:
    async with (
        Simulator(SimConfig(speed=0.02, comfy_version=version)) as sim,
        Simulator(SimConfig(speed=0.0, seed=2, comfy_version=version)) as sim2,
    ):
        await _cancel_across(sim, sim2)


async def _cancel_across(sim: Simulator, sim2: Simulator) -> None:
    sim2.faults.stall_worker = True
    started = asyncio.Event()
    async with ComfyClient(sim.url) as busy, ComfyClient(sim2.url) as stalled:
        async with asyncio.TaskGroup() as group:
            events = group.create_task(_first_progress(busy, started))
            running = await busy.queue_prompt(sleep_prompt(10_000, 50))
            await asyncio.wait_for(started.wait(), 10)
            events.cancel()
        await stalled.queue_prompt(sleep_prompt(1, 1))  # taken by the stalled worker
        waiting = await stalled.queue_prompt(sleep_prompt(1, 2))
        kept = await stalled.queue_prompt(sleep_prompt(1, 3))
        code, result = await _json(
            "cancel", running.prompt_id, waiting.prompt_id, "nope", "-s", sim.url, "-s", sim2.url
        )
        assert code == 1  # "nope" is nowhere
        assert result["not_found"] == ["nope"]
        first, second = result["servers"]
        assert first["running"] == [running.prompt_id] and first["pending"] == []
        assert second["pending"] == [waiting.prompt_id] and second["running"] == []
        assert [i.prompt_id for i in (await stalled.get_queue()).pending] == [kept.prompt_id]
        await sim.wait_idle()
        entry = await busy.get_history_entry(running.prompt_id)
        assert entry is not None and entry.outcome == "interrupted"


async def _first_progress(client: ComfyClient, seen: asyncio.Event) -> None:
    async for event in client.events():
        if isinstance(event, Progress):
            seen.set()


async def test_interrupt_names_what_it_stopped_and_free_unloads(sim2: Simulator) -> None:
    code, [server] = await _json("interrupt", "-s", sim2.url)
    assert code == 0 and server["interrupted"] is None  # nothing was running
    code, [server] = await _json("free", "--cache", "-s", sim2.url)
    assert code == 0 and server["cache_dropped"] is True


async def test_history_newest_first_with_outcomes(sim2: Simulator) -> None:
    async with ComfyClient(sim2.url) as client:
        ids = [(await client.queue_prompt(sleep_prompt(1, 1, color=i))).prompt_id for i in range(3)]
    await sim2.wait_idle()
    code, [server] = await _json("history", "-n", "2", "-s", sim2.url)
    assert code == 0
    assert [e["prompt_id"] for e in server["history"]] == ids[:0:-1]
    assert {e["outcome"] for e in server["history"]} == {"success"}


async def test_a_bad_server_url_is_bad_input() -> None:
    code, _, err = await comfyfleet("status", "-s", "htp://gpu1:8188")
    assert code == 2 and "did you mean 'http://gpu1:8188'" in err
