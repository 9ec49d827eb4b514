"""The sweep report: one row per run, kept safe as runs finish, read back as polars.

Every finished run is appended to ``runs.jsonl`` in the output directory and
flushed to disk at once, so a crash loses no finished run. ``report.parquet``
is rebuilt from that journal (atomically: a temporary file, then a rename) every
few seconds and at the end. Parquet cannot be appended to, which is why the
journal exists; polars writes the Parquet, with the spec, workflow, tool version
and servers' ComfyUI versions in its key-value metadata.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from .errors import ReportUnwritable, SpecError

__all__ = [
    "JOURNAL_NAME",
    "REPORT_NAME",
    "ReportWriter",
    "RunRecord",
    "Submission",
    "journal_owner",
    "load_report",
    "report_metadata",
]

JOURNAL_NAME = "runs.jsonl"
REPORT_NAME = "report.parquet"

Status = Literal["success", "failed", "interrupted", "rejected"]

_NODE_TIMING = pl.Struct({"node_id": pl.String, "class_type": pl.String, "seconds": pl.Float64})
_OUTPUT = pl.Struct(
    {
        "node_id": pl.String,
        "filename": pl.String,
        "subfolder": pl.String,
        "type": pl.String,
        "path": pl.String,
    }
)
_FIXED_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "run_index": pl.Int64(),
    "workflow": pl.String(),
    "repeat": pl.Int64(),
    "status": pl.String(),
    "server": pl.String(),
    "prompt_id": pl.String(),
    "attempts": pl.Int64(),
    "submitted_at": pl.Datetime("us", "UTC"),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "queue_s": pl.Float64(),
    "exec_s": pl.Float64(),
    "total_s": pl.Float64(),
    "cached_nodes": pl.List(pl.String),
    "node_timings": pl.List(_NODE_TIMING),
    "outputs": pl.List(_OUTPUT),
    "error_type": pl.String(),
    "error_message": pl.String(),
    "error_node": pl.String(),
}


@dataclass(frozen=True)
class RunRecord:
    """Everything known about one run when it ended."""

    run_id: str
    run_index: int
    workflow: str
    repeat: int
    params: Mapping[str, Any]
    status: Status
    server: str | None = None
    prompt_id: str | None = None
    attempts: int = 0
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_s: float | None = None
    exec_s: float | None = None
    total_s: float | None = None
    cached_nodes: tuple[str, ...] = ()
    node_timings: tuple[Mapping[str, Any], ...] = ()
    outputs: tuple[Mapping[str, Any], ...] = ()
    error_type: str | None = None
    error_message: str | None = None
    error_node: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("submitted_at", "started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, line: str) -> RunRecord:
        return cls.from_dict(json.loads(line))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        for key in ("submitted_at", "started_at", "finished_at"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        for key in ("cached_nodes", "node_timings", "outputs"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


@dataclass(frozen=True)
class Submission:
    """A prompt queued for a run, journaled before the server sees it.

    If the sweep process dies, the prompt goes on running on the server; the
    next session finds it here and collects its result instead of paying for
    it twice.
    """

    run_id: str
    run_index: int
    workflow: str
    repeat: int
    params: Mapping[str, Any]
    server: str
    prompt_id: str
    submitted_at: datetime

    def to_json(self) -> str:
        data = asdict(self)
        data["submitted_at"] = self.submitted_at.isoformat()
        return json.dumps({"kind": "submitted", **data}, default=str)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        data = {k: v for k, v in data.items() if k != "kind"}
        data["submitted_at"] = datetime.fromisoformat(data["submitted_at"])
        return cls(**data)


class ReportWriter:
    """Journal and Parquet report for one output directory.

    Opening an existing directory resumes it: :meth:`succeeded` lists the run
    ids that need not run again. Later records of a run id replace earlier ones.
    """

    def __init__(
        self, out_dir: Path, *, addresses: Sequence[str] = (), sweep: str | None = None
    ) -> None:
        self.out_dir = out_dir
        self.addresses = list(addresses)
        self.metadata: dict[str, str] = {}
        out_dir.mkdir(parents=True, exist_ok=True)
        self.journal_path = out_dir / JOURNAL_NAME
        self.report_path = out_dir / REPORT_NAME
        self._records: dict[str, RunRecord] = {}
        self._submitted: dict[str, Submission] = {}
        self._queued: list[str] = []
        self._batch: asyncio.Future[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._broken: ReportUnwritable | None = None
        owner = None
        if self.journal_path.exists():
            for entry in _read_journal(self.journal_path):
                if isinstance(entry, str):
                    owner = entry
                elif isinstance(entry, Submission):
                    self._submitted[entry.run_id] = entry
                else:
                    self._records[entry.run_id] = entry
                    self._submitted.pop(entry.run_id, None)
        if sweep is not None and owner is not None and owner != sweep:
            raise SpecError(_foreign_sweep(out_dir, owner, sweep))
        self._journal = self.journal_path.open("a", encoding="utf-8")
        if self._journal.tell() and not _ends_with_newline(self.journal_path):
            self._write("")  # a line torn by a crash must not swallow the next one
        if sweep is not None and owner is None:
            self._write(json.dumps({"kind": "sweep", "name": sweep}))

    def succeeded(self) -> set[str]:
        return {rid for rid, r in self._records.items() if r.status == "success"}

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> list[RunRecord]:
        return sorted(self._records.values(), key=lambda r: r.run_index)

    def unfinished(self) -> list[Submission]:
        """Prompts an earlier session queued whose results it does not hold: no
        record yet, or files that failed to download (the server may still have them).
        """
        pending = dict(self._submitted)
        for record in self._records.values():
            if (
                record.error_type == "DownloadFailed"
                and record.server is not None
                and record.prompt_id is not None
            ):
                pending[record.run_id] = Submission(
                    record.run_id,
                    record.run_index,
                    record.workflow,
                    record.repeat,
                    record.params,
                    record.server,
                    record.prompt_id,
                    record.submitted_at or datetime.now(UTC),
                )
        return sorted(pending.values(), key=lambda s: s.run_index)

    def append(self, record: RunRecord) -> None:
        """Record a finished run durably before anything else happens."""
        self._remember(record)
        self._write(record.to_json())

    def note_submitted(self, submission: Submission) -> None:
        """Journal a prompt about to be queued, so a crash cannot orphan it."""
        self._remember(submission)
        self._write(submission.to_json())

    async def commit(self, entry: RunRecord | Submission) -> None:
        """Journal a finished run or a prompt about to be queued; return once it is on disk.

        Commits made while a batch is being written wait for the next one: one write
        and one fsync per batch (group commit), in a thread, so the event loop never
        waits on the disk. Report a run as finished only after this returns.
        """
        if self._broken is not None:
            raise self._broken
        self._remember(entry)
        self._queued.append(entry.to_json())
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        batch = self._batch
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_batches())
        # Shielded: a cancelled waiter must not cancel the batch others wait on.
        await asyncio.shield(batch)

    async def _commit_batches(self) -> None:
        while self._queued:
            lines, self._queued = self._queued, []
            batch, self._batch = self._batch, None
            assert batch is not None
            try:
                await asyncio.to_thread(self._write_lines, lines)
            except OSError as exc:
                self._broken = ReportUnwritable(
                    f"cannot write {self.journal_path}: {exc.strerror or exc}; the sweep "
                    "stopped (every run it reported finished is saved); make room and run "
                    "the same command to resume"
                )
                batch.set_exception(self._broken)
                batch.add_done_callback(lambda f: f.exception())  # retrieved by its waiters
                self._queued.clear()
                return
            batch.set_result(None)

    async def flush(self) -> None:
        """Wait for every commit in progress to reach the disk."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    def _remember(self, entry: RunRecord | Submission) -> None:
        if isinstance(entry, Submission):
            self._submitted[entry.run_id] = entry
        else:
            self._records[entry.run_id] = entry
            self._submitted.pop(entry.run_id, None)

    def _write(self, line: str) -> None:
        self._write_lines([line])

    def _write_lines(self, lines: Sequence[str]) -> None:
        self._journal.write("".join(f"{line}\n" for line in lines))
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def write_parquet(self) -> Path:
        frame = records_frame(self.records, self.addresses)
        partial = self.report_path.with_name(f".{REPORT_NAME}.part")
        frame.write_parquet(partial, metadata=self.metadata)
        os.replace(partial, self.report_path)
        return self.report_path

    def close(self) -> None:
        if not self._journal.closed:
            if self._queued:  # commits never awaited (their loop is gone): save them anyway
                self._write_lines(self._queued)
                self._queued = []
            self.write_parquet()
            self._journal.close()

    async def aclose(self) -> None:
        """:meth:`close`, with the disk work in a thread once commits are done."""
        await self.flush()
        await asyncio.to_thread(self.close)

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ReportWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as journal:
        journal.seek(-1, os.SEEK_END)
        return journal.read(1) == b"\n"


