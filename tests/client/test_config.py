"""Servers behind proxies: path prefixes, https, headers, and the websocket URL that follows."""

from __future__ import annotations

import pytest
from aiohttp import web

from sweeps.client import ComfyClient
from sweeps.config import ServerConfig, expand_env
from sweeps.errors import RequestRejected, SpecError
from tests.client.servers import serving


@pytest.mark.parametrize(
    ("given", "url", "ws"),
    [
        ("127.0.0.1:8188", "http://127.0.0.1:8188", "ws://127.0.0.1:8188/ws?clientId=c"),
        ("http://gpu1:8188/", "http://gpu1:8188", "ws://gpu1:8188/ws?clientId=c"),
        ("https://host/comfy/", "https://host/comfy", "wss://host/comfy/ws?clientId=c"),
        ("https://host/a/b", "https://host/a/b", "wss://host/a/b/ws?clientId=c"),
    ],
)
def test_urls(given: str, url: str, ws: str) -> None:
    server = ServerConfig(given)
    assert server.url == url
    assert server.ws_url("c") == ws


@pytest.mark.parametrize("bad", ["ftp://host", "http://", "://"])
def test_bad_urls_are_spec_errors(bad: str) -> None:
    with pytest.raises(SpecError, match="expected http"):
        ServerConfig(bad)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("http//127.0.0.1:8301", "http://127.0.0.1:8301"),
        ("https//host/comfy", "https://host/comfy"),
        ("http:/host:8188", "http://host:8188"),
        ("htp://host:8188", "http://host:8188"),
        ("htps://host", "https://host"),
        ("ws://host:8188", "http://host:8188"),
    ],
)
def test_a_mistyped_scheme_suggests_the_url_meant(typed: str, meant: str) -> None:
    with pytest.raises(SpecError) as err:
        ServerConfig(typed)
    assert f"did you mean {meant!r}?" in str(err.value)


@pytest.mark.parametrize("fine", ["localhost:8188", "http.example:8188", "hosts/comfy", "gpu1"])
def test_hosts_that_only_look_like_a_scheme_are_left_alone(fine: str) -> None:
    assert ServerConfig(fine).url == f"http://{fine}"


def test_headers_stay_out_of_reprs() -> None:
    server = ServerConfig("https://h", headers={"Authorization": "Bearer secret"})
    assert "secret" not in repr(server)


def test_env_expansion_names_the_missing_variable() -> None:
    assert expand_env("Bearer ${TOKEN}", env={"TOKEN": "t"}) == "Bearer t"
    with pytest.raises(SpecError, match="COMFY_TOKEN is not set.*servers.yaml"):
        expand_env("${COMFY_TOKEN}", where="servers.yaml", env={})


async def test_requests_go_below_the_prefix_with_the_headers() -> None:
    """A reverse proxy serving ComfyUI under /comfy, needing a token."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer t":
            return web.Response(status=401)
        if request.method == "POST":
            body = await request.json()
            assert body["client_id"] == "me"
            return web.json_response({"prompt_id": "p", "number": 1, "node_errors": {}})
        return web.json_response({"exec_info": {"queue_remaining": 3}})

    async with serving({"/comfy/prompt": answer}) as base:
        server = ServerConfig(f"{base}/comfy/", headers={"Authorization": "Bearer t"})
        async with ComfyClient(server, client_id="me") as client:
            assert await client.queue_remaining() == 3
            assert (await client.queue_prompt({"1": {}})).prompt_id == "p"
        async with ComfyClient(f"{base}/comfy") as anonymous:
            with pytest.raises(RequestRejected) as caught:
                await anonymous.queue_remaining()
            assert caught.value.status == 401
    assert [r.path for r in seen] == ["/comfy/prompt"] * 3


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url() -> None:
    server = ServerConfig("https://me:s%40cret@gpu1.example/comfy")
    assert server.url == "https://gpu1.example/comfy"
    assert server.name == "gpu1.example/comfy"
    assert server.ws_url("c") == "wss://gpu1.example/comfy/ws?clientId=c"
    assert server.headers["Authorization"] == "Basic bWU6c0BjcmV0"  # me:s@cret
    assert "cret" not in repr(server)


def test_an_explicit_authorization_header_wins_over_url_credentials() -> None:
    server = ServerConfig("http://me:pw@h:8188", headers={"Authorization": "Bearer t"})
    assert server.headers == {"Authorization": "Bearer t"}
    assert server.url == "http://h:8188"
