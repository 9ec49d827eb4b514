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
import contextlib
import io
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
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
    "param_columns",
    "report_files",
    "report_metadata",
]

JOURNAL_NAME = "runs.jsonl"
REPORT_NAME = "report.parquet"
PARTS_DIR = ".report-parts"
"""Runs finished since ``report.parquet`` was last written, a Parquet file per few seconds."""

_PART_EVERY = 5.0
"""Seconds between parts while a sweep runs: a few parts a minute, each cheap to write."""
_PART_ROWS = 10_000
"""Most records held in memory while an old journal is rebuilt into parts."""
_QUICK = re.compile(
    rb'\{(?:"kind": "(submitted)", "run_id": "([^"\\]+)"'
    rb'|"run_id": "([^"\\]+)", "status": "success")'
)
"""A journaled prompt, or a success, told by its first bytes (``to_json`` puts them there)."""
_JOURNAL_END = "comfyfleet.journal_end"
"""Metadata key: how many bytes of the journal ``report.parquet`` holds."""

Status = Literal["success", "failed", "interrupted", "rejected"]

_NODE_TIMING = pl.Struct(
    {"node_id": pl.String, "class_type": pl.String, "seconds": pl.Float64, "cached": pl.Boolean}
)
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
    "server_name": pl.String(),
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
    server_name: str | None = None
    """The server's name (``name=URL`` in a servers list, else its host and port)."""
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
        # run_id and status first: a resume reads them with a regex, no JSON parse.
        # Built by hand: dataclasses.asdict deep-copies, a third of a record's cost.
        data: dict[str, Any] = {"run_id": self.run_id, "status": self.status}
        for name in _RECORD_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            data[name] = value
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


