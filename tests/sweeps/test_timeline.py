"""The timeline: lanes per server, bars where runs executed, model reloads found in the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from sweeps.errors import SpecError
from sweeps.report import ReportWriter, RunRecord
from sweeps.timeline import plan_timeline, render_timeline
from tests.cli import comfyfleet

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _run(index: int, server: str, start: float, end: float, **fields: object) -> RunRecord:
    """A run on ``server`` that executed from ``start`` to ``end`` seconds after T0."""
    return RunRecord(
        run_id=f"r{index}",
        run_index=index,
        workflow="wf",
        repeat=0,
        params={"KSampler.seed": index},
        server=server,
        submitted_at=T0,
        started_at=T0 + timedelta(seconds=start),
        finished_at=T0 + timedelta(seconds=end),
        **fields,  # type: ignore[arg-type]
    )


LOAD = {"node_id": "4", "class_type": "CheckpointLoaderSimple", "seconds": 2.0}
SAMPLE = {"node_id": "3", "class_type": "KSampler", "seconds": 1.0}


@pytest.fixture
def report(tmp_path: Path) -> Path:
    with ReportWriter(tmp_path, addresses=["KSampler.seed"], sweep="lanes") as writer:
        writer.metadata["comfyfleet.sweep"] = '"lanes"'
        # gpu1 loads its checkpoint once, then runs from the cache; gpu2 idles 4 s.
        writer.append(
            _run(0, "gpu1", 0, 3, status="success", node_timings=(LOAD, SAMPLE), server_name="big")
        )
        writer.append(
            _run(
                1,
                "gpu1",
                3,
                4,
                status="success",
                node_timings=(SAMPLE, {**LOAD, "seconds": 0.0, "cached": True}),
                cached_nodes=("4",),
            )
        )
        writer.append(_run(2, "gpu2", 4, 5, status="failed", node_timings=(SAMPLE,)))
    return tmp_path


def test_lanes_bars_and_reloads(report: Path) -> None:
    timeline = plan_timeline(report)
    assert timeline.name == "lanes"
    assert timeline.lanes == ("gpu1", "gpu2")
    assert timeline.span == 5.0
    first, second = timeline.bars["gpu1"]
    assert (first.start, first.end, first.reload_s) == (0.0, 3.0, 2.0)
    assert (second.start, second.end, second.reload_s) == (3.0, 4.0, 0.0)
    [failed] = timeline.bars["gpu2"]
    assert failed.status == "failed" and failed.queued_at == 0.0
    assert timeline.busy("gpu1") == pytest.approx(0.8)
    assert timeline.busy("gpu2") == pytest.approx(0.2)
    assert (timeline.label("gpu1"), timeline.label("gpu2")) == ("big", "gpu2")


def test_render_writes_the_image(report: Path, tmp_path: Path) -> None:
    dest = render_timeline(plan_timeline(report), tmp_path / "plots" / "timeline.png")
    with Image.open(dest) as image:
        assert image.format == "PNG" and image.width > image.height > 100


def test_a_report_with_no_started_run_has_no_timeline(tmp_path: Path) -> None:
    with ReportWriter(tmp_path, addresses=["KSampler.seed"], sweep="x") as writer:
        writer.append(RunRecord("r0", 0, "wf", 0, {"KSampler.seed": 0}, "rejected", error_type="x"))
    with pytest.raises(SpecError, match="no run of this sweep has started"):
        plan_timeline(tmp_path)


async def test_report_plot_from_the_command_line(report: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t.svg"
    code, _, err = await comfyfleet("report", str(report), "--plot", str(dest))
    assert code == 0, err
    assert "big 80%" in err and "gpu2 20%" in err
    assert dest.read_text().lstrip().startswith("<?xml")
    code, _, err = await comfyfleet("report", str(report), "--plot", str(tmp_path / "t.nope"))
    assert code == 2 and "cannot write" in err
