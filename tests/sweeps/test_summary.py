"""`comfyfleet report`: a finished sweep summarized from its report."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from sweeps.cli import main
from sweeps.report import load_report
from sweeps.runner import run_sweep
from sweeps.simulator import SimConfig, Simulator
from sweeps.summary import summarize

REPO = Path(__file__).resolve().parents[2]

SPEC = """name: summary-test
workflow: model_free.json
output: out
grid:
  Noise.seed: [1, 2, 3, 4]
  Blur.blur_radius: [1, 3]
include:
  - {Blur.blur_radius: 5}
"""


async def _sweep(tmp_path: Path) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path / "model_free.json")
    (tmp_path / "spec.yaml").write_text(SPEC)
    async with Simulator(SimConfig(speed=0.0)) as sim:
        sim.faults.fail_probability = 0.3
        result = await run_sweep(tmp_path / "spec.yaml", servers=[sim.url])
    return result.out_dir


async def test_summary_counts_and_values(tmp_path: Path) -> None:
    out = await _sweep(tmp_path)
    df = load_report(out)
    # The include leaves the seed alone: the report holds the workflow's own seed.
    assert df["Noise.seed"].null_count() == 0
    assert df.filter(df["Blur.blur_radius"] == 5)["Noise.seed"].to_list() == [0]

    summary = summarize(out)
    assert summary.name == "summary-test"
    assert summary.runs == 9
    assert sum(summary.by_status.values()) == 9
    failed = summary.by_status.get("failed", 0)
    assert failed == sum(v.failed for v in summary.by_address["Blur.blur_radius"])
    assert [v.value for v in summary.by_address["Blur.blur_radius"]] == [1, 3, 5]
    assert [v.runs for v in summary.by_address["Blur.blur_radius"]] == [4, 4, 1]
    assert len(summary.failures) == failed
    assert "EmptyImage" in {t[0] for t in summary.slowest_nodes}
    assert summary.servers[0][2] == 9


async def test_report_command(tmp_path: Path) -> None:
    out = await _sweep(tmp_path)
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "summary-test: 9 runs" in result.output
    assert "Blur.blur_radius" in result.output
    missing = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert missing.exit_code == 2
    assert "report.parquet not found" in missing.output
