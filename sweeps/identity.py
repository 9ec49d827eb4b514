"""Which run a prompt, a journal line or a report row is: one shape from grid to report.

The grid's :class:`~sweeps.grid.Run` is a :class:`RunLike`; so is a
:class:`RunIdentity` rebuilt from the journal for a prompt an earlier session
queued. Everything between (pool, placement, scheduler, preflight) asks only
for a ``RunLike``, and this module imports none of them, so none needs another
to name the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["RunIdentity", "RunLike"]


class RunLike(Protocol):
    """What the engine needs of a run (``sweeps.grid.Run`` is one)."""

    @property
    def run_index(self) -> int: ...
    @property
    def run_id(self) -> str: ...
    @property
    def workflow_name(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def repeat(self) -> int: ...


@dataclass(frozen=True)
class RunIdentity:
    """A run's identity alone: what the report journals and a resume rebuilds."""

    run_index: int
    run_id: str
    workflow_name: str
    params: Mapping[str, Any]
    repeat: int

    @classmethod
    def of(cls, run: RunLike) -> RunIdentity:
        return cls(run.run_index, run.run_id, run.workflow_name, dict(run.params), run.repeat)

    def report_fields(self) -> dict[str, Any]:
        """The identity fields of a report row (``RunRecord``, ``Submission``)."""
        return {
            "run_id": self.run_id,
            "run_index": self.run_index,
            "workflow": self.workflow_name,
            "repeat": self.repeat,
            "params": dict(self.params),
        }
