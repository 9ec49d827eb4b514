"""Whole sweeps against simulated fleets: dispatch, retries, failures, outputs, report, resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from sweeps.errors import ServerUnreachable, SpecError
from sweeps.report import JOURNAL_NAME, load_report, report_metadata
from sweeps.runner import run_sweep
from sweeps.simulator import NEWEST, SimConfig, Simulator

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def fleet(*speeds: float) -> AsyncIterator[list[Simulator]]:
    async with contextlib.AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(Simulator(SimConfig(speed=s, seed=i)))
            for i, s in enumerate(speeds)
        ]
        yield sims


def _spec(tmp_path: Path, body: str, workflow: str = "model_free.json") -> Path:
    shutil.copy(REPO / "sample_workflows" / workflow, tmp_path / workflow)
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: test\nworkflow: {workflow}\noutput: out\n{body}")
    return path


GRID = """grid:
  Noise.seed: {range: [0, 6]}
  Blur.blur_radius: [1, 3]
  Noise.strength: [0.5, 1.0]
"""


async def test_sweep_across_three_servers_of_different_speeds(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    # Run costs far apart (about 1, 18 and 105 ms), so that the per-prompt overhead of
    # a loaded 2-core machine cannot even out who pulls more.
    async with fleet(0.02, 0.5, 3.0) as sims:
        result = await run_sweep(spec, servers=[s.url for s in sims])
    progress = result.progress
    assert (progress.done, progress.failed, progress.total) == (24, 0, 24)
    df = load_report(result.out_dir)
    assert df.height == 24
    assert df["status"].unique().to_list() == ["success"]
    assert sorted(df["run_index"].to_list()) == list(range(24))
    assert df.schema["Noise.seed"] == pl.Int64
    assert df.schema["Noise.strength"] == pl.Float64
    per_server = dict(df.group_by("server").len().iter_rows())
    fast, slow = sims[0].url, sims[2].url
    assert set(per_server) <= {s.url for s in sims}
    assert per_server[fast] > per_server.get(slow, 0), per_server
    for row in df.iter_rows(named=True):
        assert row["queue_s"] is not None and row["exec_s"] is not None
        assert row["total_s"] >= row["exec_s"]
        assert [t["class_type"] for t in row["node_timings"]]
        [output] = row["outputs"]
        local = result.out_dir / output["path"]
        assert (
            local.parent == result.out_dir.resolve()
            or local.resolve().parent == result.out_dir.resolve()
        )
        assert local.name.startswith(f"{row['run_index']:05d}-4-")
        assert local.read_bytes().startswith(b"\x89PNG")
    meta = report_metadata(result.out_dir)
    assert meta["sweep"] == "test"
    assert "model_free.json" in meta["workflows"]
    assert [s["comfyui_version"] for s in meta["servers"]] == [NEWEST] * 3


async def test_transient_failures_move_runs_to_other_servers(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    async with fleet(0.0, 0.0) as sims:
        sims[0].faults.prompt_500 = 3
        result = await run_sweep(spec, servers=[s.url for s in sims])
    df = load_report(result.out_dir)
    assert df["status"].unique().to_list() == ["success"]
    assert df["attempts"].max() >= 2
    assert result.progress.servers[sims[0].url].retried >= 1


async def test_execution_errors_are_recorded_not_retried(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    async with fleet(0.0) as sims:
        sims[0].faults.fail_class("ImageBlur")
        result = await run_sweep(spec, servers=[sims[0].url])
    df = load_report(result.out_dir)
    assert df["status"].unique().to_list() == ["failed"]
    assert df["attempts"].unique().to_list() == [1]
    assert df["error_node"].unique().to_list() == ["3"]
    assert df["error_type"].unique().to_list() == ["RuntimeError"]
    assert result.progress.failed == 24


async def test_bad_value_is_refused_before_anything_is_queued(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "grid:\n  Blur.blur_radius: [1, 99]\n")
    async with fleet(0.0) as sims:
        with pytest.raises(SpecError) as caught:
            await run_sweep(spec, servers=[sims[0].url])
        assert (await _history_size(sims[0])) == 0
    message = str(caught.value)
    assert str(spec) in message
    assert "Blur.blur_radius = 99" in message
    assert "node 3 (ImageBlur) input blur_radius" in message
    assert "1..31" in message


async def _history_size(sim: Simulator) -> int:
    import httpx

    async with httpx.AsyncClient() as http:
        return len((await http.get(f"{sim.url}/history")).json())


async def test_no_reachable_server_is_an_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    async with fleet(0.0) as sims:
        url = sims[0].url
    with pytest.raises(ServerUnreachable, match="no server is reachable"):
        await run_sweep(spec, servers=[url])


def _journal(path: Path) -> tuple[set[str], set[str]]:
    """(run ids with a record, run ids queued without one yet)."""
    finished, queued = set(), set()
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line the kill cut short
        if entry.get("kind") == "sweep":
            continue  # which sweep the directory belongs to
        (queued if entry.get("kind") == "submitted" else finished).add(entry["run_id"])
    return finished, queued - finished


async def test_resume_after_the_sweep_process_is_killed(tmp_path: Path) -> None:
    """Prompts the killed process had queued are collected, not paid for twice."""
    spec = _spec(tmp_path, GRID)
    out = tmp_path / "out"
    async with fleet(0.5) as sims:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sweeps.cli",
            "sweep",
            str(spec),
            "--server",
            sims[0].url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        journal = out / JOURNAL_NAME
        async with asyncio.timeout(60):
            while not journal.exists() or len(_journal(journal)[0]) < 5:
                await asyncio.sleep(0.05)  # polling a file the child writes
        process.kill()
        await process.wait()
        finished_before, orphans = _journal(journal)
        assert 5 <= len(finished_before) < 24
        # Usually the kill leaves prompts queued on the server (`orphans`); the
        # deterministic test below covers adoption case by case.
        del orphans

        result = await run_sweep(spec, servers=[sims[0].url])
        await sims[0].wait_idle()
        executed = await _history_size(sims[0])
    assert result.progress.skipped == len(finished_before)
    assert result.progress.done == 24 - len(finished_before)
    df = load_report(out)
    assert df.height == 24
    assert df["status"].unique().to_list() == ["success"]
    assert df["run_id"].n_unique() == 24
    assert executed == 24  # every run ran exactly once on the GPU


SLOW = """grid:
  Noise.seed: {range: [0, 12]}
