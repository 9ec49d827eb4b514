"""ComfyUI behind reverse proxies: path prefixes, /api, auth, HTML error pages, redirects.

The REST cases use httpx's MockTransport; the websocket cases a small aiohttp
server; the end-to-end case puts the simulator behind an aiohttp proxy that
wants a token and forwards no websockets.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import WSMsgType, web

from sweeps.client import ComfyClient
from sweeps.config import ServerConfig
from sweeps.connection import ServerConnection
from sweeps.errors import (
    PromptRejected,
    ProtocolError,
    RequestRejected,
    ServerFailed,
    ServerUnreachable,
)
from sweeps.events import PreviewImage, SocketOpened, Status
from sweeps.simulator import SimConfig, Simulator
from tests.client.servers import Route, serving
from tests.client.test_against_simulator import MODEL_FREE

Handler = Callable[[httpx.Request], httpx.Response]
QUEUE = {"exec_info": {"queue_remaining": 2}}


@asynccontextmanager
async def mocked(
    handler: Handler, url: str = "https://host/comfy/", **config: object
) -> AsyncIterator[tuple[ComfyClient, list[httpx.Request]]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        server = ServerConfig(url, **config)  # type: ignore[arg-type]
        yield ComfyClient(server, http=http, client_id="me"), seen


def paths(seen: list[httpx.Request]) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in seen]


# -- the /api prefix ------------------------------------------------------


async def test_routes_go_under_api_below_the_prefix() -> None:
    """The frontend calls /api/...; a proxy set up for it surely forwards those."""

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/comfy/api/prompt":
            return httpx.Response(200, json=QUEUE)
        return httpx.Response(404, text="404: Not Found")

    async with mocked(server) as (client, seen):
        assert await client.queue_remaining() == 2
        assert await client.queue_remaining() == 2
    assert paths(seen) == ["GET /comfy/api/prompt"] * 2
    assert seen[0].url.host == "host" and seen[0].url.scheme == "https"


async def test_a_server_without_api_is_asked_bare_and_remembered() -> None:
    """A ComfyUI from before the /api prefix, or a proxy mapping only bare paths."""

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/comfy/api/"):
            return httpx.Response(404, text="404: Not Found")
        if request.url.path == "/comfy/prompt":
            return httpx.Response(200, json=QUEUE)
        if request.url.path == "/comfy/history/p1":
            return httpx.Response(200, json={})
        return httpx.Response(404)

    async with mocked(server) as (client, seen):
        assert await client.queue_remaining() == 2
        assert await client.get_history_entry("p1") is None
    assert paths(seen) == [
        "GET /comfy/api/prompt",
        "GET /comfy/prompt",
        "GET /comfy/history/p1",
    ]


async def test_jobs_keep_their_own_api_path() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        page = {"offset": 0, "limit": None, "total": 0, "has_more": False}
        return httpx.Response(200, json={"jobs": [], "pagination": page})

    async with mocked(server) as (client, seen):
        await client.jobs()
    assert paths(seen) == ["GET /comfy/api/jobs"]


async def test_a_wrong_base_url_says_so() -> None:
    async with mocked(lambda r: httpx.Response(404, text="Not Found")) as (client, seen):
        with pytest.raises(RequestRejected) as caught:
            await client.system_stats()
    assert caught.value.status == 404
    assert "https://host/comfy has no /system_stats route" in str(caught.value)
    assert paths(seen) == ["GET /comfy/api/system_stats", "GET /comfy/system_stats"]


async def test_names_with_odd_characters_are_quoted_into_one_path_segment() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    async with mocked(server) as (client, seen):
        await client.object_info("Image Resize (rgthree) / v2?")
        await client.get_history_entry("a/b")
    assert [r.url.raw_path.decode() for r in seen] == [
        "/comfy/api/object_info/Image%20Resize%20%28rgthree%29%20%2F%20v2%3F",
        "/comfy/api/history/a%2Fb",
    ]


# -- auth, HTML pages, redirects -----------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_refusal_names_the_server_and_suggests_headers(status: int) -> None:
    page = "<html><head><title>Authorization Required</title></head><body>nginx</body></html>"

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=page, headers={"content-type": "text/html"})

    async with mocked(proxy) as (client, _):
        with pytest.raises(RequestRejected) as anonymous:
            await client.queue_prompt(MODEL_FREE)
    message = str(anonymous.value)
    assert anonymous.value.status == status
    assert "https://host/comfy" in message and f"HTTP {status}" in message
    assert "Authorization Required" in message and "<html>" not in message
    assert "headers" in message and "Authorization: Bearer" in message
    assert not isinstance(anonymous.value, PromptRejected)

    async with mocked(proxy, headers={"Authorization": "Bearer wrong"}) as (client, seen):
        with pytest.raises(RequestRejected) as wrong:
            await client.system_stats()
    assert seen[0].headers["Authorization"] == "Bearer wrong"
    assert "headers given (Authorization) were not accepted" in str(wrong.value)
    assert "wrong" not in str(wrong.value)


async def test_a_proxys_html_502_is_a_server_failure_with_a_readable_message() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
        "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
        "</body></html>" + "<!-- padding -->" * 50
    )

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text=page, headers={"content-type": "text/html"})

    async with mocked(proxy) as (client, _):
        with pytest.raises(ServerFailed) as caught:
            await client.get_history()
    message = str(caught.value)
    assert caught.value.status == 502
    assert "HTTP 502 Bad Gateway" in message and "proxy" in message
    assert "<" not in message and "padding" not in message


async def test_a_login_page_answered_with_200_is_named_as_html() -> None:
    page = "<html><head><title>Sign in - Example SSO</title></head><body>form</body></html>"

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=page, headers={"content-type": "text/html; charset=utf-8"})

    async with mocked(proxy) as (client, _):
        with pytest.raises(ProtocolError) as caught:
            await client.system_stats()
    message = str(caught.value)
    assert "HTML page (Sign in - Example SSO)" in message
    assert "headers" in message and "prefix" in message


async def test_redirects_are_followed_for_reads() -> None:
    """http to https, as proxies do; the path prefix survives."""

    def proxy(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            target = request.url.copy_with(scheme="https")
            return httpx.Response(308, headers={"location": str(target)})
        return httpx.Response(200, json=QUEUE)

    async with mocked(proxy, url="http://host/comfy") as (client, seen):
        assert await client.queue_remaining() == 2
    assert [str(r.url) for r in seen] == [
        "http://host/comfy/api/prompt",
        "https://host/comfy/api/prompt",
    ]


async def test_a_post_turned_into_a_get_by_a_redirect_is_refused_clearly() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        if request.url.host == "host":
            return httpx.Response(302, headers={"location": "https://new-host/comfy/api/prompt"})
        return httpx.Response(200, json=QUEUE)  # what GET /prompt answers

    async with mocked(proxy) as (client, _):
        with pytest.raises(RequestRejected) as caught:
            await client.queue_prompt(MODEL_FREE)
    message = str(caught.value)
    assert "redirected (HTTP 302) to https://new-host/comfy/api/prompt" in message
    assert "server URL" in message


async def test_a_redirect_loop_is_a_protocol_error_not_an_httpx_one() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": str(request.url)})

    async with mocked(proxy) as (client, _):
        with pytest.raises(ProtocolError, match="redirected in a loop"):
            await client.system_stats()


async def test_download_under_api_and_bare(tmp_path) -> None:
    from sweeps.models import OutputFile

    def modern(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/comfy/api/view"
        return httpx.Response(200, content=b"png")

    def ancient(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/comfy/view":
            return httpx.Response(200, content=b"png")
        return httpx.Response(404)

    for server in (modern, ancient):
        async with mocked(server) as (client, _):
            dest = await client.download(OutputFile("a.png"), tmp_path / server.__name__)
            assert dest.read_bytes() == b"png"
            await client.download(OutputFile("a.png"), tmp_path / server.__name__)


# -- the websocket ---------------------------------------------------------


def comfy_socket(
    *, sid: bool = True, frames: tuple[bytes, ...] = (), seen: list[web.Request] | None = None
) -> Route:
    """A /ws that greets like ComfyUI, optionally sends binary frames, then idles."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        data: dict[str, object] = {"status": {"exec_info": {"queue_remaining": 0}}}
        if sid:
            data["sid"] = request.query["clientId"]
        await ws.send_json({"type": "status", "data": data})
        for frame in frames:
            await ws.send_bytes(frame)
        async for message in ws:
            if message.type is WSMsgType.CLOSE:
                break
        return ws

    return handler