_RECORD_FIELDS = [f.name for f in fields(RunRecord) if f.name not in ("run_id", "status")]


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
    The journal is read once, and only the runs no Parquet file holds yet are kept
    in memory, so opening and closing cost the same at 100 or 100,000 runs.
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
        self._succeeded: set[str] = set()
        self._submitted: dict[str, Submission | bytes] = {}
        """Prompts journaled and not finished (their journal line, until needed)."""
        self._undownloaded: dict[str, Submission] = {}
        self._unparted: list[RunRecord] = []
        """Records in the journal and in no Parquet file yet."""
        self._unparted_read: pl.DataFrame | None = None
        """Records read from the journal at opening and in no Parquet file yet (they come
        before ``_unparted``): read by polars in one call, never as Python objects."""
        self._unread: list[tuple[str, Any, bytes]] = []
        """Journal lines past the Parquet files, in order, until their slice is read."""
        self._queued: list[RunRecord | Submission] = []
        self._batch: asyncio.Future[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._broken: ReportUnwritable | None = None
        self._last_part = time.monotonic()
        covered = _covered_offset(out_dir)
        owner = self._read_journal(covered) if self.journal_path.exists() else None
        if sweep is not None and owner is not None and owner != sweep:
            raise SpecError(_foreign_sweep(out_dir, owner, sweep))
        self._journal = self.journal_path.open("ab")
        self._journal_end = self._journal.tell()
        if self._journal_end and not _ends_with_newline(self.journal_path):
            self._write_lines([""])  # a line torn by a crash must not swallow the next one
        if sweep is not None and owner is None:
            self._write_lines([json.dumps({"kind": "sweep", "name": sweep})])

    def _read_journal(self, covered: int) -> str | None:
        """Learn what the journal holds; return the owning sweep's name. Records a
        Parquet file holds (before byte ``covered``) are never built, only looked at;
        later ones are read by polars, in slices (memory stays flat)."""
        owner = None
        offset = 0
        records = 0
        with self.journal_path.open("rb") as journal:
            for raw in journal:
                offset += len(raw)
                if raw.endswith(b"}\n") and (quick := _QUICK.match(raw)):
                    if quick.group(1):
                        entry = ("submitted", quick.group(2).decode(), raw)  # parsed if unfinished
                    else:
                        entry = ("success", quick.group(3).decode(), raw)
                    if offset <= covered:
                        self._know(*entry)
                        continue
                    self._unread.append(entry)
                    records += entry[0] == "success"
                else:
                    try:
                        data = json.loads(raw)
                        kind = data.get("kind")
                        if kind == "sweep":
                            owner = str(data["name"])
                            continue
                        if kind == "submitted":
                            entry = ("submission", Submission.from_json(data), raw)
                        elif offset <= covered and data["status"] == "success":
                            entry = ("success", data["run_id"], raw)  # common, kept cheap
                        else:
                            entry = ("record", RunRecord.from_dict(data), raw)
                    except (ValueError, TypeError, KeyError, AttributeError):
                        # A line cut short by a crash mid-write: every earlier line is whole.
                        continue
                    if offset <= covered:
                        self._know(*entry)
                        continue
                    self._unread.append(entry)
                    records += entry[0] == "record"
                if records >= _PART_ROWS:
                    self._unparted_read = self._read_slice()
                    self._write_part(offset)  # an old journal: rebuilt in slices
                    records = 0
        if self._unread:
            self._unparted_read = self._read_slice()
        return owner

    def _know(self, kind: str, payload: Any, raw: bytes) -> None:
        if kind == "submitted":
            self._submitted[payload] = raw
        elif kind == "submission":
            self._remember(payload)
        elif kind == "success":
            self._remember_success(payload)
        else:
            self._remember_outcome(payload)

    def _read_slice(self) -> pl.DataFrame:
        """The records of the lines held back, as a frame; what they say is known only
        now: a line torn by a crash may still start like a success."""
        unread, self._unread = self._unread, []
        lines = [raw for kind, _, raw in unread if kind in ("success", "record")]
        whole: set[int] | None = None
        try:
            frame = journal_frame(lines, self.addresses)
        except pl.exceptions.PolarsError:  # a torn line: the others, one by one
            whole, records = set(), []
            for raw in lines:
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    records.append(RunRecord.from_json(raw.decode()))
                    whole.add(id(raw))
            frame = records_frame(records, self.addresses)
        for kind, payload, raw in unread:
            if whole is not None and kind in ("success", "record") and id(raw) not in whole:
                continue
            if kind == "success" and not self._undownloaded:  # most lines: kept cheap
                self._submitted.pop(payload, None)
                self._succeeded.add(payload)
            else:
                self._know(kind, payload, raw)
        return frame

    def succeeded(self) -> set[str]:
        return set(self._succeeded)

    def unfinished(self) -> list[Submission]:
        """Prompts an earlier session queued whose results it does not hold: no
        record yet, or files that failed to download (the server may still have them).
        """
        pending: dict[str, Submission] = {}
        for run_id, submission in self._submitted.items():
            if isinstance(submission, bytes):
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    pending[run_id] = Submission.from_json(json.loads(submission))
            else:
                pending[run_id] = submission
        pending.update(self._undownloaded)
        return sorted(pending.values(), key=lambda s: s.run_index)

    def append(self, record: RunRecord) -> None:
        """Record a finished run durably before anything else happens."""
        self._write_entries([record])

    def note_submitted(self, submission: Submission) -> None:
        """Journal a prompt about to be queued, so a crash cannot orphan it."""
        self._write_entries([submission])

    async def commit(self, entry: RunRecord | Submission) -> None:
        """Journal a finished run or a prompt about to be queued; return once it is on disk.

        Commits made while a batch is being written wait for the next one: one write
        and one fsync per batch (group commit), in a thread, so the event loop never
        waits on the disk. Report a run as finished only after this returns.
        """
        if self._broken is not None:
            raise self._broken
        self._queued.append(entry)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        batch = self._batch
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_batches())
        # Shielded: a cancelled waiter must not cancel the batch others wait on.
        await asyncio.shield(batch)

    async def _commit_batches(self) -> None:
        while self._queued:
            entries, self._queued = self._queued, []
            batch, self._batch = self._batch, None
            assert batch is not None
            try:
                await asyncio.to_thread(self._write_lines, [e.to_json() for e in entries])
                for entry in entries:
                    self._remember(entry)
                if self._unparted and time.monotonic() - self._last_part >= _PART_EVERY:
                    await asyncio.to_thread(self._write_part, self._journal_end)
            except Exception as exc:
                # Every waiter of this batch, and every later commit, hears of it.
                self._broken = exc if isinstance(exc, ReportUnwritable) else None
                batch.set_exception(exc)
                batch.add_done_callback(lambda f: f.exception())  # retrieved by its waiters
                if self._batch is not None:
                    self._batch.set_exception(exc)
                    self._batch.add_done_callback(lambda f: f.exception())
                    self._batch = None
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
            return
        self._unparted.append(entry)
        self._remember_outcome(entry)

    def _remember_success(self, run_id: str) -> None:
        self._submitted.pop(run_id, None)
        self._undownloaded.pop(run_id, None)
        self._succeeded.add(run_id)

    def _remember_outcome(self, record: RunRecord) -> None:
        """Keep of a finished run only what a resume needs: did it succeed, and
        are its files still to fetch."""
        if record.status == "success":
            self._remember_success(record.run_id)
            return
        self._submitted.pop(record.run_id, None)
        self._succeeded.discard(record.run_id)
        self._undownloaded.pop(record.run_id, None)
        if (
            record.error_type == "DownloadFailed"
            and record.server is not None
            and record.prompt_id is not None
        ):
            self._undownloaded[record.run_id] = Submission(
                record.run_id,
                record.run_index,
                record.workflow,
                record.repeat,
                record.params,
                record.server,
                record.prompt_id,
                record.submitted_at or datetime.now(UTC),
            )

    def _write_entries(self, entries: Sequence[RunRecord | Submission]) -> None:
        """Journal ``entries`` with one write and one fsync (blocking), then know them."""
        self._write_lines([entry.to_json() for entry in entries])
        for entry in entries:
            self._remember(entry)

    def _write_lines(self, lines: Sequence[str]) -> None:
        try:
            self._journal.write("".join(f"{line}\n" for line in lines).encode())
            self._journal.flush()
            os.fsync(self._journal.fileno())
        except OSError as exc:
            raise ReportUnwritable(
                f"cannot write {self.journal_path}: {exc.strerror or exc}; the sweep stopped "
                "(every run it reported finished is saved); make room and run the same "
                "command to resume"
            ) from exc
        self._journal_end = self._journal.tell()

    def _write_part(self, journal_end: int) -> None:
        """Write the records no Parquet file holds yet as one more part, named for the
        journal offset it covers up to, so a resume knows which records it holds."""
        frame = self._unparted_frame()
        self._unparted, self._unparted_read = [], None
        self._last_part = time.monotonic()
        parts = self.out_dir / PARTS_DIR
        parts.mkdir(exist_ok=True)
        target = parts / f"{journal_end:016d}.parquet"
        _write_atomically(frame, target, self.metadata, part=True)

    def _unparted_frame(self) -> pl.DataFrame:
        """The records in no Parquet file yet, in journal order."""
        if self._unparted_read is None:
            return records_frame(self._unparted, self.addresses)
        if not self._unparted:
            return self._unparted_read
        built = records_frame(self._unparted, self.addresses)
        return pl.concat([self._unparted_read, built], how="diagonal_relaxed")

    def write_parquet(self) -> Path:
        """Gather the report and its parts into ``report.parquet`` (one file, sorted by
        run index); the parts are removed. Nothing to gather, nothing written."""
        parts = _parts(self.out_dir)
        metadata = self._full_metadata()
        if (
            self.report_path.exists()
            and not parts
            and not self._unparted
            and self._unparted_read is None
        ):
            # Only prompts journaled since: the report's own offset stays (lower) and true.
            written = _raw_metadata(self.report_path)
            if written | {_JOURNAL_END: ""} == metadata | {_JOURNAL_END: ""}:
                return self.report_path
        sources = [pl.scan_parquet(p) for p in [*_existing(self.report_path), *parts]]
        sources.append(self._unparted_frame().lazy())
        frame = _merged(sources)
        _write_atomically(frame, self.report_path, metadata)
        self._unparted, self._unparted_read = [], None
        for part in parts:
            part.unlink()
        with contextlib.suppress(OSError):  # empty now, unless something else is in it
            (self.out_dir / PARTS_DIR).rmdir()
        return self.report_path

    def _full_metadata(self) -> dict[str, str]:
        """What the last file written said, updated by what this session knows."""
        files = [*_existing(self.report_path), *_parts(self.out_dir)]
        earlier = _raw_metadata(files[-1]) if files else {}
        return {**earlier, **self.metadata, _JOURNAL_END: str(self._journal_end)}

    def close(self) -> None:
        if not self._journal.closed:
            if self._queued:  # commits never awaited (their loop is gone): save them anyway
                self._write_entries(self._queued)
                self._queued = []
            self._journal.close()
            self.write_parquet()

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


