"""The report's promise under group commit: a run reported finished is on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sweeps.errors import ReportUnwritable
from sweeps.report import ReportWriter, RunRecord, Submission, load_report
from sweeps.simulator import SimConfig, Simulator

REPO = Path(__file__).resolve().parents[2]

# The child prints what its progress display would show: the finished count and
# the latest outputs, each time the count changes.
CHILD = """
import asyncio, sys
from sweeps.runner import run_sweep

shown = [0]

def show(progress):
    if progress.done != shown[0]:
        shown[0] = progress.done
        print(progress.done, *progress.latest_outputs, flush=True)

asyncio.run(run_sweep(sys.argv[1], servers=sys.argv[2:], on_progress=show))
"""


async def test_every_run_shown_finished_survives_a_kill(tmp_path: Path) -> None:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path / "model_free.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: kill\nworkflow: model_free.json\noutput: out\n"
        "grid:\n  Noise.seed: {range: [0, 400]}\n"
    )
    shown: list[tuple[int, list[str]]] = []
    async with Simulator(SimConfig(speed=0.0, seed=1)) as a, Simulator(SimConfig(speed=0.0)) as b:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(spec),
            a.url,
            b.url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert child.stdout is not None
        async with asyncio.timeout(60):
            while not shown or shown[-1][0] < 40:
                line = await child.stdout.readline()
                assert line, "the sweep ended before it could be killed"
                done, *outputs = line.decode().split()
                shown.append((int(done), outputs))
        child.send_signal(signal.SIGKILL)  # mid-sweep: no finally, no close, no flush
        await child.wait()
    out = tmp_path / "out"
    with ReportWriter(out) as report:
        succeeded = report.succeeded()
    df = load_report(out)
    assert df.height < 400, "the kill came too late to test anything"
    saved = {
        str(out / o["path"])
        for status, outs in zip(df["status"], df["outputs"].to_list(), strict=True)
        if status == "success"
        for o in outs
    }
    assert len(succeeded) >= shown[-1][0]
    for _, outputs in shown:
        assert set(outputs) <= saved


def _record(index: int) -> RunRecord:
    return RunRecord(
        run_id=f"id{index}", run_index=index, workflow="wf", repeat=0, params={}, status="success"
    )


async def test_concurrent_commits_share_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    async with ReportWriter(tmp_path) as report:
        real = report._write_lines

        def counted(lines: list[str]) -> None:
            writes.append(len(lines))
            real(lines)

        monkeypatch.setattr(report, "_write_lines", counted)
        async with asyncio.TaskGroup() as group:
            for i in range(50):
                group.create_task(report.commit(_record(i)))
        assert sum(writes) == 50
        assert len(writes) <= 2  # the first commit's batch, then everyone who queued meanwhile
        assert report.succeeded() == {f"id{i}" for i in range(50)}


async def test_a_full_disk_stops_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ReportWriter(tmp_path) as report:

        def full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        submission = Submission("id0", 0, "wf", 0, {}, "http://a", "p0", datetime.now(UTC))
        with pytest.raises(ReportUnwritable, match="No space left on device.*resume"):
            await report.commit(submission)
        with pytest.raises(ReportUnwritable):  # and every later commit, at once
            await report.commit(_record(1))
        monkeypatch.undo()  # closing writes the (empty) report
