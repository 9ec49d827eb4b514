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


async def test_a_fleet_of_two_comfyui_versions_routes_each_run_where_it_can_run(
    tmp_path: Path,
) -> None:
    """A checkpoint only the 0.33 server has: the plan shows who can run what, and the
    sweep sends those runs there only; the others go anywhere."""
    from sweeps.report import load_report
    from sweeps.runner import run_sweep
    from sweeps.simulator import SimConfig
    from tests.test_cli import comfyfleet

    shutil.copy(SAMPLES / "txt2img_sd15.json", tmp_path / "wf.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: versions\nworkflow: wf.json\noutput: out\ngrid:\n"
        "  Load Checkpoint.ckpt_name: [random-sd15-a.safetensors, only-new.safetensors]\n"
        "  KSampler.seed: [1, 2, 3, 4]\n"
    )
    old_config = SimConfig(speed=0.0, comfy_version="0.8.0")
    new_config = SimConfig(speed=0.0, extra_checkpoints=("only-new.safetensors",))
    async with Simulator(old_config) as old, Simulator(new_config) as new:
        code, out, _ = await comfyfleet("plan", str(spec), "--server", old.url, "--server", new.url)
        rows = {line.split()[1]: line.split()[3:] for line in out.splitlines() if "│ http" in line}
        result = await run_sweep(spec, servers=[old.url, new.url])
    assert code == 0 and "what the servers can run" in out and "only-new.safetensors" in out
    assert rows == {old.url: ["0.8.0", "│", "✗", "│"], new.url: ["0.33.0", "│", "✓", "│"]}
    df = load_report(result.out_dir)
    assert df.height == 8 and set(df["status"]) == {"success"}
    needing_new = df.filter(df["Load Checkpoint.ckpt_name"] == "only-new.safetensors")
    assert needing_new.height == 4 and set(needing_new["server"]) == {new.url}


async def test_a_fleet_alike_shows_no_capability_table(tmp_path: Path, sim: Simulator) -> None:
    from tests.test_cli import comfyfleet

    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1, 2]\n")
    code, out, _ = await comfyfleet("plan", str(spec), "--server", sim.url, "--server", sim.url)
    assert code == 0 and "what the servers can run" not in out
