"""The report at scale, as ratios measured in one run (the machine is shared and noisy).

    python tests/benchmarks/bench_report.py [--runs 100000]

For a sweep of N finished runs (and N/10, to show the cost grows linearly), each
step in a fresh process, so its peak RSS is its own:

1. rebuild: an old journal with no Parquet at all, opened and closed (every
   record rebuilt into the report, in slices);
2. open: a finished sweep's directory opened and closed again (nothing to rebuild);
3. load: ``load_report`` of the report while the sweep runs (report + parts);
4. resume: ``run_sweep`` on the same spec, from the call to its first submission.

Goals at 100,000 runs: each under 2 s; memory that does not grow with the run
count (peak RSS over a bare interpreter with the same imports).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_sweep import in_child, write_spec  # beside this script, on its path when it runs


def _journal(spec: Path, runs: int) -> None:
    """A journal of ``runs`` successes, as a sweep writes it (a submission, then a record)."""
    from sweeps.grid import Grid
    from sweeps.report import JOURNAL_NAME, RunRecord, Submission
    from sweeps.spec import load_spec

    out = spec.parent / "out"
    out.mkdir()
    now = datetime.now(UTC)
    with (out / JOURNAL_NAME).open("w") as journal:
        journal.write('{"kind": "sweep", "name": "bench"}\n')
        for run in Grid(load_spec(spec)):
            if run.run_index >= runs:
                break
            identity = {
                "run_id": run.run_id,
                "run_index": run.run_index,
                "workflow": run.workflow_name,
                "repeat": run.repeat,
                "params": dict(run.params),
            }
            journal.write(
                Submission(**identity, server="http://a", prompt_id="p", submitted_at=now).to_json()
                + "\n"
            )
            record = RunRecord(
                **identity,
                status="success",
                server="http://a",
                prompt_id="p",
                attempts=1,
                submitted_at=now,
                started_at=now,
                finished_at=now,
                queue_s=0.1,
                exec_s=1.5,
                total_s=1.6,
                node_timings=tuple(
                    {"node_id": str(i), "class_type": "Noise", "seconds": 0.3} for i in range(5)
                ),
                outputs=(
                    {
                        "node_id": "4",
                        "filename": f"ComfyUI_{run.run_index:05d}_.png",
                        "subfolder": "",
                        "type": "output",
                        "path": f"{run.run_index:05d}-4-ComfyUI_{run.run_index:05d}_.png",
                    },
                ),
            )
            journal.write(record.to_json() + "\n")


def _rebuild(spec: Path) -> None:
    from sweeps.report import ReportWriter

    ReportWriter(spec.parent / "out", sweep="bench").close()


def _open(spec: Path) -> None:
    from sweeps.report import ReportWriter

    ReportWriter(spec.parent / "out", sweep="bench").close()


def _load(spec: Path) -> None:
    from sweeps.report import load_report

    assert load_report(spec.parent / "out").height > 0


def _resume(spec: Path) -> float:
    from sweeps.runner import run_sweep
    from sweeps.scheduler import Sweep
    from sweeps.simulator import SimConfig, Simulator

    async def main() -> float:
        async with Simulator(SimConfig(speed=0.0)) as sim:
            sweeps: list[Sweep] = []
            submitted: list[float] = []
            start = time.perf_counter()

            def first(progress: object) -> None:
                if sweeps and getattr(progress, "running", 0) and not submitted:
                    submitted.append(time.perf_counter() - start)
                    asyncio.get_running_loop().create_task(sweeps[0].stop(interrupt_running=False))

            await run_sweep(spec, servers=[sim.url], on_start=sweeps.append, on_progress=first)
            return submitted[0]

    return asyncio.run(main())


def _measured(
    step: Callable[[Path], float | None], spec: Path, queue: multiprocessing.Queue
) -> None:
    # Imports first: their memory and time are the same at any run count.
    import sweeps.report
    import sweeps.runner
    import sweeps.simulator  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    elapsed = step(spec) or time.perf_counter() - start
    queue.put((elapsed, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024))


def _in_child(step: Callable[[Path], float | None], spec: Path) -> tuple[float, float]:
    result: tuple[float, float] = in_child(_measured, step, spec)
    return result


def measure(runs: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), runs + 10)  # a few runs left to resume
        _journal(spec, runs)
        figures = {"rebuild": _in_child(_rebuild, spec), "open": _in_child(_open, spec)}
        # A running sweep's report: the gathered report plus parts written since.
        from sweeps.report import ReportWriter, RunRecord

        with ReportWriter(spec.parent / "out") as report:
            for i in range(50):
                report.append(RunRecord(f"new{i}", runs + i, "model_free", 0, {}, "failed"))
                report._write_part(report._journal_end)
            figures["load"] = _in_child(_load, spec)
        figures["resume"] = _in_child(_resume, spec)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    small, large = measure(args.runs // 10), measure(args.runs)
    print(f"report: {args.runs // 10:,} and {args.runs:,} finished runs, a process per step")
    for step in ("rebuild", "open", "load", "resume"):
        (t_small, m_small), (t_large, m_large) = small[step], large[step]
        print(
            f"  {step:8} {t_large:6.2f} s ({t_large / 2.0:.2f} of the 2 s goal), "
            f"x{t_large / t_small:.1f} the time at a tenth; "
            f"peak RSS +{m_large:.0f} MiB (+{m_small:.0f} MiB at a tenth)"
        )


if __name__ == "__main__":
    main()
