"""The dashboard driven with a pilot against simulators: what a user sees and does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.widgets import Input, Label

from sweeps.config import ServerConfig
from sweeps.events import ExecutionStart
from sweeps.runner import plan_sweep
from sweeps.simulator import NEWEST, SimConfig, Simulator
from tests.workflows import sd15 as workflow
from tui.app import FleetApp, SweepJob
from tui.commands import FleetCommands
from tui.messages import ActionFinished
from tui.screens.confirm import ConfirmScreen
from tui.screens.fleet import FleetScreen
from tui.screens.server import ServerScreen
from tui.widgets.queue_table import QueueTable
from tui.widgets.server_card import ServerCard

from .conftest import until


def card_text(app: FleetApp, url: str) -> str:
    card = next(c for c in app.screen.query(ServerCard) if c.url == url)
    return card.plain


async def actions_done(app: FleetApp) -> None:
    """Wait for the server-action workers (never the engine, which runs until the end)."""
    # An empty list would mean "every worker", the engine included: it never completes.
    workers = [w for w in app.workers if w.group == "server-actions"]
    if workers:
        await app.workers.wait_for_complete(workers)


def make_app(*urls: str, **kwargs: Any) -> FleetApp:
    servers = [ServerConfig(url, name=f"sim{i}") for i, url in enumerate(urls)]
    app = FleetApp(servers, poll_interval=0.1, **kwargs)
    app.animation_level = "none"
    return app


async def test_card_shows_the_server_once_connected(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test() as pilot:
        await until(
            pilot,
            lambda: f"v{NEWEST}" in card_text(app, sim.url) and "up" in card_text(app, sim.url),
        )
        assert "RTX 3060" in card_text(app, sim.url)
        await until(pilot, lambda: "GPU" in card_text(app, sim.url))  # Crystools readings


async def test_a_fleet_of_two_comfyui_versions_shows_every_gpu_at_80_columns():
    """A two-GPU 0.33 box lists both devices and both Crystools readings; 0.8 lists one."""
    new_config = SimConfig(speed=0.0, gpus=2, crystools=True, crystools_interval=0.1)
    old_config = SimConfig(speed=0.0, comfy_version="0.8.0", gpus=2)
    async with Simulator(new_config) as new, Simulator(old_config) as old:
        app = make_app(new.url, old.url)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: re.search(r"GPU \d+/\d+% \d+/\d+°C", shown(app, new.url)))
            await until(pilot, lambda: "v0.8.0" in shown(app, old.url))
            new_card, old_card = shown(app, new.url), shown(app, old.url)
    assert re.search(r"VRAM/12\.0G 0:\S+ 1:", new_card)  # both devices, on a 36-cell card
    assert "VRAM ╸━" in old_card and "VRAM/" not in old_card  # 0.8 lists only the primary


def shown(app: FleetApp, url: str) -> str:
    """What a card shows on screen, line by line (cut to its width)."""
    card = next(c for c in app.screen.query(ServerCard) if c.url == url)
    return "\n".join(card.render_line(y).text for y in range(card.size.height))


async def test_progress_of_a_running_prompt_appears(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        client = app.monitor.connection(sim.url).client
        await client.queue_prompt(workflow(3, steps=60))
        await until(
            pilot,
            lambda: "KSampler" in card_text(app, sim.url) and "/60" in card_text(app, sim.url),
        )
        await until(pilot, lambda: "1 finished" in card_text(app, sim.url))


async def test_down_then_back_up(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await sim.refuse_connections()
        await until(
            pilot,
            lambda: "reconnecting" in card_text(app, sim.url) or "down" in card_text(app, sim.url),
        )
        assert "✗" in card_text(app, sim.url)
        await sim.accept_connections()
        await until(pilot, lambda: app.fleet.up == 1)


async def test_interrupt_asks_then_acts_and_reports(sim: Simulator):
    messages: list[object] = []
    app = make_app(sim.url)
    async with app.run_test(message_hook=messages.append) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await app.monitor.connection(sim.url).client.queue_prompt(workflow(4, steps=3000))
        await until(pilot, lambda: app.fleet.busy == 1)
        await pilot.press("i")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await actions_done(app)
        await until(pilot, lambda: any(isinstance(m, ActionFinished) for m in messages))
        finished = next(m for m in messages if isinstance(m, ActionFinished))
        assert finished.ok and finished.what == "Interrupted"
        await until(pilot, lambda: "interrupted" in card_text(app, sim.url))


async def test_saying_no_does_nothing(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, FleetScreen)
        assert not app.workers._workers or all(w.group != "server-actions" for w in app.workers)


async def test_delete_marked_pending_prompts_in_depth(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        sim.faults.stall_worker = True
        client = app.monitor.connection(sim.url).client
        for seed in range(3):
            await client.queue_prompt(workflow(seed))
        await until(
            pilot,
            lambda: (s := app.fleet.servers[0]).queue is not None and len(s.queue.pending) >= 2,
        )
        await pilot.press("enter")
        assert isinstance(app.screen, ServerScreen)
        table = app.screen.query_one(QueueTable)
        await until(pilot, lambda: table.row_count >= 3)
        before = len(app.fleet.servers[0].queue.pending)  # type: ignore[union-attr]
        table.move_cursor(row=table.row_count - 1)
        await pilot.press("space", "x", "y")
        await actions_done(app)
        await until(pilot, lambda: len(app.fleet.servers[0].queue.pending) == before - 1)  # type: ignore[union-attr]
        await pilot.press("c", "y")
        await until(pilot, lambda: app.fleet.servers[0].queue_pending == 0)
        sim.faults.stall_worker = False
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_free_memory_reports_success(sim: Simulator):
    app = make_app(sim.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("f", "y")
        await actions_done(app)
        await until(
            pilot, lambda: any("Models unloaded" in str(n.message) for n in app._notifications)
        )


async def test_action_on_a_dead_server_is_a_notification_not_a_crash():
    app = make_app("http://127.0.0.1:9")
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.fleet.servers[0].link == "down")
        await pilot.press("f", "y")
        await actions_done(app)
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        assert app.is_running


async def test_add_and_remove_servers_while_running(sim: Simulator, sim2: Simulator):
    app = make_app(sim.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.fleet.up == 1)
        await pilot.press("a")
        app.screen.query_one("#url", Input).value = sim2.url
        app.screen.query_one("#name", Input).value = "second"
        await pilot.press("enter")
        await until(pilot, lambda: app.fleet.up == 2)
        assert len(app.screen.query(ServerCard)) == 2
        app.screen.query(ServerCard).last().focus()
        await pilot.press("delete", "y")
        await until(pilot, lambda: len(app.screen.query(ServerCard)) == 1)
        assert [s.name for s in app.fleet.servers] == ["sim0"]


async def test_add_server_rejects_a_bad_url():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test() as pilot:
        await pilot.press("a")
        app.screen.query_one("#url", Input).value = "ftp://nope"
        await pilot.press("enter")
        assert "not valid" in str(app.screen.query_one("#error", Label).render())
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_palette_offers_actions_per_server():
    app = make_app("http://127.0.0.1:9", start_engine=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        provider = FleetCommands(app.screen)
        names = [str(hit.text) async for hit in provider.search("interrupt")]
        assert names == ["Interrupt sim0"]
        discovered = [str(hit.text) async for hit in provider.discover()]
        assert "Add server" in discovered and "Clear queue of sim0" in discovered


async def test_a_keypress_is_handled_while_32_servers_stream_events():
    urls = [f"http://10.0.0.{i}:8188" for i in range(32)]
    app = make_app(*urls, start_engine=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for url in urls:
            app.monitor.feed(url, ExecutionStart("p"))
        await pilot.pause()
        await pilot.press("d")
        assert app.screen.query_one("#cards").has_class("-compact") != (app.screen.compact is False)


async def test_a_sweep_runs_in_the_dashboard(sim: Simulator, tmp_path: Path):
    spec = Path(__file__).parents[2] / "sample_workflows" / "model_free_sweep.yaml"
    plan = await plan_sweep(spec, servers=[ServerConfig(sim.url, name="sim0")])
    app = make_app(sim.url, sweep_job=SweepJob(plan, tmp_path / "out"))
    async with app.run_test() as pilot:
        sweep = [w for w in app.workers if w.group == "sweep"]
        await app.workers.wait_for_complete(sweep)
        await pilot.pause()
        assert app.sweep_result is not None
        headline = str(app.screen.query_one("#sweep-headline", Label).render())
        assert "34 done" in headline and "0 failed" in headline and "finished" in headline
        assert app.exit_code() == 0
        said = [str(n.message) for n in app._notifications]
        assert any(f"plot: {tmp_path / 'out' / 'strength-by-blur.png'}" in m for m in said)
    assert (tmp_path / "out" / "strength-by-blur.png").is_file()
    assert (tmp_path / "out" / "report.parquet").exists()
    assert len(list((tmp_path / "out").glob("[0-9]*.png"))) == 34  # runs, not the plot


async def test_a_large_fleet_redraws_at_half_the_rate_a_small_one_at_full():
    def drains_applied(app: FleetApp, drains: int) -> int:
        applied = 0
        for _ in range(drains):
            before = app.fleet
            app.monitor.feed(app.monitor.servers[0].url, ExecutionStart(f"p{applied}"))
            app.drain()
            applied += app.fleet is not before
        return applied

    large = make_app(*[f"http://10.0.1.{i}:8188" for i in range(17)], start_engine=False)
    async with large.run_test(size=(120, 40)):
        assert drains_applied(large, 10) == 5
    small = make_app("http://10.0.2.1:8188", start_engine=False)
    async with small.run_test(size=(120, 40)):
        assert drains_applied(small, 10) == 10
