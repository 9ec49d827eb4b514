"""The blocking API, as a script and as a notebook (whose thread already runs a loop) use it."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import sweeps
from sweeps.simulator import SimConfig, Simulator

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def remote_simulator() -> Iterator[str]:
    """A simulator on a loop of its own, as a real server is: blocking this thread
    (as a sync call does) must not stop it from answering."""
    started = threading.Event()
    url: list[str] = []
    stop: list[asyncio.Event] = []
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        async with Simulator(SimConfig(speed=0.0)) as sim:
            url.append(sim.url)
            stop.append(asyncio.Event())
            loop_box.append(asyncio.get_running_loop())
            started.set()
            await stop[0].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the simulator did not start"
    try:
        yield url[0]
    finally:
        loop_box[0].call_soon_threadsafe(stop[0].set)
        thread.join(10)


def _spec(tmp_path: Path) -> Path:
    shutil.copy(REPO / "sample_workflows" / "model_free.json", tmp_path / "model_free.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: sync\nworkflow: model_free.json\ngrid:\n  Noise.seed: [1, 2, 3]\n")
    return spec


def test_from_a_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # out_dir="out-x" is relative, as a script writes it
    with remote_simulator() as url:
        plan = sweeps.plan_sweep_sync(str(_spec(tmp_path)), servers=[url])
        assert plan.ok and len(plan.grid) == 3
        result = sweeps.run_sweep_sync(str(_spec(tmp_path)), servers=[url], out_dir="out-x")
    assert result.progress.done == 3 and result.out_dir == Path("out-x")
    assert sweeps.load_report(tmp_path / "out-x").height == 3


async def test_from_a_notebook_whose_loop_is_running(tmp_path: Path) -> None:
    seen: list[int] = []
    with remote_simulator() as url:
        result = sweeps.run_sweep_sync(
            _spec(tmp_path),
            servers=[url],
            out_dir=str(tmp_path / "out"),  # str, as a notebook writes it
            on_progress=lambda p: seen.append(p.done),
        )
    assert result.out_dir == tmp_path / "out" and result.progress.done == 3
    assert seen and max(seen) == 3