"""


def _slow_sweep_spec(tmp_path: Path) -> Path:
    """Each run sleeps in ProbeSleep, so a stop lands while prompts are queued and running."""
    workflow = json.loads((REPO / "sample_workflows" / "model_free.json").read_text())
    workflow["5"] = {
        "class_type": "ProbeSleep",
        "inputs": {"image": ["3", 0], "steps": 20, "step_ms": 20, "preview": False},
        "_meta": {"title": "Sleep"},
    }
    workflow["4"]["inputs"]["images"] = ["5", 0]
    (tmp_path / "slow.json").write_text(json.dumps(workflow))
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: slow\nworkflow: slow.json\noutput: out\n{SLOW}")
    return path


async def _stopped_after_the_first_run(spec: Path, url: str, *, interrupt: bool):
    """Run ``spec`` on ``url`` and stop it, as Ctrl-C does, once one run has finished."""
    started: list = []
    first_done = asyncio.Event()

    def on_progress(progress) -> None:
        if progress.done >= 1:
            first_done.set()

    task = asyncio.create_task(
        run_sweep(spec, servers=[url], on_progress=on_progress, on_start=started.append)
    )
    await asyncio.wait_for(first_done.wait(), 30)
    await started[0].stop(interrupt_running=interrupt)
    return await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("interrupt", [False, True])
async def test_stop_withdraws_queued_prompts_and_keeps_paid_work(
    tmp_path: Path, interrupt: bool
) -> None:
    spec = _slow_sweep_spec(tmp_path)
    async with fleet(1.0) as sims:
        result = await _stopped_after_the_first_run(spec, sims[0].url, interrupt=interrupt)
        await sims[0].wait_idle()
        history = await _history_size(sims[0])
    df = load_report(result.out_dir)
    statuses = df["status"].to_list()
    assert len(statuses) in range(1, 12)
    if interrupt:
        assert statuses.count("interrupted") == 1
        assert statuses.count("success") == len(statuses) - 1
        assert (result.progress.failed, result.progress.interrupted) == (1, 1)
    else:
        assert set(statuses) == {"success"}
    # Nothing ran on the server that the report does not hold: withdrawn means never run.
    assert history == len(statuses)


async def test_a_server_that_dies_mid_prompt_loses_no_run(tmp_path: Path) -> None:
    """The dead server's prompt is retried elsewhere; every run ends in the report."""
    from sweeps.connection import ServerConnection
    from sweeps.grid import Grid
    from sweeps.report import ReportWriter
    from sweeps.scheduler import Sweep
    from sweeps.spec import load_spec

    grid = Grid(load_spec(_spec(tmp_path, GRID)))
    async with fleet(0.0, 0.0) as sims:
        sims[0].faults.die_on_class = "ImageBlur"
        conns = [ServerConnection(s.url, poll_interval=0.05, give_up_after=0.5) for s in sims]
        with ReportWriter(tmp_path / "out") as report:
            sweep = Sweep(
                grid, total=len(grid), prompt_for=grid.prompt_for, servers=conns, report=report
            )
            async with asyncio.TaskGroup() as group:
                listeners = [group.create_task(c.listen()) for c in conns]
                progress = await sweep.run()
                for listener in listeners:
                    listener.cancel()
        for conn in conns:
            await conn.client.aclose()
    assert (progress.done, progress.failed) == (24, 0)
    df = load_report(tmp_path / "out")
    assert df.height == 24 and df["status"].unique().to_list() == ["success"]
    retried = df.filter(pl.col("attempts") > 1)
    assert retried.height >= 1
    assert retried["server"].unique().to_list() == [sims[1].url]
    assert progress.servers[sims[0].url].retried >= 1


