"""Fold one prompt's websocket events into its outcome, then reconcile with /history.

Completion is ``executing {node: null}`` for our prompt id: it follows success,
error and interrupt alike, and only it is sent after the history entry is
written (PROTOCOL 6.1). ``execution_success`` arrives earlier, before history
exists, so it sets the status but does not end the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .events import (
    Event,
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    ProgressState,
)
from .models import HistoryEntry, Outcome, OutputFile, output_files, problems_in_outputs

__all__ = ["NodeTiming", "PromptOutcome", "PromptTracker"]


@dataclass(frozen=True)
class NodeTiming:
    """How long one node took, measured from the events as they arrived; a node
    answered from the cache is listed too, with ``cached`` and 0 seconds, so a
    notebook sees every node of the prompt and which ones cost nothing."""

    node_id: str
    class_type: str
    seconds: float
    cached: bool = False


@dataclass(frozen=True)
class PromptOutcome:
    """What became of one prompt: status, files, cache hits, timings, error."""

    prompt_id: str
    server: str
    status: Outcome
    outputs: tuple[OutputFile, ...] = ()
    cached_nodes: tuple[str, ...] = ()
    node_timings: tuple[NodeTiming, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_node: str | None = None
    error_traceback: tuple[str, ...] = field(default=(), repr=False)

    @property
    def exec_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


def _from_ms(value: int | float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        return None  # not milliseconds after all (a custom server's own clock)


class PromptTracker:
    """Collects the events of one prompt id. Feed it every event of its server.

    Events for other prompts are ignored, so one listener can feed all the
    trackers of a server. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        prompt_id: str,
        *,
        server: str = "",
        prompt: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prompt_id = prompt_id
        self.server = server
        self._class_types = {
            str(k): str(v.get("class_type", "?"))
            for k, v in (prompt or {}).items()
            if isinstance(v, Mapping)
        }
        self._clock = clock
        self.status: Outcome | None = None
        self.started: bool = False
        self.done: bool = False
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.cached: tuple[str, ...] = ()
        self.outputs: dict[str, list[OutputFile]] = {}
        self._ui: dict[str, Any] = {}
        self.missed = False
        """Set by whoever feeds it when events may have gone by unseen (the socket
        closed or reopened): then only /history can say what the prompt left."""
        self.current_node: str | None = None
        self._node_started: dict[str, float] = {}
        self._timings: dict[str, float] = {}
        self.error: ExecutionError | ExecutionInterrupted | None = None

    def feed(self, event: Event) -> bool:
        """Take one event; True once the prompt is over (history is written)."""
        if getattr(event, "prompt_id", None) != self.prompt_id or self.done:
            return self.done
        now = self._clock()
        match event:
            case ExecutionStart(timestamp=ts):
                self.started = True
                self.started_at = _from_ms(ts) or datetime.fromtimestamp(now, UTC)
            case ExecutionCached(nodes=nodes):
                self.cached = nodes
            case Executing(node=None):
                self._finish_node(now)
                self.done = True
                if self.status is None:
                    # Completed without a verdict we saw: history will tell.
                    self.status = "failed"
                if self.finished_at is None:
                    self.finished_at = datetime.fromtimestamp(now, UTC)
            case Executing(node=node) if node is not None:
                self._finish_node(now)
                self.current_node = node
                self._node_started[node] = now
            case ProgressState(nodes=nodes):
                for n in nodes:
                    if n.state == "finished" and n.node_id in self._node_started:
                        self._finish_node(now, n.node_id)
            case Executed(node=node, output=output):
                self.outputs[node] = output_files(node, output)
                self._ui[node] = output
            case ExecutionSuccess(timestamp=ts):
                self._finish_node(now)
                self.status = "success"
                self.finished_at = _from_ms(ts) or datetime.fromtimestamp(now, UTC)
            case ExecutionError(exception_type="ExecutionBlocked"):
                pass  # does not stop the prompt (PROTOCOL 2.2)
            case ExecutionError(timestamp=ts):
                self._finish_node(now)
                self.status = "failed"
                self.error = event
                self.finished_at = _from_ms(ts) or datetime.fromtimestamp(now, UTC)
            case ExecutionInterrupted(timestamp=ts):
                self._finish_node(now)
                self.status = "interrupted"
                self.error = event
                self.finished_at = _from_ms(ts) or datetime.fromtimestamp(now, UTC)
        return self.done

    @property
    def whole(self) -> bool:
        """True when the events alone are the whole record of a successful prompt,
        so asking /history would only repeat them.

        Every event of it reached us on one socket: its start, every output node's
        ``executed`` (sent for cached output nodes too, PROTOCOL 3), its success and
        ``executing null``. A failure, a gap in the socket, or outputs in a shape
        ComfyUI does not write still go to /history, which is authoritative.
        """
        return (
            self.done
            and self.started
            and self.status == "success"
            and not self.missed
            and not problems_in_outputs(self._ui)
        )

    def _finish_node(self, now: float, node: str | None = None) -> None:
        node = node or self.current_node
        if node is None:
            return
        started = self._node_started.pop(node, None)
        if started is not None:
            self._timings[node] = self._timings.get(node, 0.0) + (now - started)
        if node == self.current_node:
            self.current_node = None

    def outcome(self, history: HistoryEntry | None = None) -> PromptOutcome:
        """The outcome so far; with ``history``, its status and files win.

        History is authoritative for files: it holds the UI of every node,
        including cached ones, even when some websocket frames were missed.
        """
        status: Outcome = self.status or "failed"
        outputs = [f for files in self.outputs.values() for f in files]
        cached = self.cached
        started_at, finished_at = self.started_at, self.finished_at
        error_type = error_message = error_node = None
        traceback: tuple[str, ...] = ()
        if isinstance(self.error, ExecutionError):
            error_type = self.error.exception_type
            error_message = self.error.exception_message.strip()
            error_node = self.error.node_id
            traceback = self.error.traceback
        elif isinstance(self.error, ExecutionInterrupted):
            error_type = "Interrupted"
            error_message = f"interrupted at node {self.error.node_id} ({self.error.node_type})"
            error_node = self.error.node_id
        if history is not None:
            if history.has_status or self.error is None:
                # A server too old to record a status: the error we saw says more.
                status = history.outcome
            outputs = history.files
            cached = history.cached_nodes or cached
            started_at = _from_ms(history.started_ms) or started_at
            finished_at = _from_ms(history.finished_ms) or finished_at
            failure = history.message("execution_error")
            if failure is not None and error_type is None:
                error_type = str(failure.get("exception_type") or "Exception")
                error_message = str(failure.get("exception_message") or "").strip()
                error_node = failure.get("node_id")
                traceback = tuple(str(t) for t in failure.get("traceback") or ())
            if history.output_problems and status == "success":
                # Files that cannot be fetched: not a success, and the reason kept.
                status, error_type, traceback = "failed", "ProtocolError", ()
                error_message = (
                    f"{self.server} recorded outputs in a shape ComfyUI does not write, so "
                    f"their files were not downloaded: {'; '.join(history.output_problems)}"
                )
            stopped = history.message("execution_interrupted")
            if stopped is not None and error_type is None:
                error_type = "Interrupted"
                error_message = (
                    f"interrupted at node {stopped.get('node_id')} ({stopped.get('node_type')})"
                )
                error_node = stopped.get("node_id")
        timings = tuple(
            NodeTiming(node, self._class_types.get(node, "?"), 0.0, cached=True)
            for node in cached
            if node not in self._timings
        ) + tuple(
            NodeTiming(node, self._class_types.get(node, "?"), round(seconds, 6))
            for node, seconds in self._timings.items()
        )
        return PromptOutcome(
            prompt_id=self.prompt_id,
            server=self.server,
            status=status,
            outputs=tuple(outputs),
            cached_nodes=tuple(cached),
            node_timings=timings,
            started_at=started_at,
            finished_at=finished_at,
            error_type=error_type,
            error_message=error_message,
            error_node=None if error_node is None else str(error_node),
            error_traceback=traceback,
        )