def _write_atomically(
    frame: pl.DataFrame | pl.LazyFrame,
    target: Path,
    metadata: dict[str, str],
    *,
    part: bool = False,
) -> None:
    """Write ``target`` whole or not at all; a full disk is a :class:`ReportUnwritable`.
    A part lives minutes: written three times faster (lz4, no statistics), twice as big.
    The report: zstd at level 1, faster than polars' default level and no bigger here."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        if isinstance(frame, pl.LazyFrame):  # streamed, a row group at a time
            frame.sink_parquet(
                partial, metadata=metadata, compression_level=1, row_group_size=_PART_ROWS
            )
        elif part:
            frame.write_parquet(partial, metadata=metadata, compression="lz4", statistics=False)
        else:
            frame.write_parquet(partial, metadata=metadata, compression_level=1)
        os.replace(partial, target)
    except (OSError, pl.exceptions.ComputeError) as exc:
        # polars reports a failed write (ENOSPC, EDQUOT) as a ComputeError, not an OSError.
        partial.unlink(missing_ok=True)
        raise ReportUnwritable(
            f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}; every finished "
            f"run is safe in the journal ({JOURNAL_NAME}); make room and run the same "
            "command to resume"
        ) from exc


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as journal:
        journal.seek(-1, os.SEEK_END)
        return journal.read(1) == b"\n"


def _existing(path: Path) -> list[Path]:
    return [path] if path.is_file() else []


def _parts(out_dir: Path) -> list[Path]:
    """The report's parts, oldest first (their names are journal offsets, zero-padded)."""
    folder = out_dir / PARTS_DIR
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _raw_metadata(path: Path) -> dict[str, str]:
    return dict(pl.read_parquet_metadata(path))


