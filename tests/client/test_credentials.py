"""Credentials never leave in what is stored, printed or shown: not the password of a
``user:pass@`` URL, not a token a server echoes back in an error page."""

from __future__ import annotations

import asyncio
import base64
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from sweeps.client import ComfyClient
from sweeps.config import ServerConfig
from sweeps.errors import RequestRejected, SpecError
from sweeps.monitor import FleetMonitor
from sweeps.simulator import Simulator
from tests.client.servers import serving
from tests.sweeps.test_monitor import until
from tui.widgets.server_card import facts_line

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-3f9a1c77e2b84d0f"
PASSWORD = "hunter2-s3cret"


async def _echo_401(request: web.Request) -> web.Response:
    """A proxy that refuses, echoing the request's headers (some do, in debug pages)."""
    echoed = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
    auth = request.headers.get("Authorization", "")
    decoded = ""
    if auth.startswith("Basic "):
        decoded = base64.b64decode(auth[6:]).decode()
    return web.Response(
        status=401,
        text=f"Unauthorized. You sent:\n{echoed}\nas user {decoded}\ncookie: session=abcdef123456",
    )


@asynccontextmanager
async def refusing() -> AsyncIterator[str]:
    async with serving({"/{tail:.*}": _echo_401}) as url:
        yield url


@pytest.mark.parametrize(
    "server",
    [
        lambda url: ServerConfig(url, headers={"Authorization": f"Bearer {TOKEN}"}),
        lambda url: ServerConfig(url.replace("://", f"://alice:{PASSWORD}@")),
        lambda url: ServerConfig(url, headers={"X-API-Key": TOKEN}),
    ],
    ids=["bearer", "basic-from-url", "api-key"],
)
async def test_a_401_echoing_the_credentials_does_not_repeat_them(server) -> None:
    async with refusing() as url:
        config = server(url)
        secrets = [TOKEN, PASSWORD, *config.headers.values()]
        async with ComfyClient(config) as client:
            with pytest.raises(RequestRejected) as caught:
                await client.system_stats()
    error = caught.value
    assert error.status == 401 and "HTTP 401" in str(error)
    for secret in secrets:
        for text in (str(error), error.body):
            assert secret not in text
            assert secret.split(" ")[-1] not in text  # the token without 'Bearer '
    assert "abcdef123456" not in str(error) + error.body  # a cookie echoed back


def test_an_invalid_url_with_a_password_is_refused_without_showing_it() -> None:
    with pytest.raises(SpecError) as caught:
        ServerConfig(f"http://alice:{PASSWORD}@host:99999")
    assert PASSWORD not in str(caught.value) and "alice" in str(caught.value)


async def test_no_file_a_sweep_writes_holds_a_password_or_token(
    tmp_path: Path, sim: Simulator
) -> None:
    from sweeps.runner import run_sweep

    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path)
    spec = tmp_path / "spec.yaml"
    authed = sim.url.replace("://", f"://alice:{PASSWORD}@")
    spec.write_text(
        "name: secret\nworkflow: model_free.json\noutput: out\n"
        f"servers:\n  - url: {authed}\n    headers: {{X-Api-Key: {TOKEN}}}\n"
        "grid:\n  Noise.seed: [1, 2]\n"
    )
    result = await run_sweep(spec)
    assert result.progress.done == 2
    written = [p for p in result.out_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written)
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for path in written:
        data = path.read_bytes()
        for secret in (PASSWORD, TOKEN, basic):
            assert secret.encode() not in data, path


async def test_a_card_for_a_server_refusing_credentials_says_authentication_failed() -> None:
    async with refusing() as url, asyncio.TaskGroup() as group:
        monitor = FleetMonitor([ServerConfig(url)], poll_interval=0.1)
        watching = group.create_task(monitor.run())
        fleet = await until(monitor, lambda f: f.servers[0].link == "down")
        watching.cancel()
    line = facts_line(fleet.servers[0])
    assert "authentication failed" in line and "no answer yet" not in line, line
    assert fleet.servers[0].link_reason.startswith("authentication failed")
