"""The report journal and Parquet file: typed columns, crash safety, resume."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sweeps.report import (
    JOURNAL_NAME,
    PARTS_DIR,
    ReportWriter,
    RunRecord,
    load_report,
    report_metadata,
)


def _record(index: int, status: str = "success", **params: object) -> RunRecord:
    return RunRecord(
        run_id=f"id{index}",
        run_index=index,
        workflow="wf",
        repeat=0,
        params=params or {"KSampler.seed": index, "KSampler.cfg": 7.0},
        status=status,  # type: ignore[arg-type]
        server="http://a",
        prompt_id=f"p{index}",
        attempts=1,
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        finished_at=datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
        queue_s=1.0,
        exec_s=2.0,
        total_s=3.0,
        cached_nodes=("4",),
        node_timings=(
            {"node_id": "3", "class_type": "KSampler", "seconds": 1.5, "cached": False},
            {
                "node_id": "4",
                "class_type": "CheckpointLoaderSimple",
                "seconds": 0.0,
                "cached": True,
            },
        ),
        outputs=(
            {"node_id": "9", "filename": "a.png", "subfolder": "", "type": "output", "path": "a"},
        ),
    )


def test_parquet_has_typed_columns_and_metadata(tmp_path: Path) -> None:
    with ReportWriter(tmp_path, addresses=["KSampler.seed", "KSampler.cfg"]) as report:
        report.metadata["comfyfleet.sweep"] = '"demo"'
        report.append(_record(0))
        report.append(_record(1, status="failed"))
    df = load_report(tmp_path)
    assert df.height == 2
    assert df.schema["KSampler.seed"] == pl.Int64
    assert df.schema["KSampler.cfg"] == pl.Float64
    assert df.schema["submitted_at"] == pl.Datetime("us", "UTC")
    assert df.schema["cached_nodes"] == pl.List(pl.String)
    assert df["status"].to_list() == ["success", "failed"]
    timings = df["node_timings"][0].to_list()
    assert timings == [
        {"node_id": "3", "class_type": "KSampler", "seconds": 1.5, "cached": False},
        {"node_id": "4", "class_type": "CheckpointLoaderSimple", "seconds": 0.0, "cached": True},
    ]
    assert df["outputs"][0].to_list()[0]["filename"] == "a.png"
    assert report_metadata(tmp_path) == {"sweep": "demo"}


def test_seeds_beyond_int64_are_unsigned(tmp_path: Path) -> None:
    with ReportWriter(tmp_path, addresses=["KSampler.seed"]) as report:
        report.append(_record(0, **{"KSampler.seed": 2**64 - 1}))
        report.append(_record(1, **{"KSampler.seed": 3}))
    df = load_report(tmp_path / "report.parquet")
    assert df.schema["KSampler.seed"] == pl.UInt64
    assert df["KSampler.seed"].to_list() == [2**64 - 1, 3]


def test_mixed_int_and_float_values_become_float(tmp_path: Path) -> None:
    with ReportWriter(tmp_path, addresses=["cfg"]) as report:
        report.append(_record(0, cfg=4))
        report.append(_record(1, cfg=7.5))
    assert load_report(tmp_path)["cfg"].to_list() == [4.0, 7.5]


def test_journal_survives_a_crash_and_resume_skips_successes(tmp_path: Path) -> None:
    report = ReportWriter(tmp_path)
    report.append(_record(0))
    report.append(_record(1, status="failed"))
    # Simulate a crash mid-write: a torn last line, no Parquet rebuild.
    with (tmp_path / JOURNAL_NAME).open("a") as journal:
        journal.write('{"run_id": "id2", "run_ind')
    report._journal.close()

    resumed = ReportWriter(tmp_path)
    assert resumed.succeeded() == {"id0"}
    resumed.append(_record(1))  # the retry succeeds and replaces the failure
    resumed.close()
    df = load_report(tmp_path)
    assert df.sort("run_index")["status"].to_list() == ["success", "success"]
    # The line after the torn one is whole: a second resume still knows the retry.
    with ReportWriter(tmp_path) as again:
        assert again.succeeded() == {"id0", "id1"}


def test_empty_report_still_has_every_column(tmp_path: Path) -> None:
    ReportWriter(tmp_path, addresses=["a.b"]).close()
    df = load_report(tmp_path)
    assert df.height == 0
    for column in ("run_id", "status", "server", "queue_s", "outputs", "error_message"):
        assert column in df.columns


def test_an_output_directory_belongs_to_one_sweep(tmp_path: Path) -> None:
    import pytest

    from sweeps.errors import SpecError
    from sweeps.report import journal_owner

    with ReportWriter(tmp_path, sweep="shootout") as report:
        report.append(_record(0))
    assert journal_owner(tmp_path) == "shootout"
    with ReportWriter(tmp_path, sweep="shootout") as again:  # the same sweep resumes
        assert again.succeeded() == {"id0"}
    with pytest.raises(SpecError, match="holds the runs of sweep 'shootout', not 'other'"):
        ReportWriter(tmp_path, sweep="other")


def test_planning_into_another_sweeps_output_is_bad_input(tmp_path: Path) -> None:
    import shutil

    import pytest

    from sweeps.errors import SpecError
    from sweeps.runner import check_output
    from sweeps.spec import load_spec

    samples = Path(__file__).parents[2] / "sample_workflows"
    shutil.copy(samples / "model_free.json", tmp_path / "model_free.json")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "name: strengths\nworkflow: model_free.json\noutput: out\n"
        "grid:\n  Noise.strength: [0.1, 0.9]\n"
    )
    spec = load_spec(spec_path)
    ReportWriter(tmp_path / "out", sweep="seeds").close()
    with pytest.raises(
        SpecError, match=r"spec.yaml:3: output .* of sweep 'seeds', not 'strengths'"
    ):
        check_output(spec)
    check_output(spec, tmp_path / "elsewhere")  # its own directory is fine


async def test_a_running_sweeps_parts_read_as_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps import report as report_module

    monkeypatch.setattr(report_module, "_PART_EVERY", 0.0)  # a part after every batch
    report = ReportWriter(tmp_path, addresses=["KSampler.seed"])
    report.metadata["comfyfleet.sweep"] = '"demo"'
    await report.commit(_record(1, status="failed", **{"KSampler.seed": None}))
    await report.commit(_record(0, **{"KSampler.seed": 5}))
    await report.commit(_record(1, **{"KSampler.seed": 7}))  # the retry replaces the failure
    assert len(list((tmp_path / PARTS_DIR).glob("*.parquet"))) == 3
    assert not (tmp_path / "report.parquet").exists()
    for path in (tmp_path, tmp_path / "report.parquet"):
        df = load_report(path)
        assert df["run_id"].to_list() == ["id0", "id1"]
        assert df["status"].to_list() == ["success", "success"]
        assert df.schema["KSampler.seed"] == pl.Int64  # the all-null part takes its type
        assert df.columns[:2] == ["KSampler.seed", "run_id"]  # swept addresses first
    assert report_metadata(tmp_path) == {"sweep": "demo"}
    report._journal.close()  # killed: no close, the parts stay

    resumed = ReportWriter(tmp_path)
    assert resumed.succeeded() == {"id0", "id1"}
    assert resumed._unparted == [] and resumed._unparted_read is None  # parts hold all
    resumed.close()
    assert not (tmp_path / PARTS_DIR).exists()  # gathered into the report
    df = load_report(tmp_path / "report.parquet")
    assert df["KSampler.seed"].to_list() == [5, 7]
    assert report_metadata(tmp_path) == {"sweep": "demo"}


def test_a_journal_without_parquet_is_rebuilt_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps import report as report_module

    monkeypatch.setattr(report_module, "_PART_ROWS", 2)
    with (tmp_path / JOURNAL_NAME).open("w") as journal:
        for index in range(5):
            journal.write(_record(index).to_json() + "\n")
    report = ReportWriter(tmp_path)
    assert len(list((tmp_path / PARTS_DIR).glob("*.parquet"))) == 2
    assert report._unparted_read is not None and report._unparted_read.height == 1
    report.close()
    assert load_report(tmp_path)["run_index"].to_list() == [0, 1, 2, 3, 4]


def test_a_full_disk_at_the_end_keeps_the_parts_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps.errors import ReportUnwritable

    report = ReportWriter(tmp_path)
    report.append(_record(0))

    def full(self: pl.DataFrame, *args: object, **kwargs: object) -> None:
        raise pl.exceptions.ComputeError("failed to write: No space left on device (os error 28)")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", full)
    with pytest.raises(ReportUnwritable, match=r"report.parquet: .*No space left.*runs.jsonl"):
        report.close()
    monkeypatch.undo()
    assert not list(tmp_path.glob(".*partial"))
    with ReportWriter(tmp_path) as again:  # room again: the same command finishes the report
        assert again.succeeded() == {"id0"}
    assert load_report(tmp_path)["run_id"].to_list() == ["id0"]


def _varied_records() -> list[RunRecord]:
    """Records that test every typing rule: seeds beyond int64, ints mixed with floats
    and with strings, lists, missing values, failures, a retry, times without microseconds."""
    records = [
        _record(
            0,
            "success",
            **{"KSampler.seed": 2**64 - 1, "mix": 1, "word": "a", "flag": True, "bit": 1},
        ),
        _record(1, "success", **{"KSampler.seed": 5, "mix": 1.5, "odd": "x", "flag": False}),
        _record(2, "failed", **{"KSampler.seed": None, "odd": 3, "shape": [1, 2]}),
        _record(
            3, "success", **{"KSampler.seed": 7, "word": None, "shape": {"w": 512}, "bit": False}
        ),
    ]
    bare = RunRecord("id4", 4, "other", 1, {}, "interrupted", error_type="Timeout")
    late = RunRecord(
        "id5",
        5,
        "wf",
        0,
        {"KSampler.seed": 9},
        "failed",
        server="http://b",
        prompt_id="p5",
        submitted_at=datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC),
        node_timings=({"node_id": "3", "class_type": "KSampler", "seconds": 0.5},),
        error_type="ExecutionError",
        error_message="boom",
        error_node="3",
        extra={"note": 1},
    )
    return [*records, bare, late, _record(2, **{"KSampler.seed": 11, "odd": "y"})]


@pytest.mark.parametrize("part_rows", [3, 10_000])
def test_a_rebuilt_journal_equals_the_report_built_from_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_rows: int
) -> None:
    from polars.testing import assert_frame_equal

    from sweeps import report as report_module

    monkeypatch.setattr(report_module, "_PART_ROWS", part_rows)
    addresses = ["KSampler.seed", "KSampler.cfg"]
    rebuilt: list[pl.DataFrame] = []
    for folder in ("read", "built"):
        (tmp_path / folder).mkdir()
        with (tmp_path / folder / JOURNAL_NAME).open("w") as journal:
            journal.writelines(r.to_json() + "\n" for r in _varied_records())
        if folder == "built":  # the slow way: a Python object per record, then columns
            monkeypatch.setattr(
                report_module,
                "journal_frame",
                lambda lines, names: report_module.records_frame(
                    [RunRecord.from_json(line.decode()) for line in lines], names
                ),
            )
        ReportWriter(tmp_path / folder, addresses=addresses).close()
        rebuilt.append(load_report(tmp_path / folder))
    read, built = rebuilt
    assert_frame_equal(read, built)  # values, column order and types
    assert read["run_id"].to_list() == [f"id{i}" for i in range(6)]
    assert read["status"][2] == "success"  # the retry replaced the failure
    assert read.schema["KSampler.seed"] == pl.UInt64  # in every slicing
    assert read["KSampler.seed"].to_list() == [2**64 - 1, 5, 11, 7, None, 9]
    assert read.schema["flag"] == pl.Boolean
    assert read["node_timings"][5].to_list() == [
        {"node_id": "3", "class_type": "KSampler", "seconds": 0.5, "cached": None}
    ]
    assert read["submitted_at"][5] == datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    if part_rows > len(_varied_records()):  # one slice: one column type per parameter
        assert read.schema["mix"] == pl.Float64
        assert read["odd"].to_list() == [None, '"x"', '"y"', None, None, None]
        assert read["bit"].to_list() == ["1", None, None, "false", None, None]


def test_a_torn_success_in_a_rebuilt_slice_is_run_again(tmp_path: Path) -> None:
    records = _varied_records()
    torn = _record(5).to_json()
    cut = torn.index("}]") + 1  # cut after a nested object: the line still ends in "}"
    with (tmp_path / JOURNAL_NAME).open("w") as journal:
        journal.write(records[0].to_json() + "\n" + torn[:cut] + "\n")
        journal.write(records[1].to_json() + "\n")
    report = ReportWriter(tmp_path)
    assert report.succeeded() == {"id0", "id1"}  # not id5: its record is lost
    report.close()
    df = load_report(tmp_path)
    assert df["run_id"].to_list() == ["id0", "id1"]
    assert df.schema["KSampler.seed"] == pl.UInt64


def test_parts_in_order_are_streamed_into_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polars.testing import assert_frame_equal

    from sweeps import report as report_module

    monkeypatch.setattr(report_module, "_PART_ROWS", 2)
    records = [_record(i) for i in range(5)]
    with (tmp_path / JOURNAL_NAME).open("w") as journal:
        journal.writelines(r.to_json() + "\n" for r in records)
    merged: list[pl.DataFrame | pl.LazyFrame] = []
    merge = report_module._merged

    def spy(sources: list[pl.LazyFrame]) -> pl.DataFrame | pl.LazyFrame:
        merged.append(merge(sources))
        return merged[-1]

    monkeypatch.setattr(report_module, "_merged", spy)
    ReportWriter(tmp_path, addresses=["KSampler.seed"]).close()
    assert [type(m) for m in merged] == [pl.LazyFrame]  # in order: streamed, not held
    expected = report_module.records_frame(records, ["KSampler.seed"])
    assert_frame_equal(load_report(tmp_path), expected)
    assert not (tmp_path / PARTS_DIR).exists()