def journal_owner(out_dir: Path) -> str | None:
    """The name of the sweep whose runs ``out_dir`` holds, if it holds any."""
    journal = out_dir / JOURNAL_NAME
    if not journal.is_file():
        return None
    owners = [e for e in _read_journal(journal) if isinstance(e, str)]
    return owners[-1] if owners else None


def _foreign_sweep(out_dir: Path, owner: str, sweep: str) -> str:
    # Two sweeps' rows in one report would share run indexes (and file names) and
    # mean nothing together; the same sweep, edited, may resume there.
    return (
        f"output {out_dir} holds the runs of sweep {owner!r}, not {sweep!r}; "
        "give this sweep its own output directory (output: or --out), or remove that one"
    )


def _read_journal(path: Path) -> Iterable[RunRecord | Submission | str]:
    """Records, submissions, and the owning sweep's name (a ``str``), in file order."""
    with path.open(encoding="utf-8") as journal:
        for line in journal:
            line = line.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("kind") == "sweep":
                    yield str(data["name"])
                elif isinstance(data, dict) and data.get("kind") == "submitted":
                    yield Submission.from_json(data)
                else:
                    yield RunRecord.from_dict(data)
            except (ValueError, TypeError, KeyError):
                # A line cut short by a crash mid-write: every earlier line is whole.
                continue