async def test_a_killed_server_hands_its_runs_over_in_seconds_and_shows_as_down(
    tmp_path: Path,
) -> None:
    """kill -9 mid-prompt: connections are refused, which is definitive, so its
    prompts move to the other server at once, not after ``give_up_after`` (60 s)."""
    from sweeps.connection import ServerConnection
    from sweeps.grid import Grid
    from sweeps.report import ReportWriter
    from sweeps.scheduler import Sweep
    from sweeps.spec import load_spec

    grid = Grid(load_spec(_spec(tmp_path, GRID)))
    down_while_running: list = []

    async with fleet(0.0, 0.0) as sims:
        alive, dying = sims
        dying.faults.die_on_class = "ImageBlur"

        def on_progress(progress) -> None:
            server = progress.servers[dying.url]
            if server.down_since is not None and server.running:
                down_while_running.append(server)

        conns = [ServerConnection(s.url, poll_interval=0.05, give_up_refused=0.3) for s in sims]
        assert all(c.give_up_after == 60.0 for c in conns)
        with ReportWriter(tmp_path / "out") as report:
            sweep = Sweep(
                grid,
                total=len(grid),
                prompt_for=grid.prompt_for,
                servers=conns,
                report=report,
                on_progress=on_progress,
            )
            async with asyncio.TaskGroup() as group:
                listeners = [group.create_task(c.listen()) for c in conns]
                async with asyncio.timeout(20):  # a minute before the fix
                    progress = await sweep.run()
                for listener in listeners:
                    listener.cancel()
        for conn in conns:
            await conn.client.aclose()
    assert (progress.done, progress.failed) == (24, 0)
    # While its prompts were still pending on it, the progress said it was down.
    assert down_while_running
    assert progress.servers[dying.url].down_since is not None  # it never came back
    df = load_report(tmp_path / "out")
    moved = df.filter(pl.col("attempts") > 1)
    assert moved.height >= 1 and moved["server"].unique().to_list() == [alive.url]
    assert progress.servers[dying.url].retried >= moved.height


