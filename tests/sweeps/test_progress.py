"""Sweep progress snapshots: what progress bars and the sweep panel derive."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from sweeps.cli.console import progress_line, sweep_progress
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


def test_a_placed_sweep_counts_down_from_its_plan() -> None:
    p = SweepProgress(
        "s",
        total=100,
        done=50,
        started=0.0,
        now=10.0,
        planned={"a": 30.0, "b": 12.0},
        planned_at=4.0,
    )
    assert p.eta == 24.0  # the last server's share, less the 6 s since it was planned
    assert p.server_eta("b") == 6.0
    assert p.server_eta("c") is None
    assert replace(p, now=100.0).eta == 0.0
    assert replace(p, planned={}).eta == 50 / (50 / 10)  # not placed: the rate


def _console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=160, color_system=None), out


def _snapshot(now: float, done: int, **servers: ServerProgress) -> SweepProgress:
    return SweepProgress("sweep", total=30, done=done, started=0.0, now=now, servers=servers)


def test_the_terminal_display_ends_on_the_final_snapshot() -> None:
    """Snapshots come faster than the display redraws; the last one must still show."""
    console, out = _console(terminal=True)
    with sweep_progress(console, "sweep") as bar:
        bar.update(_snapshot(1.0, 8, a=ServerProgress(name="gpu1", done=8, running=2)))
        final = _snapshot(2.0, 9, a=ServerProgress(name="gpu1", done=9, retried=2))
        bar.update(replace(final, finished=True))
    last_frame = out.getvalue().rsplit("\x1b[2K", 1)[-1]
    assert "9/30" in last_frame
    assert "running 0" in last_frame
    # Runs it lost to others, not retries it made: the old "retried 2" read as the latter.
    assert "gave 2 to others" in last_frame and "retried" not in last_frame


def test_the_terminal_display_says_a_server_is_down() -> None:
    console, out = _console(terminal=True)
    down = ServerProgress(name="gpu2", done=1, running=2, down_since=4.0)
    with sweep_progress(console, "sweep") as bar:
        bar.update(_snapshot(16.0, 5, a=ServerProgress(name="gpu1", done=4), b=down))
    last_frame = out.getvalue().rsplit("\x1b[2K", 1)[-1]
    (line,) = [line for line in last_frame.splitlines() if "gpu2" in line]
    assert "running 2" in line and line.endswith("down 0:12, reconnecting")


def test_plain_progress_prints_a_line_every_interval_and_on_each_server_change() -> None:
    """Not a terminal (a pipe, nohup, CI): Rich's live display would print nothing
    until the end, so plain lines are printed instead."""
    console, out = _console(terminal=False)
    a, b = ServerProgress(name="gpu1"), ServerProgress(name="gpu2")
    with sweep_progress(console, "sweep", interval=10.0) as bar:
        assert bar.plain
        bar.update(_snapshot(0.0, 0, a=a, b=b))
        bar.update(_snapshot(5.0, 3, a=a, b=b))  # not yet due
        bar.update(_snapshot(12.0, 6, a=a, b=b))
        bar.update(_snapshot(13.0, 7, a=a, b=replace(b, down_since=13.0, running=2)))
        bar.update(_snapshot(15.0, 8, a=a, b=replace(b, down_since=13.0, running=2)))
        bar.update(_snapshot(18.0, 9, a=a, b=replace(b, retried=2)))
        bar.tick(30.0)  # no snapshot for a while: the line comes anyway
        bar.update(_snapshot(31.0, 10, a=replace(a, done=10), b=replace(b, retried=2)))
    assert out.getvalue().splitlines() == [
        "sweep: 0/30 done",
        "sweep: 6/30 done, 0.50 runs/s, ETA 0:48",
        "sweep: 7/30 done, 0.54 runs/s, ETA 0:43; gpu2 down 0:00, reconnecting",
        "sweep: 9/30 done, 0.50 runs/s, ETA 0:42; gpu2 back up",
        "sweep: 9/30 done, 0.30 runs/s, ETA 1:10",
        "sweep: 10/30 done, 0.32 runs/s, ETA 1:02",
        "  gpu1: done 10, failed 0, running 0",
        "  gpu2: done 0, failed 0, running 0, gave 2 to others",
    ]


def test_progress_line_rates_and_clocks() -> None:
    slow = SweepProgress("s", total=100, done=2, failed=1, started=0.0, now=60.0)
    assert progress_line(slow) == "s: 3/100 done, 1 failed, 3.0 runs/min, ETA 32:20"
    slower = replace(slow, total=400, now=3600.0)
    assert progress_line(slower) == "s: 3/400 done, 1 failed, 0.1 runs/min, ETA 132:20:00"
    fast = SweepProgress("s", total=100, done=50, skipped=10, started=0.0, now=20.0)
    assert progress_line(fast) == "s: 50/90 done, 10 done before, 2.5 runs/s, ETA 0:16"
