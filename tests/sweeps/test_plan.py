"""What a plan says before anything runs: warnings about runs that will not mean much."""

from __future__ import annotations

import shutil
from pathlib import Path

from sweeps.runner import plan_sweep
from sweeps.simulator import Simulator

SAMPLES = Path(__file__).parents[2] / "sample_workflows"


def _spec(tmp_path: Path, body: str) -> Path:
    shutil.copy(SAMPLES / "model_free.json", tmp_path / "model_free.json")
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: repeats\nworkflow: model_free.json\n{body}")
    return path


async def test_repeating_a_single_prompt_warns_that_comfyui_answers_from_its_cache(
    tmp_path: Path, sim: Simulator
) -> None:
    plan = await plan_sweep(
        _spec(tmp_path, "repeat: 3\ngrid:\n  Noise.seed: [7]\n"), servers=[sim.url]
    )
    [warning] = plan.warnings()
    assert warning.startswith(f"{tmp_path / 'spec.yaml'}:3: repeat: 3 of a pass of 1 run(s)")
    assert "answers it from ComfyUI's cache" in warning


async def test_repeats_of_a_grid_larger_than_the_fleet_run_again(
    tmp_path: Path, sim: Simulator
) -> None:
    plan = await plan_sweep(
        _spec(tmp_path, "repeat: 3\ngrid:\n  Noise.seed: [1, 2]\n"), servers=[sim.url]
    )
    assert plan.warnings() == []


async def test_plan_and_sweep_print_the_warning(tmp_path: Path, sim: Simulator) -> None:
    from tests.test_cli import comfyfleet

    spec = _spec(tmp_path, "output: out\nrepeat: 2\ngrid:\n  Noise.seed: [7]\n")
    code, out, _ = await comfyfleet("plan", str(spec), "--server", sim.url)
    assert code == 0 and "warning:" in out and "from ComfyUI's cache" in " ".join(out.split())
    code, _, err = await comfyfleet("sweep", str(spec), "--server", sim.url)
    assert code == 0 and "from ComfyUI's cache" in " ".join(err.split())
