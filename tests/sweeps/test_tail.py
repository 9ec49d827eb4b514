"""The end of a sweep: a fast idle server takes over prompts still queued on a slow one,
and every run ends in the report exactly once, however the withdrawal races."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from sweeps.connection import ServerConnection
from sweeps.costs import CostModel
from sweeps.grid import Grid
from sweeps.progress import SweepProgress
from sweeps.report import ReportWriter, load_report
from sweeps.scheduler import Sweep
from sweeps.simulator import SimConfig, Simulator
from sweeps.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
RUNS = 6


@contextlib.asynccontextmanager
async def _pair() -> AsyncIterator[tuple[Simulator, Simulator]]:
    async with (
        Simulator(SimConfig(speed=0.0, seed=0)) as slow,
        Simulator(SimConfig(speed=0.0, seed=1)) as fast,
    ):
        yield slow, fast


def _grid(tmp_path: Path) -> Grid:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path / "model_free.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: tail\nworkflow: model_free.json\noutput: out\n"
        f"grid:\n  Noise.seed: {{range: [0, {RUNS}]}}\n"
    )
    return Grid(load_spec(spec))


def _model(grid: Grid, slow: str, fast: str) -> CostModel:
    """A model that has seen ``fast`` run the workflow four times faster than ``slow``."""
    model = CostModel()
    prompt = grid.prompt_for(grid[0])
    for url, seconds in ((slow, 0.4), (fast, 0.1)):
        timings = [{"node_id": n, "seconds": seconds} for n in ("2", "3", "4")]
        model.observe(url, prompt, timings, ["1"], 3 * seconds)
    return model


async def _sweep(
    grid: Grid,
    servers: Sequence[ServerConnection | str],
    out: Path,
    model: CostModel,
    slow: Simulator,
) -> SweepProgress:
    def on_progress(progress: SweepProgress) -> None:
        # The slow server's queue moves again once a run was taken from it.
        if any(s.stolen for s in progress.servers.values()):
            slow.faults.stall_worker = False

    with ReportWriter(out) as report:
        sweep = Sweep(
            grid,
            total=len(grid),
            prompt_for=grid.prompt_for,
            servers=list(servers),
            report=report,
            costs=model,
            on_progress=on_progress,
        )
        return await sweep.run()


def _assert_each_run_once(out: Path, sims: Sequence[Simulator]) -> None:
    df = load_report(out)
    assert sorted(df["run_index"].to_list()) == list(range(RUNS))
    assert set(df["status"]) == {"success"}
    # Nothing ran twice: the servers executed exactly the runs the report holds.
    assert sum(s.executor.prompts_run for s in sims) == RUNS


async def test_an_idle_fast_server_takes_over_a_prompt_queued_on_a_slow_one(
    tmp_path: Path,
) -> None:
    grid = _grid(tmp_path)
    async with _pair() as (slow, fast):
        slow.faults.stall_worker = True  # prompts queue there and do not move
        model = _model(grid, slow.url, fast.url)
        progress = await _sweep(grid, [slow.url, fast.url], tmp_path / "out", model, slow)
        await slow.wait_idle()
        _assert_each_run_once(tmp_path / "out", [slow, fast])
    assert progress.servers[fast.url].stolen >= 1
    assert progress.servers[slow.url].stolen == 0


async def test_a_prompt_that_starts_as_it_is_withdrawn_runs_once(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    async with _pair() as (slow, fast):
        slow.faults.stall_worker = True
        conn = ServerConnection(slow.url)
        withdraw = conn.client.delete_from_queue
        withdrawn: list[str] = []

        async def too_late(prompt_ids: Sequence[str]) -> None:
            withdrawn.extend(prompt_ids)
            # The server takes the prompt up just before the withdrawal lands.
            slow.faults.stall_worker = False
            await slow.wait_idle()
            await withdraw(prompt_ids)

        conn.client.delete_from_queue = too_late  # type: ignore[method-assign]
        model = _model(grid, slow.url, fast.url)
        async with asyncio.TaskGroup() as group:
            listener = group.create_task(conn.listen())  # a lent connection: ours to listen on
            try:
                progress = await _sweep(grid, [conn, fast.url], tmp_path / "out", model, slow)
            finally:
                listener.cancel()
                await conn.client.aclose()
        _assert_each_run_once(tmp_path / "out", [slow, fast])
    assert withdrawn  # the fast server did try
    assert progress.servers[fast.url].stolen == 0
