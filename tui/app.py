"""FleetApp: the ``comfyfleet watch`` dashboard.

The app owns the engine: one ``group="engine"`` worker runs a
:class:`~sweeps.monitor.FleetMonitor`, and a timer drains the monitor's dirty set
into the ``fleet`` reactive about ten times a second. Screens watch ``fleet``
(and the one-second ``now`` tick for ages and elapsed times) and push snapshots
down to their widgets. No widget or handler awaits the network: actions run in
``group="server-actions"`` workers and report with ``notify()``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from sweeps.config import ServerConfig
from sweeps.connection import ServerConnection
from sweeps.errors import FleetError
from sweeps.monitor import FleetMonitor
from sweeps.progress import SweepProgress
from sweeps.runner import Plan, SweepResult, check_plan, plan_sweep, run_planned
from sweeps.scheduler import Sweep
from sweeps.spec import load_spec
from sweeps.state import FleetSnapshot

from .commands import FleetCommands
from .errors import describe
from .messages import ActionFinished
from .screens.add_server import AddServerScreen
from .screens.confirm import ConfirmScreen
from .screens.fleet import FleetScreen
from .screens.server import ServerScreen
from .screens.start_sweep import StartSweepScreen

__all__ = ["FleetApp", "SweepJob"]

REFRESH_HZ = 10.0
LARGE_FLEET = 16
"""More servers than this redraw at half of ``REFRESH_HZ``."""
"""How often the monitor's changes are drawn. Progress arrives faster; nobody reads faster."""


@dataclass(frozen=True)
class SweepJob:
    """A checked sweep for the dashboard to run (``sweep --tui``, ``demo``, or ``s``)."""

    plan: Plan
    out_dir: Path | None = None