def records_frame(records: Sequence[RunRecord], addresses: Sequence[str]) -> pl.DataFrame:
    """One row per run: swept addresses as typed columns, then the fixed columns."""
    names = list(dict.fromkeys([*addresses, *(k for r in records for k in r.params)]))
    columns: list[pl.Series] = []
    for name in names:
        if name in _FIXED_SCHEMA:
            continue  # a parameter may not shadow a report column
        values = [r.params.get(name) for r in records]
        columns.append(_typed_series(name, values))
    for name, dtype in _FIXED_SCHEMA.items():
        values = [_field(r, name) for r in records]
        columns.append(pl.Series(name, values, dtype=dtype))
    return pl.DataFrame(columns)


def _field(record: RunRecord, name: str) -> Any:
    if name == "workflow":
        return record.workflow
    value = getattr(record, name)
    if isinstance(value, tuple):
        return [dict(v) if isinstance(v, Mapping) else v for v in value]
    return value


def _typed_series(name: str, values: list[Any]) -> pl.Series:
    """A parameter column in its natural type; seeds up to 2**64-1 need UInt64."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Boolean)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if max(present) > 2**63 - 1:
            return pl.Series(name, values, dtype=pl.UInt64)
        return pl.Series(name, values, dtype=pl.Int64)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if all(isinstance(v, str) for v in present):
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [None if v is None else json.dumps(v) for v in values], dtype=pl.String)


def load_report(path: str | Path) -> pl.DataFrame:
    """A sweep's report as a DataFrame: pass the output directory or the Parquet file.

    >>> df = load_report("runs/sampler-shootout")  # doctest: +SKIP
    >>> df.group_by("KSampler.sampler_name").agg(pl.col("exec_s").mean())  # doctest: +SKIP
    """
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_NAME
    return pl.read_parquet(target)


def report_metadata(path: str | Path) -> dict[str, Any]:
    """The report's metadata (spec, workflows, tool version, servers), JSON-decoded."""
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_NAME
    raw = pl.read_parquet_metadata(target)
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if not key.startswith("comfyfleet."):
            continue
        try:
            decoded[key.removeprefix("comfyfleet.")] = json.loads(value)
        except ValueError:
            decoded[key.removeprefix("comfyfleet.")] = value
    return decoded