async def test_a_killed_server_that_restarts_takes_runs_again(tmp_path: Path) -> None:
    from sweeps.connection import ServerConnection
    from sweeps.grid import Grid
    from sweeps.report import ReportWriter
    from sweeps.scheduler import Sweep
    from sweeps.spec import load_spec

    grid = Grid(load_spec(_spec(tmp_path, GRID)))
    restarts: list[asyncio.Task] = []
    went_down = asyncio.Event()

    async with fleet(0.0, 0.0) as sims:
        alive, dying = sims
        dying.faults.die_on_class = "ImageBlur"  # it dies in its first prompt
        # The other server holds its runs until the restarted one has done one, so
        # the sweep cannot end without it.
        alive.faults.stall_worker = True

        def on_progress(progress) -> None:
            server = progress.servers[dying.url]
            if server.down_since is not None and not restarts:
                went_down.set()
                restarts.append(asyncio.get_running_loop().create_task(dying.restart()))
            if server.done:
                alive.faults.stall_worker = False

        conns = [ServerConnection(s.url, poll_interval=0.05, give_up_refused=0.3) for s in sims]
        with ReportWriter(tmp_path / "out") as report:
            sweep = Sweep(
                grid,
                total=len(grid),
                prompt_for=grid.prompt_for,
                servers=conns,
                report=report,
                on_progress=on_progress,
            )
            async with asyncio.TaskGroup() as group:
                listeners = [group.create_task(c.listen()) for c in conns]
                async with asyncio.timeout(20):
                    progress = await sweep.run()
                for listener in listeners:
                    listener.cancel()
            await asyncio.gather(*restarts)
        for conn in conns:
            await conn.client.aclose()
    assert went_down.is_set()
    assert (progress.done, progress.failed) == (24, 0)
    assert progress.servers[dying.url].done >= 1
    assert progress.servers[dying.url].down_since is None


CHECKPOINTS = """set:
  KSampler.steps: 2
grid:
  KSampler.seed: {range: [0, 6]}
  Load Checkpoint.ckpt_name: [random-sd15-a.safetensors, random-sd15-b.safetensors]
"""


def _loads(out: Path) -> int:
    """Runs in which the checkpoint loader executed (it is cached otherwise)."""
    df = load_report(out)
    return sum(
        any(t["class_type"] == "CheckpointLoaderSimple" and not t["cached"] for t in timings)
        for timings in df["node_timings"].to_list()
    )


async def test_runs_sharing_a_checkpoint_stay_on_the_server_that_has_it_loaded(
    tmp_path: Path,
) -> None:
    from sweeps.grid import Grid
    from sweeps.report import ReportWriter
    from sweeps.scheduler import Sweep
    from sweeps.spec import load_spec

    spec = _spec(tmp_path, CHECKPOINTS, workflow="txt2img_sd15.json")
    # A load shows as a CheckpointLoaderSimple run only where the cache forgets the
    # previous checkpoint (classic); 0.33's RAM-pressure cache keeps both loaders cached.
    async with Simulator(SimConfig(speed=0.01, cache="classic")) as sim:
        sims = [sim]
        grid = Grid(load_spec(spec))
        with ReportWriter(tmp_path / "plain") as report:  # first: no checkpoint is loaded yet
            await Sweep(
                grid,
                total=len(grid),
                prompt_for=grid.prompt_for,
                servers=[sims[0].url],
                report=report,
            ).run()
        result = await run_sweep(spec, servers=[sims[0].url])
    assert result.progress.done == 12
    # The checkpoint alternates run by run in grid order: loaded for every run
    # without affinity, about once per checkpoint with it.
    assert _loads(tmp_path / "plain") == 12
    assert _loads(result.out_dir) <= 3


async def test_prompts_queued_by_an_earlier_session_are_adopted(tmp_path: Path) -> None:
    """Finished: collected. Still queued: waited for. Unknown to the server: run again."""
    from datetime import UTC, datetime

    from sweeps.client import ComfyClient
    from sweeps.grid import Grid
    from sweeps.report import ReportWriter, Submission
    from sweeps.spec import load_spec

    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1, 2, 3, 4]\n")
    grid = Grid(load_spec(spec))
    runs = list(grid)
    # ComfyUI 0.25+ takes only canonical UUIDs as client-chosen ids.
    done_before, still_queued = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
    async with fleet(0.0) as sims:
        url = sims[0].url
        async with ComfyClient(url) as client:
            done = await client.queue_prompt(grid.prompt_for(runs[0]), prompt_id=done_before)
            await sims[0].wait_idle()
            sims[0].faults.stall_worker = True
            await client.queue_prompt(grid.prompt_for(runs[1]), prompt_id=still_queued)
        with ReportWriter(tmp_path / "out") as report:
            ids = [done.prompt_id, still_queued, str(uuid.UUID(int=3))]
            for run, prompt_id in zip(runs[:3], ids, strict=True):
                report.note_submitted(
                    Submission(
                        run.run_id,
                        run.run_index,
                        run.workflow_name,
                        run.repeat,
                        dict(run.params),
                        url,
                        prompt_id,
                        datetime.now(UTC),
                    )
                )

        def release(progress) -> None:
            if progress.done:  # the finished one is collected: let the queued one run
                sims[0].faults.stall_worker = False

        result = await run_sweep(spec, servers=[url], on_progress=release)
        await sims[0].wait_idle()
        executed = await _history_size(sims[0])
    assert (result.progress.done, result.progress.skipped) == (4, 0)
    df = load_report(result.out_dir).sort("run_index")
    assert df["prompt_id"].to_list()[:2] == [done_before, still_queued]
    assert df["status"].unique().to_list() == ["success"]
    assert executed == 4  # nothing ran twice