def _covered_offset(out_dir: Path) -> int:
    """How far into the journal the Parquet files reach (0: not at all)."""
    parts = _parts(out_dir)
    covered = int(parts[-1].stem) if parts else 0
    report = out_dir / REPORT_NAME
    if report.is_file():
        with contextlib.suppress(ValueError, pl.exceptions.PolarsError):
            covered = max(covered, int(_raw_metadata(report).get(_JOURNAL_END, 0)))
    return covered


def _merged(sources: Sequence[pl.LazyFrame]) -> pl.DataFrame | pl.LazyFrame:
    """One table from the report and its parts: the latest record of each run, by
    run index; swept addresses first, in their natural types. When the sources hold
    each run once and in order (an old journal rebuilt, a sweep run in order), a lazy
    frame that streams them: gathering costs no more memory at 100,000 runs than at 10,000."""
    keys = pl.concat([s.select("run_id", "run_index") for s in sources]).collect()
    if keys["run_id"].is_unique().all() and keys["run_index"].is_sorted():
        lazy = pl.concat(sources, how="diagonal_relaxed")
        schema = lazy.collect_schema()
        if pl.Int128 not in schema.dtypes():
            params = [c for c in schema if c not in _FIXED_SCHEMA]
            nulls = [c for c, t in schema.items() if t == pl.Null]
            return lazy.select(*params, *_FIXED_SCHEMA).with_columns(pl.col(nulls).cast(pl.String))
    frame = (
        pl.concat(sources, how="diagonal_relaxed")
        .unique(subset="run_id", keep="last", maintain_order=True)
        .collect()
        .sort("run_index")  # eager: the lazy plan sorts nested columns fifty times slower
    )
    params = [c for c in frame.columns if c not in _FIXED_SCHEMA]
    frame = frame.select(*params, *_FIXED_SCHEMA)
    nulls = [c for c, t in frame.schema.items() if t == pl.Null]
    frame = frame.with_columns(pl.col(nulls).cast(pl.String)) if nulls else frame
    # Seeds beyond int64 in one part, small ones in another: polars joins them as
    # Int128, which Parquet stores as bytes. Unsigned is their type (as in one part).
    wide = [c for c, t in frame.schema.items() if t == pl.Int128]
    for name in wide:
        low = frame[name].min()
        unsigned = low is None or (isinstance(low, int) and low >= 0)
        frame = frame.with_columns(pl.col(name).cast(pl.UInt64 if unsigned else pl.String))
    return frame


