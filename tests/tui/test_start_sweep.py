"""Starting a sweep from the dashboard: the dialog, planning against the watched servers, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label

from sweeps.simulator import SimConfig, Simulator
from tui.app import FleetApp
from tui.commands import FleetCommands
from tui.screens.fleet import FleetScreen
from tui.screens.start_sweep import StartSweepScreen

from .conftest import until
from .test_app import make_app

SAMPLES = Path(__file__).parents[2] / "sample_workflows"


def copy_spec(tmp_path: Path, *, blur: str | None = None) -> Path:
    """The demo spec and its workflow in ``tmp_path``; ``blur`` replaces its blur values."""
    shutil.copy(SAMPLES / "model_free.json", tmp_path / "model_free.json")
    text = (SAMPLES / "model_free_sweep.yaml").read_text()
    if blur is not None:
        text = text.replace("Blur.blur_radius: [1, 3, 5]", f"Blur.blur_radius: {blur}")
        text = text.split("exclude:")[0]  # drop exclude and include: just the grid
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


def errors(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "error"]


def warnings(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "warning"]


def text_of(app: FleetApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Label).render())


async def started(pilot: Pilot[object]) -> None:
    """Wait until the dialog closed (the sweep started) or an error was shown."""
    app = pilot.app
    assert isinstance(app, FleetApp)
    await until(pilot, lambda: bool(errors(app)) or not isinstance(app.screen, StartSweepScreen))


async def sweep_done(app: FleetApp) -> None:
    # The simulator is fast: the sweep may be over (and its worker gone) already. An
    # empty list would mean "every worker", the engine included: it never completes.
    workers = [w for w in app.workers if w.group == "sweep"]
    if workers:
        await app.workers.wait_for_complete(workers)


async def test_start_a_sweep_from_the_dashboard(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy_spec(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative paths, as typed in a shell; and short to type
    app = make_app(sim.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("s")
        assert isinstance(app.screen, StartSweepScreen)
        assert "1 watched server: sim0" in text_of(app, "#servers")
        await pilot.press(*"spec.yam")
        assert "No such file: spec.yam" in text_of(app, "#spec-status")
        await pilot.press("l")
        assert "found" in text_of(app, "#spec-status")
        await pilot.press("tab", *"out", "enter")
        await started(pilot)
        assert not errors(app)
        assert isinstance(app.screen, FleetScreen)  # the dialog closed once the sweep started
        await sweep_done(app)
        await pilot.pause()
        assert app.sweep_result is not None and app.sweep_result.out_dir == Path("out")
        headline = text_of(app, "#sweep-headline")
        assert "model-free-demo: 34 done" in headline and "0 failed" in headline
        assert "finished" in headline
    assert (tmp_path / "out" / "report.parquet").exists()
    assert len(list((tmp_path / "out").glob("[0-9]*.png"))) == 34  # runs, not the plot


async def test_a_second_sweep_after_the_first_ended(sim: Simulator, tmp_path: Path):
    spec = copy_spec(tmp_path, blur="[2]")  # 4 seeds x 3 strengths: 12 runs
    app = make_app(sim.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        for out in (tmp_path / "first", tmp_path / "second"):
            await pilot.press("s")
            app.screen.query_one("#spec", Input).value = str(spec)
            app.screen.query_one("#out-dir", Input).value = str(out)
            await pilot.press("enter")
            await started(pilot)
            assert not errors(app)
            await sweep_done(app)
            await pilot.pause()
            assert app.sweep_result is not None and app.sweep_result.out_dir == out
            assert "12 done" in text_of(app, "#sweep-headline")
            assert (out / "report.parquet").exists()
        assert app.exit_code() == 0  # `watch` exits 0 whatever the sweeps it ran did


async def test_one_sweep_at_a_time(tmp_path: Path):
    spec = copy_spec(tmp_path)
    async with Simulator(SimConfig(speed=50.0)) as slow:  # seconds per run: still running below
        app = make_app(slow.url)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.fleet.up == 1)
            await pilot.press("s")
            app.screen.query_one("#spec", Input).value = str(spec)
            app.screen.query_one("#out-dir", Input).value = str(tmp_path / "out")
            await pilot.press("enter")
            await started(pilot)
            assert [w for w in app.workers if w.group == "sweep"]
            await pilot.press("s")
            assert isinstance(app.screen, FleetScreen)
            assert any("still running" in w for w in warnings(app))
            assert app.sweep_result is None


async def test_a_spec_the_servers_refuse_starts_nothing(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy_spec(tmp_path, blur="[99]")
    monkeypatch.chdir(tmp_path)
    app = make_app(sim.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("s", *"spec.yaml", "tab", *"out", "enter")
        await until(pilot, lambda: bool(errors(app)))
        await pilot.pause()
        [message] = errors(app)
        assert message.startswith("spec.yaml:")  # with the line of the value, when known
        assert "blur_radius" in message and "outside the allowed range 1..31" in message
        # Nothing started; the dialog is still open with what was typed, ready for a retry.
        dialog = app.screen
        assert isinstance(dialog, StartSweepScreen) and not dialog.planning
        assert dialog.query_one("#spec", Input).value == "spec.yaml"
        assert dialog.query_one("#out-dir", Input).value == "out"
        assert not dialog.query_one("#start", Button).disabled
        assert not [w for w in app.workers if w.group in ("sweep", "sweep-plan")]
        assert app.sweep is None and app.sweep_result is None
        assert not (tmp_path / "out").exists()
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_the_dialog_checks_paths_before_submitting(tmp_path: Path):
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test() as pilot:
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, StartSweepScreen)
        await pilot.press("enter")  # nothing typed
        assert "Enter the path" in text_of(app, "#spec-status")
        dialog.query_one("#spec", Input).value = str(tmp_path)
        await pilot.pause()
        assert "is a directory" in text_of(app, "#spec-status")
        spec = copy_spec(tmp_path)
        dialog.query_one("#spec", Input).value = str(spec)
        dialog.query_one("#out-dir", Input).value = str(spec)  # a file, not a directory
        await pilot.press("enter")
        assert "is a file, not a directory" in text_of(app, "#out-status")
        assert not [w for w in app.workers if w.group == "sweep-plan"]
        assert app.screen is dialog
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_palette_offers_run_a_sweep():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        provider = FleetCommands(app.screen)
        names = [str(hit.text) async for hit in provider.search("sweep")]
        assert names == ["Run a sweep…"]
        await pilot.press("ctrl+p", *"run a sweep")
        await until(pilot, lambda: bool(app.screen.query(CommandList).first().option_count))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StartSweepScreen))


async def test_sweep_tui_checks_its_output_directory_before_the_screen_opens(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps.errors import SpecError
    from tui.run import run_sweep_in_dashboard

    async def screen_opens(self: FleetApp, *args: object, **kwargs: object) -> None:
        raise AssertionError("the dashboard opened on bad input")

    monkeypatch.setattr(FleetApp, "run_async", screen_opens)
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    with pytest.raises(SpecError, match="a-file is a file, not a directory"):
        await run_sweep_in_dashboard(copy_spec(tmp_path), servers=[sim.url], out_dir=taken)


async def test_the_outcome_stays_in_the_terminal_once_the_dashboard_closes(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from sweeps.cli.console import print_dashboard_exit
    from sweeps.progress import SweepProgress
    from sweeps.runner import SweepResult
    from tui.run import run_sweep_in_dashboard

    out = tmp_path / "out"

    async def user_quits_after_stopping(self: FleetApp, *args: object, **kwargs: object) -> int:
        progress = SweepProgress("demo", total=36, done=20, failed=3, interrupted=2, finished=True)
        self.sweep_result = SweepResult(out, progress, plots=(out / "xy.png",))
        return 1

    monkeypatch.setattr(FleetApp, "run_async", user_quits_after_stopping)
    closed = await run_sweep_in_dashboard(copy_spec(tmp_path), servers=[sim.url], out_dir=out)
    assert capsys.readouterr().out == ""  # the dashboard never prints: the command line does
    code = print_dashboard_exit(closed)
    said = capsys.readouterr().out
    assert code == 1
    assert f"20 succeeded, 1 failed, 2 interrupted; report: {out / 'report.parquet'}" in said
    assert "13 not run; the same command resumes where this stopped" in said
    assert f"plot: {out / 'xy.png'}" in said
