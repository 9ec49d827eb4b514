"""Rules every route shares on the real server: middlewares, methods, the static root.

Each expectation is what ComfyUI 0.8.0 answers (PROTOCOL 1.1), down to the
status and body a client's error handling sees: the origin check's bare 403,
OPTIONS answered by the middleware, HEAD on every GET route, and the static
web root turning unknown GETs into an empty 404 and other methods into 405.
"""

from __future__ import annotations

import httpx
import pytest

from sweeps.simulator import Simulator
from tests.simulator.prompts import sleep_prompt


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://evil.example", 403),
        ("http://localhost:{port}", 403),  # same machine, different host name
        ("http://127.0.0.1:{port}", 200),
        ("http://127.0.0.1", 200),  # no port on the Origin: only host names compared
        ("null", 200),  # an empty origin host is never refused
    ],
)
async def test_origin_is_checked_against_a_loopback_host(
    sim: Simulator, http: httpx.AsyncClient, origin: str, status: int
) -> None:
    headers = {"Origin": origin.format(port=sim.port)}
    response = await http.get("/prompt", headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.content == b""
        refused = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0)}, headers=headers)
        assert refused.status_code == 403
        assert (await http.get("/queue")).json()["queue_pending"] == []


async def test_origin_is_not_checked_for_a_non_loopback_host(http: httpx.AsyncClient) -> None:
    headers = {"Host": "192.0.2.1:8188", "Origin": "http://evil.example"}
    assert (await http.get("/prompt", headers=headers)).status_code == 200


async def test_options_is_answered_by_the_middleware(http: httpx.AsyncClient) -> None:
    for path in ("/prompt", "/api/queue", "/no/such/route"):
        response = await http.options(path)
        assert (response.status_code, response.content) == (200, b"")
        assert "access-control-allow-origin" not in response.headers  # no --enable-cors-header


async def test_head_answers_on_every_get_route(http: httpx.AsyncClient) -> None:
    for path in ("/prompt", "/api/object_info", "/api/api/jobs", "/api/users"):
        response = await http.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("application/json")
        assert response.content == b""


async def test_unknown_get_is_the_static_roots_empty_404(http: httpx.AsyncClient) -> None:
    for path in ("/nope", "/api/nope", "/prompt/", "/interrupt", "/jobs", "/api/internal/logs"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.content == b""
        assert response.headers["content-type"] == "application/octet-stream"


async def test_cache_headers_follow_the_path_suffix(http: httpx.AsyncClient) -> None:
    missing = await http.get("/userdata/missing.png")
    assert (missing.status_code, missing.headers["cache-control"]) == (404, "public, max-age=3600")
    await http.post("/userdata/pic.png", content=b"not really a png")
    found = await http.get("/userdata/pic.png")
    assert (found.status_code, found.headers["cache-control"]) == (200, "public, max-age=86400")
    assert "cache-control" not in (await http.get("/prompt")).headers


async def test_other_methods_on_unknown_routes_are_405(http: httpx.AsyncClient) -> None:
    for method, path, allow in (
        ("POST", "/nope", "GET,HEAD"),
        ("POST", "/view", "GET,HEAD"),
        ("DELETE", "/prompt", "GET,HEAD,POST"),
        ("PUT", "/api/history", "GET,HEAD,POST"),
    ):
        response = await http.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.text == "405: Method Not Allowed"
        assert response.headers["allow"] == allow


async def test_root_serves_html_for_readiness_probes(http: httpx.AsyncClient) -> None:
    for path in ("/", "/api/"):
        response = await http.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[]", 400),  # `"prompt" in []` is False: no_prompt
        (b'"hello"', 400),
        (b"null", 500),  # `"number" in None` raises
        (b"5", 500),
        (b'{"prompt": null}', 500),  # validate_prompt iterates None
        (b'{"prompt": []}', 400),  # nothing to iterate: prompt_no_outputs
    ],
)
async def test_prompt_bodies_that_are_not_objects(
    http: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await http.post("/prompt", content=body)
    assert response.status_code == status
    if status == 500:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    else:
        assert response.json()["node_errors"] == {}


async def test_a_list_body_still_takes_a_number(http: httpx.AsyncClient) -> None:
    await http.post("/prompt", content=b"[]")
    queued = await http.post("/prompt", json={"prompt": sleep_prompt(1, 0)})
    assert queued.json()["number"] == 1