def journal_owner(out_dir: Path) -> str | None:
    """The name of the sweep whose runs ``out_dir`` holds, if it holds any. The name
    is journaled first; only an old journal without one is read to the end."""
    journal = out_dir / JOURNAL_NAME
    if not journal.is_file():
        return None
    with journal.open("rb") as lines:
        for raw in lines:
            if b'"kind": "sweep"' not in raw:
                continue
            try:
                return str(json.loads(raw)["name"])
            except (ValueError, KeyError, TypeError):
                continue
    return None


def _foreign_sweep(out_dir: Path, owner: str, sweep: str) -> str:
    # Two sweeps' rows in one report would share run indexes (and file names) and
    # mean nothing together; the same sweep, edited, may resume there.
    return (
        f"output {out_dir} holds the runs of sweep {owner!r}, not {sweep!r}; "
        "give this sweep its own output directory (output: or --out), or remove that one"
    )


def param_columns(df: pl.DataFrame) -> list[str]:
    """The report's swept-address columns: every column before its fixed ones."""
    return df.columns[: df.columns.index("run_id")]


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
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
            # Built from Python dicts, a list-of-struct column costs a polars call per
            # row; decoded from JSON in one call it is ten times cheaper.
            text = [json.dumps(_field(r, name)) for r in records]
            columns.append(pl.Series(name, text, dtype=pl.String).str.json_decode(dtype))
            continue
        values = [_field(r, name) for r in records]
        columns.append(pl.Series(name, values, dtype=dtype))
    return pl.DataFrame(columns)


_TEXT_SCHEMA: dict[str, pl.DataType] = {
    **{
        n: pl.String() if isinstance(t, pl.Datetime | pl.List) else t
        for n, t in _FIXED_SCHEMA.items()
    },
}
"""How polars reads a journal line fastest: times and lists as their text, decoded after
(inside the reader they cost four times more)."""
_PARAMS = r'^\{"run_id": .*?, "params": (\{.*?\}), "server": '
"""Where :meth:`RunRecord.to_json` puts the parameters (a line it did not write falls
back to Python, as does one whose parameters hold that text)."""
_ISO = "%Y-%m-%dT%H:%M:%S%.f%:z"
"""``datetime.isoformat`` of an aware time; the fraction is left out when it is zero."""
_OTHER_TOKENS = {
    pl.String: '[^"n\\s]',
    pl.Boolean: "[^tfn\\s]",
    pl.Int64: "(?:[^-0-9n\\s]|-?[0-9]+[.eE])",  # polars reads 7.0 as an integer
    pl.Float64: "[^-0-9n\\s]",
}
"""Types polars may infer a parameter as, and a JSON value of another kind (or null)."""


