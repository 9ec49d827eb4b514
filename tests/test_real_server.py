"""Against a real ComfyUI: set COMFYFLEET_REAL_SERVER=http://host:8188 to run these.

They use only built-in, model-free nodes, so a CPU-only ComfyUI runs them in seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest

from sweeps.client import ComfyClient
from sweeps.connection import ServerConnection
from sweeps.errors import PromptRejected
from sweeps.report import load_report
from sweeps.runner import run_sweep

URL = os.environ.get("COMFYFLEET_REAL_SERVER", "")
REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not URL, reason="COMFYFLEET_REAL_SERVER is not set"),
]


async def test_facts() -> None:
    async with ComfyClient(URL) as client:
        stats = await client.system_stats()
        assert stats.system.comfyui_version
        assert "KSampler" in await client.object_info()
        await client.get_queue()
        await client.get_history(max_items=1)


async def test_run_and_reject() -> None:
    workflow = json.loads((REPO / "sample_workflows" / "model_free.json").read_text())
    workflow["2"]["inputs"]["seed"] = int.from_bytes(os.urandom(4), "big")
    conn = ServerConnection(URL)
    async with asyncio.TaskGroup() as group:
        listener = group.create_task(conn.listen())
        outcome = await conn.run_prompt(workflow)
        workflow["3"]["inputs"]["blur_radius"] = 999
        with pytest.raises(PromptRejected, match="blur_radius"):
            await conn.run_prompt(workflow)
        listener.cancel()
    await conn.client.aclose()
    assert outcome.status == "success"
    assert outcome.outputs


async def test_sweep(tmp_path: Path) -> None:
    spec = REPO / "sample_workflows" / "model_free_sweep.yaml"
    result = await run_sweep(spec, servers=[URL], out_dir=tmp_path / "out")
    assert result.progress.failed == 0
    assert load_report(tmp_path / "out").height == result.progress.done


async def test_a_missing_node_class_is_named_in_this_versions_words() -> None:
    async with ComfyClient(URL) as client:
        with pytest.raises(PromptRejected) as caught:
            await client.queue_prompt({"1": {"class_type": "NoSuchComfyfleetNode", "inputs": {}}})
    assert caught.value.missing_class == "NoSuchComfyfleetNode"
    assert "node class NoSuchComfyfleetNode is not installed on" in str(caught.value)


async def test_cancel_of_an_unknown_prompt_is_a_no_op_on_any_version() -> None:
    async with ComfyClient(URL) as client:
        # False through /api/jobs/cancel (0.26+); None through /queue + /interrupt before.
        assert await client.cancel([str(uuid.uuid4())]) in (False, None)