async def test_files_that_failed_to_download_are_fetched_on_resume(tmp_path: Path) -> None:
    from sweeps.report import ReportWriter, RunRecord

    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1, 2]\n")
    async with fleet(0.0) as sims:
        first = await run_sweep(spec, servers=[sims[0].url])
        df = load_report(first.out_dir).sort("run_index")
        lost = df.row(0, named=True)
        (first.out_dir / lost["outputs"][0]["path"]).unlink()
        with ReportWriter(first.out_dir) as report:
            record = next(
                RunRecord.from_json(line)
                for line in (first.out_dir / JOURNAL_NAME).read_text().splitlines()
                if line.startswith(f'{{"run_id": "{lost["run_id"]}"')
            )
            report.append(
                RunRecord(
                    **{
                        **record.__dict__,
                        "status": "failed",
                        "error_type": "DownloadFailed",
                        "outputs": tuple({**o, "path": None} for o in record.outputs),
                    }
                )
            )
        second = await run_sweep(spec, servers=[sims[0].url])
        executed = await _history_size(sims[0])
    assert (second.progress.done, second.progress.skipped) == (1, 1)
    assert executed == 2  # fetched again, not run again
    again = load_report(second.out_dir).sort("run_index").row(0, named=True)
    assert again["status"] == "success" and again["prompt_id"] == lost["prompt_id"]
    assert (second.out_dir / again["outputs"][0]["path"]).read_bytes().startswith(b"\x89PNG")


async def test_a_full_disk_stops_the_sweep_and_a_resume_fetches_what_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from sweeps import scheduler

    download = scheduler.download_outputs

    async def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    spec = _spec(tmp_path, "grid:\n  Noise.seed: {range: [0, 6]}\n")
    async with fleet(0.0) as sims:
        monkeypatch.setattr(scheduler, "download_outputs", disk_full)
        first = await run_sweep(spec, servers=[sims[0].url])
        assert first.progress.failed >= 1 and first.progress.remaining > 0
        df = load_report(first.out_dir)
        assert set(df["error_type"].to_list()) == {"DownloadFailed"}
        assert "No space left on device" in df["error_message"][0]
        executed_before = await _history_size(sims[0])

        monkeypatch.setattr(scheduler, "download_outputs", download)
        second = await run_sweep(spec, servers=[sims[0].url])
        executed = await _history_size(sims[0])
    assert second.progress.done == 6 and second.progress.failed == 0
    assert executed == 6  # what ran before the disk filled was fetched, not run again
    assert executed_before < 6
    df = load_report(second.out_dir)
    assert df["status"].unique().to_list() == ["success"]
    assert all((second.out_dir / o[0]["path"]).exists() for o in df["outputs"].to_list())


async def test_an_unexpected_failure_surfaces_as_itself_not_as_a_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps.report import ReportWriter

    async def journal_fails(self, record):
        raise PermissionError(13, "Permission denied", str(self.journal_path))

    monkeypatch.setattr(ReportWriter, "commit", journal_fails)
    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1]\n")
    async with fleet(0.0) as sims:
        with pytest.raises(PermissionError, match="runs.jsonl"):
            await run_sweep(spec, servers=[sims[0].url])