def journal_frame(lines: Sequence[bytes], addresses: Sequence[str]) -> pl.DataFrame:
    """:func:`records_frame` of journaled records, read by polars in a few calls: a
    Python object per record cost five times more at 100,000 runs. Raises a polars
    error when a line is not whole JSON (torn by a crash)."""
    read = pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=_TEXT_SCHEMA)
    # Cut from the lines, not read: polars' reader writes a parameter 7.0 back as 7.
    params = pl.Series(lines, dtype=pl.Binary).cast(pl.String).str.extract(_PARAMS)
    if params.null_count():
        raise pl.exceptions.ComputeError("a journal line without its parameters")
    fixed = read.select(
        pl.col(name).str.to_datetime(_ISO, time_unit="us", time_zone="UTC")
        if isinstance(dtype, pl.Datetime)
        else pl.col(name).str.json_decode(dtype).fill_null([])
        if isinstance(dtype, pl.List)
        else pl.col(name)
        for name, dtype in _FIXED_SCHEMA.items()
    )
    columns = _params_columns(params, addresses)
    return pl.DataFrame(columns).hstack(fixed) if columns else fixed


def _params_columns(text: pl.Series, addresses: Sequence[str]) -> list[pl.Series]:
    """Parameter columns by :func:`_typed_series`'s rules, decoded by polars. Where
    polars would type a column otherwise (values of several JSON kinds, which it
    coerces, or lists), that column is typed in Python, as :func:`records_frame` does."""
    parsed: list[dict[str, Any]] = []

    def in_python(name: str) -> pl.Series:
        if not parsed:
            parsed.extend(json.loads(t) for t in text)
        return _typed_series(name, [p.get(name) for p in parsed])

    decoded = text.str.json_decode(infer_schema_length=None)
    fields = decoded.struct.fields if isinstance(decoded.dtype, pl.Struct) else []
    columns = []
    for name in dict.fromkeys([*addresses, *fields]):
        if name in _FIXED_SCHEMA:
            continue  # a parameter may not shadow a report column
        if name not in fields:
            columns.append(pl.Series(name, [None] * len(text), dtype=pl.Null))
            continue
        column = decoded.struct.field(name).alias(name)
        starts = _OTHER_TOKENS.get(column.dtype.base_type())
        if column.dtype == pl.Null:
            columns.append(column)
        elif starts is not None:
            other = rf"{re.escape(json.dumps(name))}\s*:\s*{starts}"
            uniform = not text.str.contains(other).any()
            columns.append(column if uniform else in_python(name))
        else:
            columns.append(in_python(name))
    return columns


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
    if not present:  # typed by the other parts of the report, when it is read
        return pl.Series(name, values, dtype=pl.Null)
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


def report_files(path: str | Path) -> list[Path]:
    """The Parquet files that make up the report in ``path`` (an output directory or
    its ``report.parquet``): the report, then the parts written since, oldest first.
    Empty when there is no report there."""
    target = Path(path)
    if target.is_dir():
        return [*_existing(target / REPORT_NAME), *_parts(target)]
    if target.name == REPORT_NAME:  # a sweep still running has parts beside it
        return [*_existing(target), *_parts(target.parent)]
    return _existing(target)


def load_report(path: str | Path) -> pl.DataFrame:
    """A sweep's report as one DataFrame: pass the output directory or its Parquet
    file. A sweep still running (or killed) has parts beside ``report.parquet``:
    they are read with it, the latest record of each run winning.

    >>> df = load_report("runs/sampler-shootout")  # doctest: +SKIP
    >>> df.group_by("KSampler.sampler_name").agg(pl.col("exec_s").mean())  # doctest: +SKIP
    """
    files = report_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no {REPORT_NAME} here; give a sweep's output directory")
    if len(files) == 1:
        return pl.read_parquet(files[0])
    merged = _merged([pl.scan_parquet(f) for f in files])
    return merged.collect() if isinstance(merged, pl.LazyFrame) else merged


def report_metadata(path: str | Path) -> dict[str, Any]:
    """The report's metadata (spec, workflows, tool version, servers), JSON-decoded."""
    files = report_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no {REPORT_NAME} here; give a sweep's output directory")
    decoded: dict[str, Any] = {}
    for key, value in _raw_metadata(files[-1]).items():
        if not key.startswith("comfyfleet.") or key == _JOURNAL_END:
            continue
        try:
            decoded[key.removeprefix("comfyfleet.")] = json.loads(value)
        except ValueError:
            decoded[key.removeprefix("comfyfleet.")] = value
    return decoded
