"""``SaveImageWebsocket``, as ``script_examples/websockets_api_example_ws_images.py`` uses it.

Upstream's node reports each image as a ProgressBar update ``(i, batch)``
with a ``("PNG", image, None)`` preview, so the picture travels the preview
path: after ``progress`` as a type-1 frame whose 8-byte header the example
strips (``out[8:]``), or as a type-4 ``image/png`` frame for a client that
negotiated preview metadata, like the web frontend.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import httpx
from PIL import Image

from sweeps.simulator import Simulator
from tests.simulator.wire import open_socket


def _ws_image_prompt(batch: int) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 600, "height": 40, "batch_size": batch, "color": 255},
        },
        "save_image_websocket_node": {
            "class_type": "SaveImageWebsocket",
            "inputs": {"images": ["1", 0]},
        },
    }


async def test_images_arrive_as_type_1_png_frames_after_progress(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    async with open_socket(sim.ws_url, "ex") as ws:
        await ws.wait_message("status")
        body = {"prompt": _ws_image_prompt(2), "client_id": "ex"}
        prompt_id = (await http.post("/prompt", json=body)).json()["prompt_id"]
        await ws.wait_done(prompt_id)
    start = next(
        i
        for i, f in enumerate(ws.frames)
        if f["kind"] == "text"
        and f["data"]["type"] == "executing"
        and f["data"]["data"]["node"] == "save_image_websocket_node"
    )
    kinds = [
        f["data"]["type"] if f["kind"] == "text" else f["event_type"] for f in ws.frames[start:]
    ]
    assert kinds[:7] == [
        "executing",
        "progress_state",
        "progress",
        1,
        "progress_state",
        "progress",
        1,
    ]
    progress = [m["data"] for m in ws.messages if m["type"] == "progress"]
    assert [(p["value"], p["max"]) for p in progress] == [(0, 2), (1, 2)]
    frame = next(f for f in ws.frames if f["kind"] == "binary")
    assert struct.unpack(">II", frame["raw"][:8]) == (1, 2)  # PREVIEW_IMAGE, PNG
    with Image.open(io.BytesIO(frame["raw"][8:])) as image:
        assert (image.format, image.size) == ("PNG", (600, 40))  # full size, not shrunk


async def test_a_metadata_client_gets_type_4_png_frames(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    async with open_socket(sim.ws_url, "fe", flags=True) as ws:
        await ws.wait_message("feature_flags")
        body = {"prompt": _ws_image_prompt(1), "client_id": "fe"}
        prompt_id = (await http.post("/prompt", json=body)).json()["prompt_id"]
        await ws.wait_done(prompt_id)
    [frame] = [f for f in ws.frames if f["kind"] == "binary"]
    assert frame["event_type"] == 4
    assert frame["metadata"]["image_type"] == "image/png"
    assert frame["metadata"]["node_id"] == "save_image_websocket_node"
