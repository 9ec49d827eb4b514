"""Sweep progress snapshots: what progress bars and the sweep panel derive."""

from __future__ import annotations

from sweeps.progress import ServerProgress, SweepProgress


def test_sweep_progress_rate_and_eta() -> None:
    p = SweepProgress(
        "s",
        total=100,
        done=20,
        failed=5,
        skipped=10,
        started=0.0,
        now=300.0,
        servers={"a": ServerProgress(done=15), "b": ServerProgress(done=5)},
    )
    assert p.remaining == 65
    assert p.rate == 25 / 300
    assert p.eta == 65 / (25 / 300)
    assert p.server_rate("a") == 15 / 300
    assert p.server_rate("c") is None
    assert SweepProgress("s", total=3).rate is None and SweepProgress("s", total=3).eta is None