class FleetApp(App[int]):
    """A live dashboard for a fleet of ComfyUI servers."""

    CSS_PATH = "app.tcss"
    TITLE = "comfyfleet"
    COMMANDS = App.COMMANDS | {FleetCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave the dashboard"),
    ]
    """``s`` (run a sweep) and ``a`` (add a server) belong to the fleet screen, whose footer
    shows them; the command palette offers both everywhere."""

    ACTION_SLOW_AFTER = 1.5
    """Seconds before a server action that has not answered says it is still waiting."""

    fleet: reactive[FleetSnapshot] = reactive(
        FleetSnapshot, always_update=True, init=False, repaint=False
    )
    """Every server's latest snapshot; replaced (never mutated) when anything changes.

    ``repaint=False`` on the app's reactives: a repaint here would redraw the whole
    screen; the widgets that render the change refresh themselves.
    """
    now: reactive[float] = reactive(0.0, init=False, repaint=False)
    """The wall clock, ticking once a second, for ages and elapsed times."""
    sweep: reactive[SweepProgress | None] = reactive(None, init=False, repaint=False)
    """The latest sweep's progress (``sweep --tui``, or one started here); None before any."""
    engine_error: reactive[str | None] = reactive(None, init=False, repaint=False)
    """Why the fleet monitor stopped, while it is stopped: the cards no longer update."""

    def __init__(
        self,
        servers: Sequence[ServerConfig] = (),
        *,
        poll_interval: float = 2.0,
        monitor: FleetMonitor | None = None,
        clock: Callable[[], float] = time.time,
        start_engine: bool = True,
        sweep_job: SweepJob | None = None,
        refresh_hz: float = REFRESH_HZ,
    ) -> None:
        super().__init__()
        self.clock = clock
        """Wall-clock seconds; snapshot tests freeze it."""
        self.monitor = monitor or FleetMonitor(servers, poll_interval=poll_interval, clock=clock)
        """The engine; only workers await it."""
        self.start_engine = start_engine
        """False for snapshot tests that feed the monitor by hand."""
        self.sweep_job = sweep_job
        self.sweep_result: SweepResult | None = None
        """Set when the dashboard's sweep has ended."""
        self._sweep: Sweep | None = None
        self._sweep_latest: SweepProgress | None = None
        self.refresh_hz = refresh_hz
        self._drains = 0
        self.set_reactive(FleetApp.fleet, self.monitor.fleet())
        self.set_reactive(FleetApp.now, clock())

    def get_default_screen(self) -> Screen[None]:
        return FleetScreen()

    def on_mount(self) -> None:
        if self.start_engine:
            self.run_engine()
        if self.sweep_job is not None:
            self.run_sweep_job(self.sweep_job)
        self.set_interval(1 / self.refresh_hz, self.drain)
        self.set_interval(1.0, self.tick)
        # The startup heap (modules, classes, the DOM) lives as long as the app: keep the
        # full collections that progress traffic triggers every few seconds from scanning
        # it again (40-80 ms pauses at 32 busy servers, felt as a late keypress). Collect
        # first so that only live objects are frozen.
        gc.collect()
        gc.freeze()

    # -- engine -----------------------------------------------------------

    @work(group="engine", exclusive=True, exit_on_error=False, description="fleet monitor")
    async def run_engine(self) -> None:
        await self.monitor.run()

    @property
    def engine_running(self) -> bool:
        return any(w.group == "engine" and not w.is_finished for w in self.workers)

    def action_restart_engine(self) -> None:
        """Watch the same servers with a fresh monitor after the last one stopped.

        The stopped monitor closed its connections, so they cannot be reused; the
        cards start over from "connecting". Not while a sweep runs: it lends the
        monitor's connections.
        """
        if self.engine_running:
            self.notify("The fleet monitor is running.", markup=False)
            return
        if self.sweep_running:
            self.notify(
                "A sweep is running on the monitor's connections: wait for it to end.",
                severity="warning",
                markup=False,
            )
            return
        old = self.monitor
        self.monitor = FleetMonitor(old.servers, poll_interval=old.poll_interval, clock=self.clock)
        self.engine_error = None
        self.run_engine()
        self.notify("Watching the fleet again.", title="Monitor restarted", markup=False)

    @work(group="sweep", exclusive=True, exit_on_error=False, description="sweep")
    async def run_sweep_job(self, job: SweepJob) -> None:
        """Run the sweep on connections the monitor owns, so its prompts show on the cards.

        ComfyUI sends a prompt's events only to the client that queued it; a
        second socket of the dashboard's own would see none of them. Each call
        starts afresh, so a sweep can follow one that ended; the panel keeps the
        last one's numbers until the new one reports.
        """
        self.sweep_result = None
        self._sweep = None
        self._sweep_latest = None
        result = await run_planned(
            job.plan,
            out_dir=job.out_dir,
            on_start=self._sweep_started,
            on_progress=self._sweep_progress,
            connection_for=self._lend_connection,
        )
        self.sweep_result = result
        self.sweep = result.progress
        p = result.progress
        files = [f"plot: {path}" for path in result.plots]
        files += [f"contact sheet: {result.sheet}"] if result.sheet else []
        self.notify(
            "\n".join(
                [f"{p.done} succeeded, {p.failed} failed; report in {result.out_dir}", *files]
            ),
            title="Sweep finished" if not p.remaining else "Sweep stopped",
            severity="information" if p.failed == 0 and not p.remaining else "warning",
            timeout=15,
            markup=False,
        )
        for warning in result.plot_warnings:
            self.notify(warning, title="Plot not drawn", severity="warning", markup=False)

    def _lend_connection(self, config: ServerConfig) -> ServerConnection:
        self.monitor.add_server(config)
        return self.monitor.connection(config.url)

    def _sweep_started(self, sweep: Sweep) -> None:
        self._sweep = sweep

    def _sweep_progress(self, progress: SweepProgress) -> None:
        # Called per run and per retry; the drain timer draws the latest one.
        self._sweep_latest = progress

    @property
    def sweep_running(self) -> bool:
        """A sweep is being planned or runs (its worker has not finished)."""
        return any(w.group in ("sweep", "sweep-plan") and not w.is_finished for w in self.workers)

    def action_run_sweep(self) -> None:
        """Ask for a spec and run it on the watched servers (binding ``s``, the palette)."""
        if self.screen.is_modal:
            return  # a dialog is open (maybe this one): finish it first
        if self.sweep_running:
            self.notify(
                "A sweep is still running: wait for it to finish, or press q to stop it.",
                title="Sweep running",
                severity="warning",
                markup=False,
            )
            return

        def closed(started: bool | None) -> None:
            if not started:
                self.workers.cancel_group(self, "sweep-plan")

        names = [self.server_name(s.url) for s in self.monitor.servers]
        self.push_screen(StartSweepScreen(names), closed)

    @on(StartSweepScreen.Submitted)
    def _start_sweep_submitted(self, event: StartSweepScreen.Submitted) -> None:
        if any(w.group == "sweep" and not w.is_finished for w in self.workers):
            self.notify("A sweep is still running.", severity="warning", markup=False)
            return
        event.dialog.planning = True
        self.plan_sweep_job(event.dialog, event.spec, event.out_dir)

    @work(group="sweep-plan", exclusive=True, exit_on_error=False, description="plan sweep")
    async def plan_sweep_job(
        self, dialog: StartSweepScreen, spec_path: Path, out_dir: Path | None
    ) -> None:
        """Plan and check a sweep against the watched servers; start it, or say why not.

        The watched servers win over the spec's own ``servers``: they are what the
        user is looking at. On failure the dialog stays open with what was typed.
        """
        try:
            spec = await asyncio.to_thread(load_spec, spec_path)
            plan = await plan_sweep(spec, servers=self.monitor.servers)
            check_plan(plan)
        except FleetError as exc:
            self.notify(str(exc), title=exc.title, severity="error", timeout=15, markup=False)
            return
        finally:
            if dialog.is_attached:
                dialog.planning = False
        if dialog.is_attached:
            dialog.pop_until_active()
            dialog.dismiss(True)
        self.run_sweep_job(SweepJob(plan, out_dir))

    @work(group="sweep-stop", exclusive=True, exit_on_error=False, description="stop sweep")
    async def stop_sweep(self, sweep: Sweep) -> None:
        await sweep.stop(interrupt_running=False)

    async def action_quit(self) -> None:
        """Leave; while a sweep runs, the first press only stops it, as Ctrl-C does headless."""
        sweep = self._sweep
        if sweep is not None and self.sweep_result is None and not sweep.progress.stopping:
            self.notify(
                "Stopping the sweep: queued prompts are withdrawn, running ones finish "
                "and are downloaded. Press q again to leave now (rerun to resume).",
                title="Stopping",
                timeout=10,
                markup=False,
            )
            self.stop_sweep(sweep)
            return
        self.exit(self.exit_code())

    def exit_code(self) -> int:
        """0 unless a sweep ran here and some runs failed or did not run."""
        if self.sweep_job is None:
            return 0
        result = self.sweep_result
        if result is None or result.progress.failed or result.progress.remaining:
            return 1
        return 0

    def drain(self) -> None:
        """Move the monitor's pending changes into ``fleet`` (one redraw for all of them)."""
        self._drains += 1
        if len(self.fleet.servers) > LARGE_FLEET and self._drains % 2:
            # Repainting dozens of busy cards ten times a second costs a third of a core
            # and the eye gains nothing: a large fleet redraws at half the rate. Keys
            # still answer at once; they do not wait for a drain.
            return
        snapshot = self.monitor.drain()
        if snapshot is not None:
            self.fleet = snapshot
        if self._sweep_latest is not None and self.sweep_result is None:
            if self._sweep_latest is not self.sweep:
                self.sweep = self._sweep_latest

    def tick(self) -> None:
        self.now = self.clock()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker failures become notifications, never tracebacks.

        Screens send theirs here too (``Worker.StateChanged`` does not bubble).
        """
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        title, message = describe(worker.error)
        if worker.group == "engine":
            title = "The fleet monitor stopped"
            self.engine_error = message
            message += "\nThe cards no longer update: restart it from the command palette."
        self.notify(message, title=title, severity="error", timeout=10, markup=False)

    # -- actions (bindings, screens and the command palette all come here) ---

    def server_name(self, url: str) -> str:
        snapshot = self.fleet.get(url)
        return snapshot.name if snapshot is not None else url

    def action_open_server(self, url: str) -> None:
        if self.fleet.get(url) is not None:
            self.push_screen(ServerScreen(url))

    def action_add_server(self) -> None:
        if self.screen.is_modal:
            return  # a dialog is open (maybe this one): finish it first

        def added(config: ServerConfig | None) -> None:
            if config is None:
                return
            if self.monitor.add_server(config):
                self.notify(f"Watching {config.name} ({config.url})", markup=False)
            else:
                self.notify(f"{config.url} is already watched", severity="warning", markup=False)

        watched = {s.url: s.name for s in self.fleet.servers}
        self.push_screen(AddServerScreen(watched), added)

    def action_remove_server(self, url: str) -> None:
        name = self.server_name(url)

        def answered(yes: bool | None) -> None:
            if yes and self.monitor.remove_server(url):
                if isinstance(self.screen, ServerScreen) and self.screen.url == url:
                    self.pop_screen()
                self.notify(f"Stopped watching {name}", markup=False)

        self.push_screen(ConfirmScreen(f"Stop watching {name}?", url, yes="Remove"), answered)

    def action_interrupt(self, url: str) -> None:
        snapshot = self.fleet.get(url)
        running = snapshot.running if snapshot is not None else None
        prompt_id = running.prompt_id if running is not None else None
        detail = f"prompt {prompt_id}" if prompt_id else "nothing seems to run; interrupt anyway"
        self._confirm_then(
            url,
            f"Interrupt the running prompt on {self.server_name(url)}?",
            detail,
            partial(self.monitor.interrupt, url, prompt_id),
            "Interrupted",
        )

    def action_clear_queue(self, url: str) -> None:
        snapshot = self.fleet.get(url)
        pending = snapshot.queue_pending if snapshot is not None else 0
        self._confirm_then(
            url,
            f"Clear the queue of {self.server_name(url)}?",
            f"{pending} pending prompt(s) will be removed; the running one is left alone.",
            partial(self.monitor.clear_queue, url),
            "Queue cleared",
        )

    def action_free_memory(self, url: str) -> None:
        self._confirm_then(
            url,
            f"Unload models on {self.server_name(url)}?",
            "The next prompt will load its checkpoint again.",
            partial(self.monitor.free_memory, url),
            "Models unloaded",
        )

    def delete_pending(self, url: str, prompt_ids: Sequence[str]) -> None:
        if not prompt_ids:
            self.notify(
                "Nothing selected: mark pending prompts with space",
                severity="warning",
                markup=False,
            )
            return
        ids = list(prompt_ids)
        self._confirm_then(
            url,
            f"Delete {len(ids)} pending prompt(s) from {self.server_name(url)}?",
            ", ".join(i[:8] for i in ids[:6]) + (" …" if len(ids) > 6 else ""),
            partial(self.monitor.delete_pending, url, ids),
            f"Deleted {len(ids)} pending prompt(s)",
        )

    def _confirm_then(
        self, url: str, question: str, detail: str, act: Callable[[], Awaitable[None]], done: str
    ) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action_worker(url, act, done)

        self.push_screen(ConfirmScreen(question, detail), answered)

    @work(group="server-actions", exit_on_error=False, description="server action")
    async def run_action_worker(
        self, url: str, act: Callable[[], Awaitable[None]], done: str
    ) -> None:
        """Run one confirmed action and say how it went, whatever the server does.

        A hung server answers only when the read timeout fires (30 s by default):
        after :attr:`ACTION_SLOW_AFTER` the user is told that the action is still
        waiting, so a confirmed action never looks ignored.
        """
        name = self.server_name(url)
        slow = self.set_timer(
            self.ACTION_SLOW_AFTER,
            partial(
                self.notify,
                f"{name}: still waiting for the server to answer ({done.lower()})…",
                title="Waiting",
                markup=False,
            ),
        )
        try:
            await act()
        except FleetError as exc:
            self.notify(
                str(exc), title=f"{name}: {exc.title}", severity="error", timeout=8, markup=False
            )
            self.post_message(ActionFinished(url, done, ok=False))
            return
        except KeyError:
            # Removed between the question and the answer: nothing left to act on.
            self.notify(f"{name} is no longer watched.", severity="warning", markup=False)
            self.post_message(ActionFinished(url, done, ok=False))
            return
        finally:
            slow.stop()
        self.notify(f"{name}: {done}", markup=False)
        self.post_message(ActionFinished(url, done, ok=True))