async def first_events(client: ComfyClient, count: int) -> list[object]:
    events: list[object] = []
    stream = client.events(reconnect=False)
    async with asyncio.timeout(10):
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    await stream.aclose()
    return events


async def test_the_socket_follows_the_prefix_and_carries_the_headers() -> None:
    seen: list[web.Request] = []
    async with serving({"/comfy/ws": comfy_socket(seen=seen)}) as base:
        server = ServerConfig(f"{base}/comfy/", headers={"Authorization": "Bearer t"})
        async with ComfyClient(server, client_id="me") as client:
            events = await first_events(client, 2)
    assert events[0] == SocketOpened("me", server=server.url)
    assert isinstance(events[1], Status)
    assert seen[0].query["clientId"] == "me"
    assert seen[0].headers["Authorization"] == "Bearer t"


async def test_a_proxy_that_forwards_only_api_gets_api_ws() -> None:
    async with serving({"/comfy/api/ws": comfy_socket()}) as base:
        async with ComfyClient(f"{base}/comfy", client_id="me") as client:
            events = await first_events(client, 2)
            assert client.ws_api_prefix
    assert events[0] == SocketOpened("me", server=f"{base}/comfy")


async def test_socket_opened_does_not_depend_on_the_greetings_sid() -> None:
    async with serving({"/ws": comfy_socket(sid=False)}) as base:
        async with ComfyClient(base, client_id="me") as client:
            events = await first_events(client, 2)
    assert events[0] == SocketOpened("me", server=base)


