"""The command line as a user runs it: output and exit codes (0 ok, 1 failures, 2 bad input)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from sweeps.simulator import SimConfig, Simulator
from tests.cli import comfyfleet

REPO = Path(__file__).resolve().parents[1]


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
    code, out, err = await comfyfleet("sweep", str(spec), "--server", f"gpu1={sim.url}")
    assert code == 0, out
    assert "3 succeeded, 0 failed" in out
    assert err.endswith("\n")  # the progress display ends its line, even in a log file
    code, out, _ = await comfyfleet("report", str(tmp_path / "out"))
    assert code == 0 and "cli: 3 runs (3 success)" in out
    assert f"gpu1 ({sim.url})" in out  # the server's name, as the servers list gives it
    code, out, _ = await comfyfleet("report", str(tmp_path / "out"), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["name"] == "cli" and summary["by_status"] == {"success": 3}
    assert [(s["server"], s["url"], s["runs"]) for s in summary["servers"]] == [
        ("gpu1", sim.url, 3)
    ]
    assert [v["value"] for v in summary["by_address"]["Noise.seed"]] == [1, 2, 3]


async def test_plan_prints_an_eta_once_the_fleet_has_run_the_workflow(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: {range: [0, 6]}\n")
    code, out, _ = await comfyfleet("plan", str(spec), "--server", sim.url)
    assert code == 0 and "ETA: unknown until these servers have run" in out
    code, _, _ = await comfyfleet("sweep", str(spec), "--server", sim.url)
    assert code == 0
    bigger = _spec(tmp_path, "  Noise.seed: {range: [100, 160]}\n")
    code, out, _ = await comfyfleet("plan", str(bigger), "--server", sim.url)
    assert code == 0
    lines = out.splitlines()
    total = next(i for i, line in enumerate(lines) if line.startswith("ETA "))
    assert "from the costs of earlier sweeps" in lines[total]
    assert lines[total + 1].split(":")[0].strip() == sim.url.split("://")[1].split(":")[0]


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


async def test_bad_input_never_prints_a_traceback(tmp_path: Path, sim: Simulator) -> None:
    """Inputs that used to crash with a traceback (or reach the server) now exit 2 with a
    message naming the place to fix."""
    huge = _spec(tmp_path, "  Noise.seed: {range: [0, 100000000000000000000]}\n")
    code, _, err = await comfyfleet("plan", str(huge), "--server", sim.url)
    assert code == 2 and "Traceback" not in err
    assert f"{huge}:5:" in err and "larger step" in err
    spec = _spec(tmp_path, "  Noise.seed: [1]\n")
    for server in ("http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://:8188"):
        code, _, err = await comfyfleet("sweep", str(spec), "--server", server)
        assert code == 2 and "Traceback" not in err, err
        assert err.startswith("error: --server: server URL")
    coerced = _spec(tmp_path, "  Noise.seed: [1, 1.5]\n")
    code, out, err = await comfyfleet("plan", str(coerced), "--server", sim.url)
    assert code == 2
    flat = " ".join(out.split())  # the plan table wraps long lines
    assert "Noise.seed = 1.5 would not run as written" in flat
    assert "1.5 is not a whole number" in flat
    assert "the sweep cannot run as written" in err
    code, _, err = await comfyfleet("sweep", str(coerced), "--server", sim.url)
    assert code == 2 and f"{coerced}:5: Noise.seed = 1.5" in err
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{sim.url}/history")).json() == {}


async def test_an_output_that_is_a_file_exits_2_before_queueing(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1]\n")
    (tmp_path / "out").write_text("not a directory")
    for command in ("plan", "sweep"):
        code, _, err = await comfyfleet(command, str(spec), "--server", sim.url)
        assert code == 2, err
        assert f"{spec}:3: output {tmp_path / 'out'} is a file" in err
    code, _, err = await comfyfleet(
        "sweep", str(spec), "--server", sim.url, "--out", str(tmp_path / "out" / "sub")
    )
    assert code == 2 and "error: --out: output" in err and "is a file" in err
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{sim.url}/history")).json() == {}


async def test_broken_workflow_links_exit_2_naming_the_node(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1]\n")
    workflow = tmp_path / "model_free.json"
    workflow.write_text(workflow.read_text().replace('"2",\n        0', '"99",\n        0', 1))
    code, _, err = await comfyfleet("plan", str(spec), "--offline")
    assert code == 2
    assert "node '3' (ImageBlur) input 'image' links to node '99'" in err
    assert f"{workflow}:" in err and f"named at {spec}:2" in err


async def test_plan_lists_the_plots_and_sweep_prints_them_after_its_summary(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2]\n  Blur.blur_radius: [1, 3]\n")
    spec.write_text(
        spec.read_text()
        + "plot:\n  - {x: Noise.seed, y: Blur.blur_radius}\n  - {x: Noise.seed, name: seeds.svg}\n"
    )
    out = tmp_path / "out"
    written = out / "xy-Noise.seed-Blur.blur_radius.png"
    code, listed, _ = await comfyfleet("plan", str(spec), "--offline")
    assert code == 0
    assert (
        f"plots, drawn when the sweep ends:\n  {written}\n"
        "    Noise.seed across, Blur.blur_radius down\n"
        f"  {out / 'seeds.svg'}\n"
        "    Noise.seed across\n"
        "    each cell: the first of Blur.blur_radius's 2 values\n"
    ) in listed
    code, printed, err = await comfyfleet("sweep", str(spec), "--server", sim.url)
    assert code == 0, err
    assert printed.splitlines()[-4:] == [
        f"4 succeeded, 0 failed; report: {out / 'report.parquet'}",
        f"plot: {written}",
        f"plot: {out / 'seeds.svg'}",
        f"contact sheet: {out / 'index.html'}",
    ]
    assert "warning" not in err
    assert written.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "seeds.svg").read_bytes()
    assert (out / "index.html").read_text().count("<figure") == 4  # a card per run


async def test_a_plot_that_cannot_be_written_warns_without_failing_the_sweep(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1]\n")
    spec.write_text(spec.read_text() + "plot: {x: Noise.seed, name: taken}\n")
    (tmp_path / "out" / "taken.png").mkdir(parents=True)  # a directory where the plot goes
    code, printed, err = await comfyfleet("sweep", str(spec), "--server", sim.url)
    assert code == 0, err
    assert "1 succeeded, 0 failed" in printed and "plot:" not in printed
    assert "warning: plot taken.png not drawn: [Errno 21] Is a directory" in err


async def test_plan_refuses_a_plot_of_an_address_the_sweep_does_not_vary(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2]\n")
    spec.write_text(spec.read_text() + "plot: {x: Noise.seed, y: Blur.blur_radius}\n")
    for command in ("plan", "sweep"):
        code, _, err = await comfyfleet(command, str(spec), "--server", sim.url)
        assert code == 2, err
        assert f"{spec}:6: plot y: 'Blur.blur_radius' is not an address this sweep" in err
        assert "Valid: Noise.seed" in err
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{sim.url}/history")).json() == {}


async def test_the_headless_demo_prints_its_plot(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, _, err = await comfyfleet("demo", "--headless", "--speed", "0", "--out", str(out))
    assert code == 0, err
    written = out / "xy-KSampler.cfg-KSampler.sampler_name.png"
    assert f"plot: {written}\n" in err
    assert written.read_bytes().startswith(b"\x89PNG")


async def test_a_server_unreachable_at_the_start_is_named_not_dropped_silently(
    tmp_path: Path, sim: Simulator
) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2, 3]\n")
    dead = "http://127.0.0.1:9"
    code, out, err = await comfyfleet("sweep", str(spec), "-s", sim.url, "-s", dead)
    assert code == 0, err
    assert "3 succeeded, 0 failed" in out
    lines = err.splitlines()
    (warning,) = [line for line in lines if dead in line]
    assert warning.startswith(f"✗ {dead}: cannot reach {dead}") and warning.endswith("; not used")
    # Before any progress.
    assert lines.index(warning) < min(i for i, line in enumerate(lines) if "/3 done" in line)


async def test_a_piped_sweep_prints_plain_progress_lines(tmp_path: Path, sim: Simulator) -> None:
    """stderr is not a terminal here: no live display, which would show only at the end."""
    spec = _spec(tmp_path, "  Noise.seed: [1, 2, 3]\n")
    code, _, err = await comfyfleet("sweep", str(spec), "-s", sim.url)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == "cli: 0/3 done"  # the first snapshot, at once, not at the end
    assert lines[-2].startswith("cli: 3/3 done, ") and "runs/" in lines[-2]
    assert lines[-1] == f"  {sim.url.removeprefix('http://')}: done 3, failed 0, running 0"
    assert not any("\x1b" in line or "━" in line for line in lines)  # no terminal codes


async def test_sim_refuses_a_comfyui_release_it_cannot_play() -> None:
    code, _, err = await comfyfleet("sim", "--comfy-version", "0.47.1", "--port", "0")
    assert code == 2
    assert "cannot play ComfyUI '0.47.1'; it knows 0.8.0, 0.33.0" in err


async def test_verbose_and_a_log_file(tmp_path: Path, sim: Simulator) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2]\n")
    log = tmp_path / "debug.log"
    code, _, err = await comfyfleet("-v", "--log-file", str(log), "sweep", str(spec), "-s", sim.url)
    assert code == 0, err
    assert "INFO sweeps.runner: sweep cli: 2 runs on" in err  # -v: what the engine decides
    assert "HTTP Request" not in err  # requests only at -vv
    written = log.read_text()
    assert "HTTP Request: POST http://127.0.0.1" in written  # the file has everything
    assert "DEBUG   sweeps.scheduler: run 0 success on" in written

    code, _, err = await comfyfleet("-vv", "status", "-s", sim.url)
    assert code == 0 and "HTTP Request: GET" in err

    code, _, err = await comfyfleet("--log-file", str(tmp_path / "no" / "x.log"), "status")
    assert code == 2 and "cannot write the log file" in err


async def test_plan_json(tmp_path: Path, sim: Simulator) -> None:
    spec = _spec(tmp_path, "  Noise.seed: [1, 2, 3]\n  Blur.blur_radius: [1, 2]\n")
    code, out, err = await comfyfleet("plan", str(spec), "-s", sim.url, "--json", "--preview", "2")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["name"], plan["runs"], plan["valid"]) == ("cli", 6, True)
    assert plan["swept"] == {"Noise.seed": [1, 2, 3], "Blur.blur_radius": [1, 2]}
    assert [r["run_index"] for r in plan["preview"]] == [0, 1]
    [server] = plan["servers"]
    assert server["url"] == sim.url and server["reachable"] and server["error"] is None
    assert plan["eta"] == {"calibrated": False, "total_s": None, "per_server_s": {}}

    bad = _spec(tmp_path, "  Blur.blur_radius: [1, 99]\n")
    code, out, _ = await comfyfleet("plan", str(bad), "-s", sim.url, "--json")
    plan = json.loads(out)
    assert code == 2 and not plan["valid"] and "Blur.blur_radius = 99" in plan["errors"][0]


async def test_sweep_json_stream(tmp_path: Path, sim: Simulator) -> None:
    sim.faults.fail_class("ImageBlur")
    spec = _spec(tmp_path, "  Noise.seed: [1, 2]\n")
    code, out, err = await comfyfleet("sweep", str(spec), "-s", sim.url, "--json-stream")
    assert code == 1, err  # both runs failed
    events = [json.loads(line) for line in out.splitlines()]  # nothing else on stdout
    kinds = [e["event"] for e in events]
    for index in (0, 1):
        steps = [e["event"] for e in events if e.get("run_index") == index]
        assert steps == ["submitted", "started", "failed"], steps
    failed = next(e for e in events if e["event"] == "failed")
    assert failed["status"] == "failed" and "ImageBlur" in failed["error"]
    assert failed["server"] == sim.url and failed["prompt_id"]
    assert "progress" in kinds and kinds[-1] == "summary"
    assert events[-1]["failed"] == 2 and events[-1]["done"] == 0
    assert events[-1]["report"].endswith("report.parquet")


def test_sim_knobs_reach_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import sweeps.simulator
    from sweeps.cli import main

    served: list[SimConfig] = []

    async def serve(config: SimConfig, *, host: str, port: int) -> None:
        served.append(config)

    monkeypatch.setattr(sweeps.simulator, "serve", serve)
    args = ["sim", "--load-ms", "2000", "--step-ms", "5", "--comfy-version", "0.8.0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    [config] = served
    assert config.costs.checkpoint_load_ms == 2000 and config.costs.sampler_step_ms == 5
    assert config.comfy_version == "0.8.0"
    bad = CliRunner().invoke(main, ["sim", "--load-ms", "-1"])
    assert bad.exit_code == 2 and "--load-ms" in bad.output
