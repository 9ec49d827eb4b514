"""Machine-readable output: ``plan --json`` and ``sweep --json-stream``.

What a person reads in tables and progress bars, a script reads here: one JSON
document for a plan, and one JSON object per line (NDJSON) for a running sweep,
each with an ``event`` field, as comfy-cli and ``docker events`` do. Values are
plain JSON; times are seconds, or ISO 8601 in UTC.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from itertools import islice
from typing import IO, Any

from ..planning import Estimate
from ..progress import RunEvent, SweepProgress
from ..runner import Plan, SweepResult

__all__ = ["EventStream", "plan_json"]


def plan_json(plan: Plan, estimate: Estimate | None, *, preview: int) -> dict[str, Any]:
    """Everything ``comfyfleet plan`` prints, under names."""
    grid = plan.grid
    counts = grid.counts
    values = grid.values_by_address()
    preflight = plan.preflight
    return {
        "name": plan.spec.name,
        "spec": str(plan.spec.path),
        "runs": len(grid),
        "counts": {
            "product": counts.product,
            "excluded": counts.excluded,
            "sampled": counts.sampled,
            "included": counts.included,
            "repeat": counts.repeat,
        },
        "fixed": {a: v[0] for a, v in values.items() if len(v) == 1},
        "swept": {a: list(v) for a, v in values.items() if len(v) > 1},
        "preview": [
            {
                "run_index": run.run_index,
                "run_id": run.run_id,
                "workflow": run.workflow_name,
                "params": dict(run.params),
            }
            for run in islice(grid, preview)
        ],
        "servers": [
            {
                "server": s.name,
                "url": s.url,
                "reachable": s.url not in plan.unreachable,
                "error": plan.unreachable.get(s.url),
                "comfyui_version": plan.versions.get(s.url),
            }
            for s in plan.servers
        ],
        "checked": preflight is not None,
        "valid": plan.ok,
        "errors": preflight.errors() if preflight else [],
        "warnings": plan.warnings(),
        "differences": [
            {"workflow": workflow, "needs": what, "lacking": sorted(lacking)}
            for workflow, what, lacking in (preflight.differences() if preflight else [])
        ],
        "eta": None
        if estimate is None
        else {
            "calibrated": estimate.calibrated,
            "total_s": estimate.total if estimate.calibrated else None,
            "per_server_s": dict(estimate.per_server) if estimate.calibrated else {},
        },
    }


class EventStream:
    """``sweep --json-stream``: one JSON object per line, flushed as it happens.

    ``submitted``, ``started``, then ``finished`` (a success) or ``failed`` (any other
    ending: its ``status`` says which) for every run; ``progress`` (counts, rate, ETA)
    whenever a run ends and at least every ``interval`` seconds; ``summary`` last.
    """

    def __init__(self, out: IO[str] | None = None, *, interval: float = 1.0) -> None:
        self.out = out if out is not None else sys.stdout
        self.interval = interval
        self._last_progress = -interval
        self._completed = -1

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str)
        self.out.write(line + "\n")
        self.out.flush()

    def run(self, event: RunEvent) -> None:
        """The sweep's ``on_run`` hook."""
        fields = asdict(event)
        kind = fields.pop("kind")
        if kind == "finished" and event.status != "success":
            kind = "failed"
        self.emit(kind, **{k: v for k, v in fields.items() if v is not None})

    def progress(self, progress: SweepProgress) -> None:
        """The sweep's ``on_progress`` hook: every change, thinned to what a reader needs."""
        now = time.monotonic()
        if progress.completed == self._completed and now - self._last_progress < self.interval:
            return
        self._completed, self._last_progress = progress.completed, now
        self.emit("progress", **_counts(progress))

    def summary(self, result: SweepResult) -> None:
        self.emit(
            "summary",
            **_counts(result.progress),
            report=str(result.out_dir / "report.parquet"),
            plots=[str(p) for p in result.plots],
        )


def _counts(progress: SweepProgress) -> dict[str, Any]:
    eta = progress.eta
    return {
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed - progress.interrupted,
        "interrupted": progress.interrupted,
        "skipped": progress.skipped,
        "remaining": progress.remaining,
        "running": progress.running,
        "rate_per_s": progress.rate,
        "eta_s": None if eta is None else round(eta, 1),
    }