async def test_frames_far_over_websockets_default_limit_arrive() -> None:
    """websockets refuses frames over 1 MiB by default; a big preview is bigger."""
    image = b"\xff\xd8" + bytes(3 * 1024 * 1024)
    meta = json.dumps({"node_id": "5", "prompt_id": "p", "image_type": "image/jpeg"}).encode()
    frame = struct.pack(">II", 4, len(meta)) + meta + image
    async with serving({"/ws": comfy_socket(frames=(frame,))}) as base:
        async with ComfyClient(base, client_id="me") as client:
            events = await first_events(client, 3)
    preview = events[2]
    assert isinstance(preview, PreviewImage)
    assert preview.image == image and preview.node_id == "5"


async def test_a_socket_refused_by_an_auth_proxy_says_what_to_do() -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401, text="no")

    async with serving({"/ws": refuse, "/api/ws": refuse}) as base:
        async with ComfyClient(base) as client:
            with pytest.raises(ServerUnreachable) as caught:
                await first_events(client, 1)
    message = str(caught.value)
    assert f"websocket ws{base[4:]}/ws was refused with HTTP 401" in message
    assert "headers" in message and "clientId" not in message


# -- end to end behind a proxy -------------------------------------------------


@asynccontextmanager
async def token_proxy(upstream: str, token: str) -> AsyncIterator[str]:
    """An HTTP-only reverse proxy at /comfy/ that wants a bearer token (no websockets)."""
    async with httpx.AsyncClient() as http:

        async def forward(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {token}":
                return web.Response(status=401, text="<html><title>401</title></html>")
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return web.Response(status=404, text="<html><title>404</title></html>")
            answer = await http.request(
                request.method,
                upstream + "/" + request.match_info["tail"],
                params=request.query,
                content=await request.read(),
                headers={"content-type": request.headers.get("content-type", "")},
            )
            return web.Response(
                status=answer.status_code,
                body=answer.content,
                headers={"content-type": answer.headers.get("content-type", "text/plain")},
            )

        async with serving({"/comfy/{tail:.*}": forward}) as base:
            yield f"{base}/comfy/"


async def test_a_prompt_behind_a_proxy_without_websockets_completes_by_polling() -> None:
    async with Simulator(SimConfig(speed=0.0)) as sim, token_proxy(sim.url, "t") as url:
        server = ServerConfig(url, headers={"Authorization": "Bearer t"})
        connection = ServerConnection(server, poll_interval=0.02)
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(connection.listen())
            # The socket cannot open, and the submission does not wait out its timeout.
            outcome = await asyncio.wait_for(connection.run_prompt(MODEL_FREE), 5)
            listener.cancel()
        await connection.client.aclose()
    assert outcome.status == "success"
    assert [f.node_id for f in outcome.outputs] == ["4"]
    assert not connection.connected.is_set()


async def test_a_socket_registered_under_another_id_takes_that_id() -> None:
    """A proxy that drops the query string: the server picks the sid itself."""

    async def own_sid(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        status = {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "server-chosen"}
        await ws.send_json({"type": "status", "data": status})
        async for _ in ws:
            pass
        return ws

    async with serving({"/ws": own_sid}) as base:
        async with ComfyClient(base, client_id="mine") as client:
            events = await first_events(client, 1)
            assert client.client_id == "server-chosen"
    assert events == [SocketOpened("server-chosen", server=base)]
