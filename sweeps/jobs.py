"""``/api/jobs``: ComfyUI's unified view of pending, running and finished prompts.

Typed at the client's edge like :mod:`sweeps.models`; the client's ``jobs()`` and
``job()`` return these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .models import OutputFile, output_files

__all__ = ["Job", "JobPage", "JobStatus", "jobs_params"]

JobStatus = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
"""A job's state in ``/api/jobs``. 0.8.0 reports an interrupted run as ``failed``;
newer servers say ``cancelled``, so that is accepted too."""
_JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)


def _ms(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _job_status(value: object) -> JobStatus:
    for status in _JOB_STATUSES:
        if value == status:
            return status
    raise ValueError(f"unknown job status {value!r}")


def _preview_file(raw: object) -> OutputFile | None:
    """``preview_output``: an output item plus ``nodeId`` and ``mediaType``."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("filename"), str):
        return None
    return OutputFile(
        filename=raw["filename"],
        subfolder=str(raw.get("subfolder") or ""),
        type=str(raw.get("type") or "output"),
        node_id=str(raw.get("nodeId") or ""),
        kind=str(raw.get("mediaType") or "images"),
    )


@dataclass(frozen=True)
class Job:
    """One prompt as ``/api/jobs`` sees it: pending, running or finished.

    The list route gives the summary fields. ``GET /api/jobs/{id}`` of a
    finished job adds ``outputs``, ``execution_status`` and the submitted
    ``prompt``/``extra_data``; for a pending or running job those stay None.
    """

    id: str
    status: JobStatus
    priority: float
    created_ms: int | None = None
    started_ms: int | None = None
    finished_ms: int | None = None
    outputs_count: int = 0
    previewable_outputs_count: int | None = None
    """Outputs the UI can show (0.26+; None from older servers)."""
    preview: OutputFile | None = None
    """The first previewable output (a saved one when there is one)."""
    workflow_id: str | None = None
    """``extra_data.extra_pnginfo.workflow.id`` as submitted (the UI's workflow id)."""
    execution_error: Mapping[str, Any] | None = field(default=None, repr=False)
    """The ``execution_error`` event's data for a failed run (not for an interrupt)."""
    outputs: Mapping[str, Mapping[str, Any]] | None = field(default=None, repr=False)
    execution_status: Mapping[str, Any] | None = field(default=None, repr=False)
    prompt: Mapping[str, Any] | None = field(default=None, repr=False)
    extra_data: Mapping[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Job:
        workflow = raw.get("workflow")
        workflow = workflow if isinstance(workflow, Mapping) else {}
        error = raw.get("execution_error")
        workflow_id = raw.get("workflow_id")
        priority = raw.get("priority")
        return cls(
            id=str(raw["id"]),
            status=_job_status(raw["status"]),
            priority=priority if isinstance(priority, int | float) else 0,
            created_ms=_ms(raw.get("create_time")),
            started_ms=_ms(raw.get("execution_start_time")),
            finished_ms=_ms(raw.get("execution_end_time")),
            outputs_count=int(raw.get("outputs_count") or 0),
            previewable_outputs_count=_count(raw.get("previewable_outputs_count")),
            preview=_preview_file(raw.get("preview_output")),
            workflow_id=str(workflow_id) if workflow_id is not None else None,
            execution_error=error if isinstance(error, Mapping) else None,
            outputs=_mapping(raw.get("outputs")),
            execution_status=_mapping(raw.get("execution_status")),
            prompt=_mapping(workflow.get("prompt")),
            extra_data=_mapping(workflow.get("extra_data")),
        )

    @property
    def finished(self) -> bool:
        return self.status not in ("pending", "in_progress")

    @property
    def duration_ms(self) -> int | None:
        """Execution time, when both ends were recorded."""
        if self.started_ms is None or self.finished_ms is None:
            return None
        return self.finished_ms - self.started_ms

    @property
    def files(self) -> list[OutputFile]:
        """Every file in ``outputs`` (single-job detail only; empty otherwise)."""
        found: list[OutputFile] = []
        for node_id, ui in (self.outputs or {}).items():
            found.extend(output_files(str(node_id), ui))
        return found


@dataclass(frozen=True)
class JobPage:
    """``GET /api/jobs``: one page of jobs and where it sits in the whole list."""

    jobs: tuple[Job, ...]
    offset: int
    limit: int | None
    total: int
    """Matching jobs across all pages."""
    has_more: bool

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> JobPage:
        page = body["pagination"]
        limit = page.get("limit")
        return cls(
            jobs=tuple(Job.from_json(j) for j in body["jobs"]),
            offset=int(page.get("offset") or 0),
            limit=int(limit) if limit is not None else None,
            total=int(page["total"]),
            has_more=bool(page.get("has_more")),
        )


def jobs_params(
    status: Sequence[str] | None,
    workflow_id: str | None,
    sort_by: str,
    sort_order: str,
    limit: int | None,
    offset: int | None,
) -> dict[str, object]:
    """The query of ``GET /api/jobs``; ``None`` values are left out.

    An empty ``status`` is refused here: the server would read it as "every status".
    """
    if isinstance(status, str):
        status = [status]
    if status is not None and not any(s.strip() for s in status):
        raise ValueError("status needs at least one value (None means every status)")
    return {
        "status": ",".join(status) if status is not None else None,
        "workflow_id": workflow_id,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "limit": limit,
        "offset": offset,
    }
