"""The routes the ComfyUI web frontend calls at startup (PROTOCOL 1.2 and 1.3).

A browser pointed at the simulator reads users, settings, user files,
translations, logs and model listings before it shows anything; each must
answer with upstream's shape and status, not a 404.
"""

from __future__ import annotations

import httpx

from sweeps.simulator import Simulator
from tests.simulator.wire import open_socket


async def test_startup_calls_answer_like_a_fresh_server(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/users")).json() == {"storage": "server", "migrated": False}
    assert (await http.get("/api/settings")).json() == {}
    assert (await http.get("/api/settings/Comfy.Locale")).json() is None
    assert (await http.get("/api/i18n")).json() == {}
    assert (await http.get("/api/workflow_templates")).json() == {}
    assert (await http.get("/api/global_subgraphs")).json() == {}
    assert (await http.get("/api/global_subgraphs/nope")).json() is None
    assert (await http.get("/api/v2/userdata", params={"path": ""})).json() == []
    workflows = await http.get(
        "/api/userdata", params={"dir": "workflows", "recurse": "true", "full_info": "true"}
    )
    assert (workflows.status_code, workflows.text) == (404, "Directory not found")
    # Listing created user/default/ on the way, as upstream's path helper does.
    assert (await http.get("/api/users")).json()["migrated"] is True


async def test_settings_are_a_file_in_userdata(http: httpx.AsyncClient) -> None:
    assert (
        await http.post("/api/settings", json={"Comfy.Locale": "en", "a": 1})
    ).status_code == 200
    assert (await http.post("/api/settings/a", json=[2])).status_code == 200
    assert (await http.get("/api/settings")).json() == {"Comfy.Locale": "en", "a": [2]}
    assert (await http.get("/api/settings/a")).json() == [2]
    raw = await http.get("/api/userdata/comfy.settings.json")
    assert raw.json() == {"Comfy.Locale": "en", "a": [2]}


async def test_userdata_files_round_trip(http: httpx.AsyncClient) -> None:
    path = "/api/userdata/workflows%2Fa.json"
    written = await http.post(path, content=b'{"nodes": []}')
    assert written.json() == "workflows/a.json"
    assert (await http.post(path, params={"overwrite": "false"}, content=b"x")).status_code == 409
    assert (await http.get(path)).content == b'{"nodes": []}'
    listing = await http.get("/api/userdata", params={"dir": "workflows", "full_info": "true"})
    [info] = listing.json()
    assert (info["path"], info["size"]) == ("a.json", 13)
    assert set(info) == {"path", "size", "modified", "created"}
    split = await http.get("/api/userdata", params={"dir": "workflows", "split": "true"})
    assert split.json() == [["a.json", "a.json"]]
    moved = await http.post(
        "/api/userdata/workflows%2Fa.json/move/workflows%2Fb.json", params={"full_info": "true"}
    )
    assert moved.json()["path"] == "workflows/b.json"
    v2 = (await http.get("/api/v2/userdata", params={"path": "workflows"})).json()
    assert [(e["name"], e["path"], e["type"]) for e in v2] == [
        ("b.json", "workflows/b.json", "file")
    ]
    assert (await http.delete("/api/userdata/workflows%2Fb.json")).status_code == 204
    assert (await http.get("/api/userdata/workflows%2Fb.json")).status_code == 404
    escape = await http.get("/api/userdata", params={"dir": "../.."})
    assert (escape.status_code, escape.text) == (403, "Invalid directory")
    assert (await http.get("/api/userdata")).status_code == 400


async def test_users_reject_a_duplicate_name(http: httpx.AsyncClient) -> None:
    duplicate = await http.post("/api/users", json={"username": "default"})
    assert (duplicate.status_code, duplicate.json()) == (400, {"error": "Duplicate username."})
    created = (await http.post("/api/users", json={"username": "ann b"})).json()
    assert created.startswith("ann-b_")


async def test_internal_routes_have_no_api_twin(sim: Simulator, http: httpx.AsyncClient) -> None:
    raw = (await http.get("/internal/logs/raw")).json()
    assert raw["size"] == {"cols": 80, "rows": 24}
    assert all(set(e) == {"t", "m"} for e in raw["entries"])
    assert isinstance((await http.get("/internal/logs")).json(), str)
    folders = (await http.get("/internal/folder_paths")).json()
    assert list(folders)[:2] == ["checkpoints", "configs"]
    assert (await http.get("/internal/files/input")).json() == ["example.png"]
    bogus = await http.get("/internal/files/bogus")
    assert (bogus.status_code, bogus.json()) == (400, {"error": "Invalid directory type"})
    assert (await http.get("/api/internal/logs")).status_code == 404


async def test_subscribed_socket_gets_logs_events(sim: Simulator, http: httpx.AsyncClient) -> None:
    async with open_socket(sim.ws_url, "viewer") as ws:
        await ws.wait_message("status")
        subscribe = {"clientId": "viewer", "enabled": True}
        assert (await http.patch("/internal/logs/subscribe", json=subscribe)).status_code == 200
        await http.post("/prompt", json={})
        logs = await ws.wait_message("logs")
    [entry] = logs["data"]["entries"]
    assert entry["m"] == "got prompt\n"
    assert logs["data"]["size"] == {"cols": 80, "rows": 24}


async def test_model_listings(http: httpx.AsyncClient) -> None:
    folders = (await http.get("/api/experiment/models")).json()
    names = [f["name"] for f in folders]
    assert "checkpoints" in names and "configs" not in names and "custom_nodes" not in names
    files = (await http.get("/api/experiment/models/checkpoints")).json()
    assert [f["name"] for f in files] == (await http.get("/api/models/checkpoints")).json()
    assert set(files[0]) == {"name", "pathIndex", "modified", "created", "size"}
    assert (await http.get("/api/experiment/models/nope")).status_code == 404
    metadata = await http.get(
        "/api/view_metadata/checkpoints", params={"filename": "random-sd15-a.safetensors"}
    )
    assert (metadata.status_code, metadata.content) == (404, b"")
