"""HTTP endpoints and websocket handshakes against their recorded answers."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from sweeps.simulator import SimConfig, Simulator
from tests.simulator.wire import open_socket, shape, trace_shapes
from tests.traces import load_trace


@pytest.fixture
def sim_config(version: str) -> SimConfig:
    """The recording of every version, replayed against a simulator playing it."""
    return SimConfig(speed=0.0, comfy_version=version)


def _skeleton(value: Any) -> Any:
    """Keys and value types, recursively: what "the same shape" means for stats."""
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(v) for v in value[:1]]
    return type(value).__name__


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 0, 0)).save(out, format="PNG")
    return out.getvalue()


async def test_system_endpoints(sim: Simulator, http: httpx.AsyncClient, version: str) -> None:
    trace = load_trace("system_endpoints", version)
    exact = {
        "/prompt",
        "/queue",
        "/embeddings",
        "/models",
        "/models/checkpoints",
        "/features",
        "/object_info/EmptyImage",
        "/object_info/NoSuchNode",
    }
    for exchange in trace.http():
        if exchange.path == "/upload/image":
            files = {"image": ("pixel.png", _png(), "image/png")}
            response = await http.post(exchange.path, files=files)
        elif exchange.method == "POST":
            response = await http.post(exchange.path, json=exchange.request)
        else:
            response = await http.get(exchange.path)
        assert response.status_code == exchange.status, exchange.path
        if not exchange.is_json:
            assert len(response.content) == exchange.response["_bytes"], exchange.path
            continue
        body = response.json()
        if exchange.path in exact or exchange.path.startswith("/history/"):
            assert body == exchange.response, exchange.path
        elif exchange.path.endswith("/system_stats"):
            system, device = body["system"], body["devices"][0]
            want = exchange.response
            assert list(system) == list(want["system"])
            assert list(device) == list(want["devices"][0])
        else:
            assert _skeleton(body) == _skeleton(exchange.response), exchange.path


async def test_cpu_system_stats_match_recorded_types(version: str) -> None:
    trace = load_trace("system_endpoints", version)
    async with (
        Simulator(SimConfig(speed=0.0, device_type="cpu", comfy_version=version)) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        body = (await http.get("/api/system_stats")).json()
    assert _skeleton(body) == _skeleton(trace.http("GET", "/system_stats")[0].response)
    assert body["devices"][0]["name"] == "cpu" and body["devices"][0]["index"] is None


async def test_prompt_validation_errors(
    sim: Simulator, http: httpx.AsyncClient, version: str
) -> None:
    trace = load_trace("prompt_validation_errors", version)
    for exchange in trace.http("POST", "/prompt"):
        if exchange.request is None:  # the recorder sent malformed JSON
            response = await http.post(
                "/prompt", content=b"{not json", headers={"content-type": "application/json"}
            )
            assert response.status_code == 500
            assert len(response.content) == exchange.response["_bytes"]
            assert response.headers["content-type"] == exchange.response["_content_type"]
            continue
        response = await http.post("/prompt", json=exchange.request)
        assert response.status_code == exchange.status
        assert response.json() == exchange.response


async def test_ws_connect(sim: Simulator, version: str) -> None:
    trace = load_trace("ws_connect", version)
    client_id = trace.ws_messages("A")[0]["data"]["sid"]
    async with open_socket(sim.ws_url, client_id) as a:
        first = await a.wait_message("status")
    assert first == trace.ws_messages("A")[0]


async def test_ws_connect_without_client_id_gets_a_hex_sid(sim: Simulator, version: str) -> None:
    async with open_socket(sim.ws_url) as a:
        first = await a.wait_message("status")
    sid = first["data"]["sid"]
    assert len(sid) == 32 and int(sid, 16) >= 0


async def test_ws_connect_flags(sim: Simulator, version: str) -> None:
    trace = load_trace("ws_connect_flags", version)
    client_id = trace.ws_messages("A")[0]["data"]["sid"]
    async with open_socket(sim.ws_url, client_id, flags=True) as a:
        flags = await a.wait_message("feature_flags")
    assert [shape(f) for f in a.frames if f["kind"] != "closed"] == trace_shapes(trace, "A")
    assert flags == trace.ws_messages("A")[1]


async def test_a_non_json_first_message_does_not_count(sim: Simulator, version: str) -> None:
    """ComfyUI only clears its first-message flag after a message parses as JSON."""
    async with open_socket(sim.ws_url, "late") as a:
        await a.wait_message("status")
        await a.ws.send("not json")
        await a.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        await a.wait_message("feature_flags")
        assert sim.hub.supports_preview_metadata("late")