PLOTTED = """grid:
  Noise.strength: [0.5, 1.0]
  Blur.blur_radius: [1, 3, 5]
exclude:
  - {Noise.strength: 1.0, Blur.blur_radius: 5}
plot:
  - {x: Blur.blur_radius, y: Noise.strength}
  - {x: Blur.blur_radius, where: {Noise.strength: 1.0}, name: strong.jpg}
"""
NO_RUN = (0xEE, 0xEE, 0xEE)  # what xyplot paints a cell with no run in


def _centres(image: Image.Image, colours: set[tuple[int, int, int]]) -> dict[tuple, tuple]:
    """Where each colour sits in ``image``: the mean (x, y) of its pixels."""
    data = image.convert("RGB").tobytes()
    sums: dict[tuple, list[int]] = {}
    for i in range(0, len(data), 3):
        pixel = (data[i], data[i + 1], data[i + 2])
        if pixel in colours:
            total = sums.setdefault(pixel, [0, 0, 0])
            total[0] += i // 3 % image.width
            total[1] += i // 3 // image.width
            total[2] += 1
    return {colour: (x / n, y / n) for colour, (x, y, n) in sums.items()}


async def test_the_spec_plots_are_drawn_when_the_sweep_ends(tmp_path: Path) -> None:
    spec = _spec(tmp_path, PLOTTED)
    async with fleet(0.0) as sims:
        result = await run_sweep(spec, servers=[sims[0].url])
    out = result.out_dir
    assert result.plots == (out / "xy-Blur.blur_radius-Noise.strength.png", out / "strong.jpg")
    assert result.plot_warnings == ()
    # The simulator's pictures have flat corners in a colour of their own: find each
    # run's picture in the plot by it.
    colour: dict[tuple[int, float], tuple[int, int, int]] = {}
    for row in load_report(out).iter_rows(named=True):
        with Image.open(out / row["outputs"][0]["path"]) as picture:
            key = (row["Blur.blur_radius"], row["Noise.strength"])
            colour[key] = picture.convert("RGB").getpixel((0, 0))  # type: ignore[assignment]
    assert len(set(colour.values())) == 5
    colour[(5, 1.0)] = NO_RUN  # the excluded pair
    with Image.open(result.plots[0]) as plot:
        assert plot.format == "PNG"
        centres = _centres(plot, set(colour.values()))
    where = {key: centres[c] for key, c in colour.items()}
    assert len(where) == 6
    for radius in (1, 3, 5):  # a column per radius, 0.5 above 1.0
        top, bottom = where[(radius, 0.5)], where[(radius, 1.0)]
        assert abs(top[0] - bottom[0]) < 5 and top[1] < bottom[1]
    for strength in (0.5, 1.0):  # a row per strength, radii ascending left to right
        xs = [where[(radius, strength)] for radius in (1, 3, 5)]
        assert xs[0][0] < xs[1][0] < xs[2][0]
        assert max(y for _, y in xs) - min(y for _, y in xs) < 5
    with Image.open(result.plots[1]) as row_plot:
        assert row_plot.format == "JPEG"
        assert row_plot.height < plot.height  # one row of cells, not two


async def test_a_stopped_sweep_still_draws_what_ran(tmp_path: Path) -> None:
    spec = _slow_sweep_spec(tmp_path)
    spec.write_text(spec.read_text() + "plot: {x: Noise.seed, name: seeds}\n")
    async with fleet(1.0) as sims:
        result = await _stopped_after_the_first_run(spec, sims[0].url, interrupt=False)
    assert result.progress.remaining > 0
    assert result.plots == (result.out_dir / "seeds.png",)
    with Image.open(result.plots[0]) as plot:
        assert plot.format == "PNG"


async def test_a_plot_that_cannot_be_drawn_is_a_warning_and_the_results_stand(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, "grid:\n  Noise.seed: [1, 2]\nplot: {x: Noise.seed}\n")
    async with fleet(0.0) as sims:
        sims[0].faults.fail_class("ImageBlur")
        result = await run_sweep(spec, servers=[sims[0].url])
    assert result.progress.failed == 2
    assert result.plots == ()
    assert result.plot_warnings == ("plot xy-Noise.seed.png not drawn: no run has an image yet",)
    assert load_report(result.out_dir).height == 2
    assert not (result.out_dir / "xy-Noise.seed.png").exists()
