"""The command line as a user runs it: output and exit codes (0 ok, 1 failures, 2 bad input)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from sweeps.simulator import SimConfig, Simulator

REPO = Path(__file__).resolve().parents[1]


async def comfyfleet(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sweeps.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _spec(tmp_path: Path, grid: str) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path / "model_free.json")
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: cli\nworkflow: model_free.json\noutput: out\ngrid:\n{grid}")
    return path


@pytest.fixture
async def sim():
    async with Simulator(SimConfig(speed=0.0)) as simulator:
        yield simulator


async def test_plan_then_sweep_then_report(tmp_path: Path, sim: Simulator) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2, 3]\n")
    code, out, _ = await comfyfleet("plan", str(spec), "--server", sim.url)
    assert code == 0
    assert "cli: 3 runs" in out and "valid: every run can be served" in out
    code, out, err = await comfyfleet("sweep", str(spec), "--server", sim.url)
    assert code == 0, out
    assert "3 succeeded, 0 failed" in out
    assert err.endswith("\n")  # the progress display ends its line, even in a log file
    code, out, _ = await comfyfleet("report", str(tmp_path / "out"))
    assert code == 0 and "cli: 3 runs (3 success)" in out


async def test_failed_runs_exit_1(tmp_path: Path, sim: Simulator) -> None:
    sim.faults.fail_class("ImageBlur")
    code, out, _ = await comfyfleet(
        "sweep", str(_spec(tmp_path, "  Noise.seed: [1]\n")), "-s", sim.url
    )
    assert code == 1
    assert "0 succeeded, 1 failed" in out


async def test_bad_input_exits_2_before_anything_is_queued(tmp_path: Path, sim: Simulator) -> None:
    spec = _spec(tmp_path, "  Blur.blur_radius: [1, 99]\n")
    for command in ("plan", "sweep"):
        code, out, err = await comfyfleet(command, str(spec), "--server", sim.url)
        assert code == 2, (out, err)
        assert "Blur.blur_radius = 99" in out + err
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: x\nworkflow: model_free.json\ngird: {}\n")
    code, _, err = await comfyfleet("sweep", str(typo), "--server", sim.url)
    assert code == 2 and "typo.yaml:3" in err and "did you mean 'grid'" in err
    async with httpx.AsyncClient() as http:  # the simulator saw no prompt
        assert (await http.get(f"{sim.url}/history")).json() == {}


async def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    code, _, err = await comfyfleet(
        "sweep", str(_spec(tmp_path, "  Noise.seed: [1]\n")), "--server", "http://127.0.0.1:9"
    )
    assert code == 1 and "no server is reachable" in err
