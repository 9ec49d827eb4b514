"""Replay recorded HTTP exchanges through httpx's MockTransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from sweeps.client import ComfyClient
from tests.traces import HttpExchange

AIOHTTP_500 = b"500 Internal Server Error\n\nServer got itself in trouble"


def _body(exchange: HttpExchange) -> tuple[bytes, dict[str, str]]:
    if exchange.is_json:
        return json.dumps(exchange.response).encode(), {"content-type": "application/json"}
    size = exchange.response["_bytes"]
    kind = exchange.response["_content_type"] or "application/octet-stream"
    if exchange.status == 500 and kind.startswith("text/plain"):
        assert len(AIOHTTP_500) == size
        return AIOHTTP_500, {"content-type": kind}
    return b"\x89PNG" + b"\0" * max(0, size - 4) if size else b"", {"content-type": kind}


class Replay:
    """Answers each request with the next recorded exchange for its method and path."""

    def __init__(self, exchanges: Iterable[HttpExchange]) -> None:
        self.pending = list(exchanges)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = request.url.raw_path.decode()
        for i, exchange in enumerate(self.pending):
            if exchange.method == request.method and _same_path(exchange.path, target):
                del self.pending[i]
                body, headers = _body(exchange)
                return httpx.Response(exchange.status, content=body, headers=headers)
        raise AssertionError(f"no recorded answer for {request.method} {target}")


def _same_path(recorded: str, sent: str) -> bool:
    """Same route and query; an empty parameter counts as absent, as ComfyUI reads it.

    Every route exists bare and under ``/api`` (PROTOCOL 1.1), so either form matches.
    """
    a, b = urlsplit(recorded), urlsplit(sent)
    return _bare(a.path) == _bare(b.path) and sorted(parse_qsl(a.query)) == sorted(
        parse_qsl(b.query)
    )


def _bare(path: str) -> str:
    return path if path.startswith("/api/jobs") else path.removeprefix("/api")


Factory = Callable[[Iterable[HttpExchange]], tuple[ComfyClient, Replay]]


@pytest.fixture
async def replay_client() -> AsyncIterator[Factory]:
    """A client whose HTTP answers come from recorded exchanges."""
    opened: list[httpx.AsyncClient] = []

    def make(exchanges: Iterable[HttpExchange]) -> tuple[ComfyClient, Replay]:
        replay = Replay(exchanges)
        http = httpx.AsyncClient(transport=httpx.MockTransport(replay))
        opened.append(http)
        return ComfyClient("http://comfy.test:8188", http=http, client_id="cid"), replay

    yield make
    for http in opened:
        await http.aclose()
