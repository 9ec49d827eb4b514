"""The jobs API of ComfyUI (``comfy_execution/jobs.py`` and its routes), 0.8.0 and 0.26+.

``GET /api/jobs`` is one list over the running item, the pending heap and the
history, each normalised to a "job" dict with the ``None`` values dropped.
Everything here is a pure function of that state, in the shapes the routes
already hold: queue items as the five-element lists ``/queue`` shows (sensitive
keys stripped) and history as ``{prompt_id: entry}`` in completion order.

Quirks kept on purpose, because a client sees them:

* An interrupted run is ``failed`` on 0.8.0 (its history ``status_str`` is
  ``"error"``) and ``cancelled`` since 0.26, which also counts
  ``previewable_outputs_count`` and can cancel jobs (:func:`cancel_jobs`).
* Sorting is stable over running, then pending (heap order), then history, so
  equal ``create_time`` values keep that order, reversed or not.
* ``status=","`` parses to an empty filter, which matches nothing, while an
  absent or empty ``status`` matches everything.
* A negative ``offset`` becomes 0; ``limit`` must be positive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JOB_STATUSES",
    "CANCELLED",
    "JobQuery",
    "JobQueryError",
    "get_job",
    "list_jobs",
    "outputs_summary",
    "parse_job_query",
]

PENDING = "pending"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
JOB_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED)
SORT_FIELDS = ("created_at", "execution_duration")

# What the frontend can preview (ComfyUI_frontend's queueStore, as jobs.py copies it).
PREVIEWABLE_MEDIA_TYPES = frozenset({"images", "video", "audio"})
THREE_D_EXTENSIONS = (".obj", ".fbx", ".gltf", ".glb")
_END_EVENTS = ("execution_success", "execution_error", "execution_interrupted")


class JobQueryError(ValueError):
    """A bad query parameter: the route answers ``400 {"error": str(exc)}``."""


@dataclass(frozen=True)
class JobQuery:
    """The parsed query of ``GET /api/jobs``."""

    statuses: tuple[str, ...] | None = None
    """None: every status. An empty tuple matches nothing."""
    workflow_id: str | None = None
    sort_by: str = "created_at"
    sort_order: str = "desc"
    limit: int | None = None
    offset: int = 0


def parse_job_query(query: Mapping[str, str], cancelled: bool = False) -> JobQuery:
    """Validate the query parameters in the server's order; the first problem wins.

    ``cancelled``: the server knows the ``cancelled`` status (0.26+)."""
    statuses: tuple[str, ...] | None = None
    status_param = query.get("status")
    known = (*JOB_STATUSES, CANCELLED) if cancelled else JOB_STATUSES
    if status_param:
        statuses = tuple(s.strip().lower() for s in status_param.split(",") if s.strip())
        invalid = [s for s in statuses if s not in known]
        if invalid:
            raise JobQueryError(
                f"Invalid status value(s): {', '.join(invalid)}. Valid values: {', '.join(known)}"
            )
    sort_by = query.get("sort_by", "created_at").lower()
    if sort_by not in SORT_FIELDS:
        raise JobQueryError("sort_by must be 'created_at' or 'execution_duration'")
    sort_order = query.get("sort_order", "desc").lower()
    if sort_order not in ("asc", "desc"):
        raise JobQueryError("sort_order must be 'asc' or 'desc'")
    limit = None
    if "limit" in query:
        limit = _integer(query["limit"], "limit")
        if limit <= 0:
            raise JobQueryError("limit must be a positive integer")
    offset = max(0, _integer(query["offset"], "offset")) if "offset" in query else 0
    return JobQuery(statuses, query.get("workflow_id"), sort_by, sort_order, limit, offset)


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise JobQueryError(f"{name} must be an integer") from None


def list_jobs(
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Mapping[str, Any]],
    query: JobQuery,
    cancelled: bool = False,
) -> dict[str, Any]:
    """The whole ``GET /api/jobs`` answer: ``{"jobs": [...], "pagination": {...}}``."""
    wanted = (*JOB_STATUSES, CANCELLED) if query.statuses is None else query.statuses
    jobs: list[dict[str, Any]] = []
    if IN_PROGRESS in wanted:
        jobs.extend(_queue_job(item, IN_PROGRESS) for item in running)
    if PENDING in wanted:
        jobs.extend(_queue_job(item, PENDING) for item in pending)
    for prompt_id, entry in history.items():
        if _history_status(entry, cancelled) in wanted:
            jobs.append(_history_job(prompt_id, entry, False, cancelled))
    if query.workflow_id:
        jobs = [j for j in jobs if j.get("workflow_id") == query.workflow_id]
    jobs.sort(key=_sort_key(query.sort_by), reverse=query.sort_order == "desc")
    total = len(jobs)
    page = jobs[query.offset :]
    if query.limit is not None:
        page = page[: query.limit]
    return {
        "jobs": page,
        "pagination": {
            "offset": query.offset,
            "limit": query.limit,
            "total": total,
            "has_more": query.offset + len(page) < total,
        },
    }


def get_job(
    job_id: str,
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Mapping[str, Any]],
    cancelled: bool = False,
) -> dict[str, Any] | None:
    """``GET /api/jobs/{job_id}``: history first (with details), then running, then pending."""
    if job_id in history:
        return _history_job(job_id, history[job_id], True, cancelled)
    for item in running:
        if item[1] == job_id:
            return _queue_job(item, IN_PROGRESS)
    for item in pending:
        if item[1] == job_id:
            return _queue_job(item, PENDING)
    return None


def _prune(job: dict[str, Any]) -> dict[str, Any]:
    """``comfy_api.internal.prune_dict``: keys whose value is None are dropped."""
    return {k: v for k, v in job.items() if v is not None}


def _metadata(extra_data: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(create_time, workflow_id)``; the latter from ``extra_pnginfo.workflow.id``."""
    # As upstream: an explicit null here raises, and the route answers a plain 500.
    workflow = extra_data.get("extra_pnginfo", {}).get("workflow", {})
    return extra_data.get("create_time"), workflow.get("id")


