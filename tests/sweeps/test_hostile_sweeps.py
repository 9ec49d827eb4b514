"""Whole sweeps against servers that misbehave: one server's trouble stays that server's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import polars as pl
from aiohttp import web

from sweeps.config import Limits, ServerConfig, Timeouts
from sweeps.progress import SweepProgress
from sweeps.report import load_report
from sweeps.runner import run_sweep
from sweeps.simulator import Simulator
from tests.client.servers import serving
from tests.sweeps.test_sweep_e2e import _history_size, _spec, fleet


async def test_a_file_over_the_size_cap_fails_its_run_and_a_resume_fetches_it(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1, 2]\n")
    async with fleet(0.0) as sims:
        capped = ServerConfig(sims[0].url, limits=Limits(max_download_bytes=10))
        first = await run_sweep(spec, servers=[capped])
        df = load_report(first.out_dir)
        assert df["status"].to_list() == ["failed", "failed"]
        assert set(df["error_type"].to_list()) == {"DownloadFailed"}
        assert "larger than 10 bytes" in df["error_message"][0]
        second = await run_sweep(spec, servers=[sims[0].url])
        executed = await _history_size(sims[0])
    assert second.progress.done == 2
    assert executed == 2  # fetched on resume, not paid for again


async def test_a_server_frozen_mid_sweep_has_its_runs_moved_in_seconds(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "grid:\n  Noise.seed: {range: [0, 6]}\n")
    timeouts = Timeouts(connect=1.0, read=1.0, probe=0.2, silence=1.0)
    async with fleet(0.05, 0.0) as sims:
        frozen, healthy = sims

        def freeze_once_busy(progress: SweepProgress) -> None:
            if progress.servers[frozen.url].running and not frozen.faults.hang_http:
                frozen.faults.stall_worker = True  # SIGSTOP: nothing runs, nothing answers
                frozen.faults.hang_http = True

        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await asyncio.wait_for(
            run_sweep(
                spec,
                servers=[ServerConfig(frozen.url, timeouts=timeouts), healthy.url],
                on_progress=freeze_once_busy,
            ),
            60,
        )
        elapsed = loop.time() - started
        frozen.faults.clear()
    df = load_report(result.out_dir)
    assert (result.progress.done, df.height) == (6, 6)
    assert df["status"].unique().to_list() == ["success"]
    assert healthy.url in df["server"].to_list()
    assert elapsed < 30


@asynccontextmanager
async def garbling_history(sim: Simulator) -> AsyncIterator[str]:
    """A proxy in front of ``sim`` whose /history/ID answers an HTML page; no websocket."""

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.path.removeprefix("/api").startswith("/history/"):
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        if request.path.endswith("/ws"):
            raise web.HTTPNotFound()
        async with httpx.AsyncClient() as http:
            answer = await http.request(
                request.method,
                sim.url + request.path_qs,
                content=await request.read(),
                headers={"content-type": request.headers.get("content-type", "")},
            )
        kind = answer.headers.get("content-type", "application/json")
        return web.Response(
            status=answer.status_code,
            body=answer.content,
            content_type=None,
            headers={"content-type": kind},
        )

    async with serving({"/{tail:.*}": forward}) as url:
        yield url


async def test_one_server_answering_non_json_history_does_not_stop_the_fleet(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, "grid:\n  Noise.seed: {range: [0, 4]}\n")
    async with fleet(0.0, 0.0) as sims, garbling_history(sims[0]) as garbled:
        result = await asyncio.wait_for(run_sweep(spec, servers=[garbled, sims[1].url]), 60)
    df = load_report(result.out_dir)
    assert df.height == 4 and result.progress.remaining == 0
    done = df.filter(pl.col("status") == "success")
    assert set(done["server"].to_list()) == {sims[1].url}
    for row in df.filter(pl.col("status") != "success").iter_rows(named=True):
        assert row["server"] == garbled and row["error_type"] == "ProtocolError"
        assert "HTML page" in row["error_message"]


def test_a_server_config_given_among_urls_keeps_its_timeouts_and_limits(tmp_path: Path) -> None:
    from sweeps.runner import sweep_servers
    from sweeps.spec import load_spec

    spec = load_spec(_spec(tmp_path, "grid:\n  Noise.seed: [1]\n"))
    tuned = ServerConfig("http://a:1", timeouts=Timeouts(silence=1.0), limits=Limits(10))
    servers = sweep_servers(spec, [tuned, "http://b:2, http://a:1"])
    assert [s.url for s in servers] == ["http://a:1", "http://b:2"]
    assert servers[0] is tuned
