"""What a running sweep looks like from outside: counts, rates, ETA, per server.

The scheduler publishes these snapshots; the headless progress bar and the
dashboard's sweep panel only read them. Scripts that want each run's steps
(``sweep --json-stream``) get :class:`RunEvent` values as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["RunEvent", "ServerProgress", "SweepProgress"]


@dataclass(frozen=True)
class ServerProgress:
    """One server's share of a sweep."""

    name: str = ""
    done: int = 0
    failed: int = 0
    running: int = 0
    retried: int = 0
    """Runs this server lost (it failed or vanished under them) and gave to other servers."""
    stolen: int = 0
    """Runs this server took over from a slower one's queue at the end of the sweep."""
    cooling_until: float | None = None
    last_error: str | None = None
    down_since: float | None = None
    """Monotonic seconds since which the server has been unreachable (its websocket
    dropped and will not reopen, or it refuses connections); None while it answers."""


@dataclass(frozen=True)
class SweepProgress:
    """A snapshot of a sweep, for progress bars and the dashboard's sweep panel.

    ``started`` and ``now`` are monotonic seconds taken by the producer, so the
    derived rate and ETA are the same whenever a snapshot is read (and tests can
    build snapshots by hand).
    """

    name: str
    total: int
    done: int = 0
    failed: int = 0
    interrupted: int = 0
    """Of ``failed``, the runs interrupted on purpose (a second Ctrl-C, say)."""
    skipped: int = 0
    """Runs that had succeeded in an earlier session into the same output directory."""
    running: int = 0
    started: float = 0.0
    now: float = 0.0
    servers: Mapping[str, ServerProgress] = field(default_factory=dict)
    latest_outputs: tuple[Path, ...] = ()
    """The newest downloaded files, newest last."""
    last_failure: str | None = None
    stopping: bool = False
    finished: bool = False
    planned: Mapping[str, float] = field(default_factory=dict)
    """Seconds each server still needs, as the cost model and placement saw it at
    ``planned_at`` (monotonic); empty when the sweep was not placed."""
    planned_at: float = 0.0

    @property
    def completed(self) -> int:
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.skipped - self.completed)

    @property
    def rate(self) -> float | None:
        """Runs completed per second in this session, or None before the first."""
        elapsed = self.now - self.started
        return self.completed / elapsed if elapsed > 0 and self.completed else None

    @property
    def eta(self) -> float | None:
        """Seconds until every run has completed: the planned estimate when there is
        one (it knows what each server has left and how fast it is), else the
        remaining runs at the current rate."""
        if self.planned:
            return max(0.0, max(self.planned.values()) - (self.now - self.planned_at))
        rate = self.rate
        return self.remaining / rate if rate else None

    def server_eta(self, url: str) -> float | None:
        """Seconds until ``url`` has run its planned share; None when not placed."""
        planned = self.planned.get(url)
        return None if planned is None else max(0.0, planned - (self.now - self.planned_at))

    def server_rate(self, url: str) -> float | None:
        """Runs one server completed per second."""
        server = self.servers.get(url)
        elapsed = self.now - self.started
        if server is None or elapsed <= 0 or not server.done:
            return None
        return server.done / elapsed


@dataclass(frozen=True)
class RunEvent:
    """One run's step, as it happens: queued on a server, started there, or ended.

    ``status`` is the report's (``success``, ``failed``, ``interrupted``,
    ``rejected``) on ``finished`` events, None before.
    """

    kind: Literal["submitted", "started", "finished"]
    run_index: int
    run_id: str
    server: str
    prompt_id: str | None = None
    status: str | None = None
    seconds: float | None = None
    """Execution seconds, on ``finished`` events of runs that executed."""
    error: str | None = None
