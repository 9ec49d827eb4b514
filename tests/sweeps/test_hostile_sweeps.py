"""Whole sweeps against servers that misbehave: one server's trouble stays that server's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sweeps.config import Limits, ServerConfig, Timeouts
from sweeps.progress import SweepProgress
from sweeps.report import load_report
from sweeps.runner import run_sweep
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
                servers=[ServerConfig(s.url, timeouts=timeouts) for s in sims],
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
