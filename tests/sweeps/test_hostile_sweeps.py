"""Whole sweeps against servers that misbehave: one server's trouble stays that server's."""

from __future__ import annotations

from pathlib import Path

from sweeps.config import Limits, ServerConfig
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
