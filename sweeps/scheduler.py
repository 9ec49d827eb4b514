"""Spread a sweep's runs across every server so no GPU idles, and record each one.

Dispatch is pull-based: each server has ``depth`` slots, and a free slot takes
the next run it may execute. Given a cost model, the runs are first grouped by
what they load and shared out to finish together (:mod:`.placement`); each
finished run teaches the model, and the shares are redrawn as it learns. With
two slots, one prompt runs while the next waits in the server's own queue, so
the GPU goes straight from one to the next.

Failures are sorted by what can be done about them:

* transient (refused connection, timeout, 5xx, server gone): the run goes back
  to the pool for another server, and the failing server cools off;
* rejected (HTTP 400 validation): recorded as ``rejected``, never retried;
* execution errors and interrupts: recorded as ``failed`` / ``interrupted``.

Every run that ends is written to the report journal at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .config import ServerConfig
from .connection import ServerConnection
from .costs import CostModel
from .downloads import download_outputs
from .errors import (
    FleetError,
    PromptRejected,
    ProtocolError,
    RequestRejected,
    ServerFailed,
    TransportError,
    first_error,
)
from .events import Event, ExecutionStart
from .identity import RunIdentity, RunLike
from .placement import Placement
from .planning import PLAN_LIMIT, placement_for
from .pool import Pool
from .progress import RunEvent, ServerProgress, SweepProgress
from .report import ReportWriter, RunRecord, Status, Submission
from .tracking import PromptOutcome, PromptTracker

__all__ = ["RunLike", "ServerProgress", "Sweep", "SweepProgress"]

log = logging.getLogger(__name__)


@dataclass
class _Live:
    """A run submitted to a server and not yet finished."""

    run: RunLike
    conn: ServerConnection
    tracker: PromptTracker
    submitted_at: datetime
    submitted_clock: float | None
    abandoned: bool = False


class Sweep:
    """Run ``runs`` on ``servers``; record into ``report``.

    ``prompt_for`` turns a run into the API-format graph. ``eligible(run, url)``
    says whether a server may take a run (its /object_info lacks a checkpoint,
    say); by default every server may take every run. Runs with equal
    ``affinity(run)`` keys (the same checkpoint, say) go preferably to the server
    that ran that key last, which keeps its model loaded.
    ``on_progress`` is called with a fresh :class:`SweepProgress` after every change,
    and ``on_run`` (settable until :meth:`run`) with a :class:`RunEvent` as each run is
    queued, starts and ends.
    With ``costs``, runs are placed by what they load (``affinity`` is then only
    used for sweeps too big to place whole) and every finished run is learned
    from; the model is saved when the sweep ends.
    """

    def __init__(
        self,
        runs: Iterable[RunLike],
        *,
        total: int,
        prompt_for: Callable[[RunLike], Mapping[str, Any]],
        servers: Sequence[ServerConfig | ServerConnection],
        report: ReportWriter,
        name: str = "sweep",
        eligible: Callable[[RunLike, str], bool] | None = None,
        affinity: Callable[[RunLike], Hashable] | None = None,
        depth: int = 2,
        max_attempts: int = 3,
        on_progress: Callable[[SweepProgress], None] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        costs: CostModel | None = None,
    ) -> None:
        if not servers:
            raise ValueError("a sweep needs at least one server")
        self.connections = [
            s if isinstance(s, ServerConnection) else ServerConnection(s) for s in servers
        ]
        # Connections handed in belong to their owner (the dashboard's monitor),
        # who listens on them and closes them; we listen on and close our own.
        self._own = [c for c, s in zip(self.connections, servers, strict=True) if c is not s]
        self.report = report
        self._skipped = 0
        self._runs = runs
        self.total = total
        self.prompt_for = prompt_for
        self.eligible = eligible or (lambda run, url: True)
        self.affinity = affinity
        self.depth = depth
        self.max_attempts = max_attempts
        self.on_progress = on_progress
        self.on_run: Callable[[RunEvent], None] | None = None
        self._sent: dict[str, RunLike] = {}
        """Prompt ids sent and not yet ended, for ``on_run``: a prompt can start before
        the server has answered the POST that queued it."""
        self.extra_data = extra_data
        self.costs = costs
        self._placement: Placement | None = None
        self._learned = 0
        self._stopping = asyncio.Event()
        self._live: dict[str, _Live] = {}
        now = time.monotonic()
        self._progress = SweepProgress(
            name=name,
            total=total,
            started=now,
            now=now,
            servers={
                c.url: ServerProgress(name=c.server.name, down_since=c.down_since)
                for c in self.connections
            },
        )

    def _skip_done(
        self, runs: Iterable[RunLike], done: set[str], adopted: set[str]
    ) -> Iterator[RunLike]:
        """``runs`` less those done in an earlier session and those being adopted."""
        for run in runs:
            if run.run_id in done:
                self._skipped += 1
                if self._skipped % 1000 == 0:  # 100,000 snapshots would cost seconds
                    self._publish()
                continue
            if run.run_id not in adopted:
                yield run

    @property
    def progress(self) -> SweepProgress:
        return self._progress

    def _publish(self, **changes: Any) -> None:
        self._progress = replace(
            self._progress, skipped=self._skipped, now=time.monotonic(), **changes
        )
        if self.on_progress is not None:
            self.on_progress(self._progress)

    def _server(self, url: str, **changes: Any) -> None:
        servers = dict(self._progress.servers)
        servers[url] = replace(servers[url], **changes)
        self._publish(servers=servers)

    async def run(self) -> SweepProgress:
        """Dispatch until every run has ended (or :meth:`stop`); returns the final progress."""
        by_url = {c.url: c for c in self.connections}
        # Prompts an earlier session queued and never recorded: collect them
        # (they may have run, or still be running) rather than pay for them twice.
        orphans = [s for s in self.report.unfinished() if s.server in by_url]
        runs = self._skip_done(self._runs, self.report.succeeded(), {s.run_id for s in orphans})
        if self.costs is not None and self.total <= PLAN_LIMIT:
            placement = placement_for(
                runs,
                list(by_url),
                eligible=self.eligible,
                prompt_for=self.prompt_for,
                model=self.costs,
            )
            pool = Pool((), list(by_url), placement=placement, available=self._available)
            self._placement = placement
        else:
            pool = Pool(runs, list(by_url), self.affinity)
        self._publish_plan(pool)
        pool.in_flight += len(orphans)  # each comes back through the pool if it must rerun
        unwatch = [c.watch_down(self._down_watcher(c.url)) for c in self.connections]
        if self.on_run is not None:
            unwatch += [c.subscribe(self._start_watcher(c.url)) for c in self.connections]
        try:
            async with asyncio.TaskGroup() as group:
                listeners = [group.create_task(c.listen()) for c in self._own]
                async with asyncio.TaskGroup() as workers:
                    for orphan in orphans:
                        workers.create_task(self._adopt(by_url[orphan.server], orphan, pool))
                    for conn in self.connections:
                        for _ in range(self._depth_for(conn.url)):
                            workers.create_task(self._worker(conn, pool))
                for listener in listeners:
                    listener.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None  # one failure reads better than a tree
        finally:
            for stop_watching in unwatch:
                stop_watching()
            for conn in self._own:
                await conn.client.aclose()
            await self.report.flush()
            if self.costs is not None and self._learned:
                await asyncio.to_thread(self._save_costs, self.costs)
            self._publish(finished=True, running=0)
        return self._progress

    def _depth_for(self, url: str) -> int:
        """Prompts kept queued on ``url``: ``depth``, plus one per doubling of speed over
        the slowest server's. A fast server's runs are short, so the time between
        one prompt ending and our next arriving (download, record, submit) is a
        bigger share of them; a deeper queue covers it. A slow one keeps few, so
        little waits there for the end of the sweep."""
        if self.costs is None or not self.costs.knows(url):
            return self.depth
        known = [self.costs.speed(c.url) for c in self.connections if self.costs.knows(c.url)]
        return self.depth + max(0, math.floor(math.log2(self.costs.speed(url) / min(known))))

    def _publish_plan(self, pool: Pool) -> None:
        """Publish what each server still needs by the plan: the ETA the progress shows."""
        running = {url: server.running for url, server in self._progress.servers.items()}
        planned = pool.planned(running)
        if planned:
            self._publish(planned=planned, planned_at=time.monotonic())

    @staticmethod
    def _save_costs(costs: CostModel) -> None:
        try:
            costs.save()
        except OSError:
            pass  # an optimisation for the next sweep; this one's results are safe

    def _available(self, url: str) -> bool:
        """Not down nor resting after a failure: its share is not coming soon."""
        server = self._progress.servers[url]
        return server.down_since is None and server.cooling_until is None

    def _learn(self, record: RunRecord, run: RunLike) -> bool:
        """Teach the cost model a successful run; True when the shares should be redrawn
        (after 4, 8, 16, ... runs: often while it knows little, rarely once it knows)."""
        if self.costs is None or record.status != "success" or record.server is None:
            return False
        self.costs.observe(
            record.server,
            self.prompt_for(run),
            record.node_timings,
            record.cached_nodes,
            record.exec_s,
        )
        self._learned += 1
        return self._learned >= 4 and self._learned & (self._learned - 1) == 0

    def _announce(self, run: RunLike, url: str, prompt_id: str) -> None:
        """Tell ``on_run`` a prompt is on its way (journaled, about to be sent)."""
        if self.on_run is not None:
            self._sent[prompt_id] = run
            self.on_run(RunEvent("submitted", *_which(run), url, prompt_id))

    def _start_watcher(self, url: str) -> Callable[[Event], None]:
        """Tell ``on_run`` when one of our prompts starts executing on ``url``."""

        def seen(event: Event) -> None:
            if isinstance(event, ExecutionStart) and self.on_run is not None:
                run = self._sent.get(event.prompt_id or "")
                if run is not None:
                    self.on_run(RunEvent("started", *_which(run), url, event.prompt_id))

        return seen

    def _down_watcher(self, url: str) -> Callable[[float | None], None]:
        """Shows in the progress that a server went down (connections refused, its
        socket gone) or came back."""

        def changed(since: float | None) -> None:
            self._server(url, down_since=since)

        return changed

    async def stop(self, *, interrupt_running: bool) -> None:
        """Stop taking runs. Prompts still waiting in a server's queue are withdrawn
        (no GPU time was spent on them, a resume runs them); running prompts
        finish and are downloaded, unless ``interrupt_running``.
        """
        self._stopping.set()
        self._publish(stopping=True)
        for prompt_id, live in list(self._live.items()):
            client = live.conn.client
            try:
                running = live.tracker.started
                if not running:
                    await client.delete_from_queue([prompt_id])
                    queue = await client.get_queue()
                    # It may have started before the delete arrived (its events not in yet).
                    running = any(i.prompt_id == prompt_id for i in queue.running)
                    if not running and not live.tracker.started:
                        live.abandoned = True
                        live.tracker.done = True
                        live.conn.wake(prompt_id)
                if running and interrupt_running:
                    await client.cancel([prompt_id])  # race-free on servers with /api/jobs
            except FleetError:
                continue  # the server is gone; its wait will notice

    async def _steal_tail(self, thief: str) -> RunLike | None:
        """Withdraw a prompt of ours still queued on another server, so that ``thief``
        (idle, with nothing left to take) runs it sooner: queued behind others on a
        server as fast, or on a slower one. None when none would finish sooner.
        A prompt that started before the withdrawal arrived stays where it is, so
        every run ends exactly once."""
        placement = self._placement
        if placement is None:
            return None
        ahead: dict[str, int] = {}  # our prompts before this one on its server
        best: tuple[float, str, _Live] | None = None
        for prompt_id, live in self._live.items():  # in the order they were queued
            victim = live.conn.url
            ahead[victim] = ahead.get(victim, 0) + 1
            if victim == thief or live.tracker.started or live.abandoned:
                continue
            if live.submitted_clock is None or not self.eligible(live.run, thief):
                continue
            gain = placement.sooner_by(live.run, thief=thief, victim=victim, ahead=ahead[victim])
            if gain > 0 and (best is None or gain > best[0]):
                best = (gain, prompt_id, live)
        if best is None:
            return None
        _, prompt_id, live = best
        client = live.conn.client
        try:
            await client.delete_from_queue([prompt_id])
            queue = await client.get_queue()
            if any(i.prompt_id == prompt_id for i in queue.running + queue.pending):
                return None  # it started first (or the server ignored us): it stays
            if live.tracker.started or await client.get_history_entry(prompt_id) is not None:
                return None  # it ran already: its waiter records it
        except FleetError:
            return None
        if live.abandoned or live.tracker.done:
            return None
        live.abandoned = True
        live.tracker.done = True
        live.conn.wake(prompt_id)
        self._server(thief, stolen=self._progress.servers[thief].stolen + 1)
        log.info("run %d withdrawn from %s for idle %s", live.run.run_index, live.conn.url, thief)
        return live.run

    async def _worker(self, conn: ServerConnection, pool: Pool) -> None:
        url = conn.url
        failures = 0
        while True:
            steal = self._steal_tail if self._placement is not None else None
            item = await pool.take(url, self.eligible, self._stopping, steal)
            if item is None:
                return
            run, attempts, tried = item
            attempts += 1
            try:
                record = await self._execute(conn, run, attempts)
            except (TransportError, ServerFailed, ProtocolError) as exc:
                # ProtocolError: this server's answers are not ComfyUI's (a proxy's
                # page, a broken custom route); another server may do the run.
                failures += 1
                cooldown = min(30.0, 0.5 * 2**failures)
                log.warning(
                    "run %d failed on %s (attempt %d of %d): %s; %s, and %s rests %.1f s",
                    run.run_index,
                    url,
                    attempts,
                    self.max_attempts,
                    exc,
                    "recorded as failed" if attempts >= self.max_attempts else "retried",
                    url,
                    cooldown,
                )
                self._server(url, last_error=str(exc), cooling_until=time.monotonic() + cooldown)
                if attempts >= self.max_attempts:
                    await self._record(
                        self._failure(run, attempts, url, exc, status="failed"), pool_url=url
                    )
                    await pool.settle()
                else:
                    self._server(url, retried=self._progress.servers[url].retried + 1)
                    await pool.give_back(run, attempts, tried | {url})
                await self._cool_off(conn, pool, cooldown)
                self._server(url, cooling_until=None)
                continue
            failures = 0
            if record is not None:
                await self._record(record, pool_url=url)
                if self._learn(record, run):
                    await pool.replan()
            await pool.settle()
            self._publish_plan(pool)

    async def _cool_off(self, conn: ServerConnection, pool: Pool, seconds: float) -> None:
        """Rest a failing server for ``seconds``, or less: until it is back (a server
        that went down reopened its socket), the sweep stops, or no run is left (a
        resting server must not keep a finished sweep from ending)."""
        waits = [pool.wait_drained(), self._stopping.wait()]
        if conn.down_since is not None:
            waits.append(conn.connected.wait())
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _adopt(self, conn: ServerConnection, orphan: Submission, pool: Pool) -> None:
        """Finish a run whose prompt an earlier session queued on ``conn``.

        Finished: its history gives the outcome and its files are downloaded.
        Still queued or running: it is waited for. Unknown to the server (it
        restarted, or the prompt was withdrawn): the run goes back to the pool.
        """
        run = RunIdentity(
            orphan.run_index, orphan.run_id, orphan.workflow, orphan.params, orphan.repeat
        )
        try:
            entry = await conn.client.get_history_entry(orphan.prompt_id)
            if entry is None:
                queue = await conn.client.get_queue()
                if orphan.prompt_id not in {i.prompt_id for i in queue.running + queue.pending}:
                    # It may have finished between the two questions: ask history again.
                    entry = await conn.client.get_history_entry(orphan.prompt_id)
                    if entry is None:
                        await pool.give_back(run, 0, frozenset())
                        return
            if entry is None:
                tracker = conn.track(orphan.prompt_id)
                live = _Live(run, conn, tracker, orphan.submitted_at, None)
                self._live[orphan.prompt_id] = live
                try:
                    outcome = await conn.wait(tracker)
                finally:
                    self._live.pop(orphan.prompt_id, None)
            else:
                tracker = PromptTracker(orphan.prompt_id, server=conn.url)
                live = _Live(run, conn, tracker, orphan.submitted_at, None)
                outcome = tracker.outcome(entry)
        except (TransportError, ServerFailed, ProtocolError):
            await pool.give_back(run, 0, frozenset())
            return
        await self._record(await self._finish(live, outcome, attempts=1), pool_url=conn.url)
        await pool.settle()

    async def _execute(
        self, conn: ServerConnection, run: RunLike, attempts: int
    ) -> RunRecord | None:
        prompt = self.prompt_for(run)
        submitted_at = datetime.now(UTC)
        submitted_clock = time.monotonic()
        prompt_id = str(uuid.uuid4())
        await self.report.commit(
            Submission(
                **RunIdentity.of(run).report_fields(),
                server=conn.url,
                prompt_id=prompt_id,
                submitted_at=submitted_at,
            )
        )
        self._announce(run, conn.url, prompt_id)
        try:
            queued, tracker = await conn.submit(
                prompt, extra_data=self.extra_data, prompt_id=prompt_id
            )
        except (PromptRejected, RequestRejected) as exc:
            self._sent.pop(prompt_id, None)
            return self._failure(run, attempts, conn.url, exc, status="rejected")
        if queued.prompt_id != prompt_id:  # an older server chose its own id
            self._sent[queued.prompt_id] = self._sent.pop(prompt_id, run)
            await self.report.commit(
                Submission(
                    **RunIdentity.of(run).report_fields(),
                    server=conn.url,
                    prompt_id=queued.prompt_id,
                    submitted_at=submitted_at,
                )
            )
        live = _Live(run, conn, tracker, submitted_at, submitted_clock)
        self._live[queued.prompt_id] = live
        self._server(conn.url, running=self._progress.servers[conn.url].running + 1)
        self._publish(running=len(self._live))
        try:
            outcome = await conn.wait(tracker)
        finally:
            self._live.pop(queued.prompt_id, None)
            self._server(conn.url, running=self._progress.servers[conn.url].running - 1)
            self._publish(running=len(self._live))
        if live.abandoned:
            return None
        return await self._finish(live, outcome, attempts)

    async def _finish(self, live: _Live, outcome: PromptOutcome, attempts: int) -> RunRecord:
        run = live.run
        outputs: list[dict[str, Any]] = []
        error_type, error_message = outcome.error_type, outcome.error_message
        status = outcome.status
        try:
            saved = await download_outputs(
                live.conn.client,
                outcome.outputs,
                run_index=run.run_index,
                dest_dir=self.report.out_dir,
            )
            paths = {id(f): p for f, p in saved}
        except (TransportError, ServerFailed, RequestRejected, ProtocolError) as exc:
            paths = {}
            status = "failed"
            error_type, error_message = "DownloadFailed", str(exc)
        except OSError as exc:
            # Our disk, not the server: every later run would fail alike, so stop.
            # The files stay on the server, and a resume fetches them.
            paths = {}
            status = "failed"
            error_type = "DownloadFailed"
            error_message = (
                f"cannot save outputs into {self.report.out_dir}: {exc.strerror or exc}; "
                "the sweep stopped, and the same command resumes it"
            )
            await self.stop(interrupt_running=False)
        for f in outcome.outputs:
            path = paths.get(id(f))
            outputs.append(
                {
                    "node_id": f.node_id,
                    "filename": f.filename,
                    "subfolder": f.subfolder,
                    "type": f.type,
                    # Files land directly in the output folder (downloads.local_name).
                    "path": path.name if path else None,
                }
            )
        started_at = outcome.started_at
        finished_at = outcome.finished_at or datetime.now(UTC)
        if live.submitted_clock is not None:
            total_s = time.monotonic() - live.submitted_clock
        else:  # queued by an earlier process: only the wall clocks are comparable
            total_s = (finished_at - live.submitted_at).total_seconds()
        exec_s = outcome.exec_seconds
        queue_s = max(0.0, total_s - exec_s) if exec_s is not None else None
        return RunRecord(
            **RunIdentity.of(run).report_fields(),
            status=status,
            server=live.conn.url,
            server_name=live.conn.server.name,
            prompt_id=outcome.prompt_id,
            attempts=attempts,
            submitted_at=live.submitted_at,
            started_at=started_at,
            finished_at=finished_at,
            queue_s=queue_s,
            exec_s=exec_s,
            total_s=total_s,
            cached_nodes=outcome.cached_nodes,
            node_timings=tuple(
                {
                    "node_id": t.node_id,
                    "class_type": t.class_type,
                    "seconds": t.seconds,
                    "cached": t.cached,
                }
                for t in outcome.node_timings
            ),
            outputs=tuple(outputs),
            error_type=error_type,
            error_message=error_message,
            error_node=outcome.error_node,
        )

    def _failure(
        self, run: RunLike, attempts: int, url: str, exc: FleetError, *, status: Status
    ) -> RunRecord:
        node = None
        if isinstance(exc, PromptRejected) and exc.node_errors:
            node = exc.node_errors[0].node_id
        return RunRecord(
            **RunIdentity.of(run).report_fields(),
            status=status,
            server=url,
            server_name=self._progress.servers[url].name,
            attempts=attempts,
            submitted_at=datetime.now(UTC),
            error_type=type(exc).__name__,
            error_message=str(exc),
            error_node=node,
        )

    async def _record(self, record: RunRecord, *, pool_url: str) -> None:
        await self.report.commit(record)  # on disk before anyone is told it finished
        self._sent.pop(record.prompt_id or "", None)
        if self.on_run is not None:
            first_line = (record.error_message or "").strip().splitlines()[:1]
            self.on_run(
                RunEvent(
                    "finished",
                    *_which(record),
                    record.server or pool_url,
                    record.prompt_id,
                    record.status,
                    record.exec_s,
                    f"{record.error_type}: {first_line[0]}" if first_line else record.error_type,
                )
            )
        log.debug(
            "run %d %s on %s: queued %s s, executed %s s, %d files",
            record.run_index,
            record.status,
            record.server,
            _seconds(record.queue_s),
            _seconds(record.exec_s),
            len(record.outputs),
        )
        ok = record.status == "success"
        server = self._progress.servers[pool_url]
        self._server(
            pool_url,
            done=server.done + ok,
            failed=server.failed + (not ok),
        )
        latest = self._progress.latest_outputs
        if ok:
            paths = [self.report.out_dir / o["path"] for o in record.outputs if o.get("path")]
            latest = (*latest, *paths)[-8:]
        failure = self._progress.last_failure
        if not ok:
            first_line = (record.error_message or "").strip().splitlines()[:1]
            failure = f"run {record.run_index}: {record.error_type}: {' '.join(first_line)}"
        self._publish(
            done=self._progress.done + ok,
            failed=self._progress.failed + (not ok),
            interrupted=self._progress.interrupted + (record.status == "interrupted"),
            latest_outputs=latest,
            last_failure=failure,
        )


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _which(run: RunLike | RunRecord) -> tuple[int, str]:
    return run.run_index, run.run_id