def _queue_job(item: Sequence[Any], status: str) -> dict[str, Any]:
    number, prompt_id, _, extra_data, _ = item[:5]
    create_time, workflow_id = _metadata(extra_data)
    return _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )


def _history_status(entry: Mapping[str, Any], cancelled: bool) -> str:
    status_info = entry.get("status") or {}
    if status_info.get("status_str") != "error":
        return COMPLETED
    if cancelled and any(
        isinstance(m, list | tuple) and m and m[0] == "execution_interrupted"
        for m in status_info.get("messages") or ()
    ):
        return CANCELLED
    return FAILED


def _history_job(
    prompt_id: str, entry: Mapping[str, Any], include_outputs: bool, cancelled: bool
) -> dict[str, Any]:
    number, _, prompt, extra_data, _ = entry["prompt"][:5]
    create_time, workflow_id = _metadata(extra_data)
    status_info = entry.get("status") or {}
    status = _history_status(entry, cancelled)
    outputs = entry.get("outputs") or {}
    outputs_count, preview = outputs_summary(outputs)
    previewable = _previewable_count(outputs) if cancelled else None
    started = ended = error = None
    for message in status_info.get("messages") or ():
        if not isinstance(message, list | tuple) or len(message) < 2:
            continue
        event, data = message[0], message[1]
        if not isinstance(data, Mapping):
            continue
        if event == "execution_start":
            started = data.get("timestamp")
        elif event in _END_EVENTS:
            ended = data.get("timestamp")
            if event == "execution_error":
                error = data
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "execution_start_time": started,
            "execution_end_time": ended,
            "execution_error": error,
            "outputs_count": outputs_count,
            "previewable_outputs_count": previewable,
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if include_outputs:
        job["outputs"] = outputs
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def _previewable(media_type: str, item: Mapping[str, Any]) -> bool:
    if media_type in PREVIEWABLE_MEDIA_TYPES:
        return True
    fmt = str(item.get("format") or "")
    if fmt.startswith(("video/", "audio/")):
        return True
    return str(item.get("filename") or "").lower().endswith(THREE_D_EXTENSIONS)


def _previewable_count(outputs: Mapping[str, Any]) -> int:
    return sum(
        1
        for node_outputs in outputs.values()
        if isinstance(node_outputs, Mapping)
        for media_type, items in node_outputs.items()
        if media_type != "animated" and isinstance(items, list)
        for item in items
        if isinstance(item, Mapping) and _previewable(media_type, item)
    )


def outputs_summary(outputs: Mapping[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """``(outputs_count, preview_output)`` over a history entry's ``outputs``.

    Every dict item under a list counts (``animated`` and non-list values do
    not; nor do strings such as ``PreviewAny``'s text). The preview is the
    first previewable item of type ``output``, else the first previewable one.
    """
    count = 0
    preview: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, Mapping):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, Mapping):
                    continue
                count += 1
                if preview is None and _previewable(media_type, item):
                    enriched = {**item, "nodeId": node_id, "mediaType": media_type}
                    if item.get("type") == "output":
                        preview = enriched
                    elif fallback is None:
                        fallback = enriched
    return count, preview or fallback


def _sort_key(sort_by: str) -> Callable[[Mapping[str, Any]], Any]:
    if sort_by == "execution_duration":

        def duration(job: Mapping[str, Any]) -> Any:
            start = job.get("execution_start_time", 0)
            end = job.get("execution_end_time", 0)
            return end - start if end and start else 0

        return duration

    def created(job: Mapping[str, Any]) -> Any:
        return job.get("create_time", 0)

    return created
