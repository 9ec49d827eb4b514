"""One shape for a run's identity, and the modules that no longer need each other for it."""

from __future__ import annotations

import ast
from pathlib import Path

from sweeps.identity import RunIdentity
from sweeps.report import Submission

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def _imported(module: str) -> set[str]:
    tree = ast.parse((SWEEPS / f"{module}.py").read_text())
    return {
        node.module.rsplit(".", 1)[-1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }


def test_grid_pool_and_placement_do_not_import_the_scheduler() -> None:
    for module in ("grid", "pool", "placement", "planning", "preflight"):
        assert "scheduler" not in _imported(module), module
    assert "pool" in _imported("scheduler")  # one direction only


def test_an_identity_rebuilt_from_the_journal_is_the_grid_runs() -> None:
    from sweeps.grid import Run

    run = Run(3, "abc", "wf", {"KSampler.seed": 5}, repeat=1, block=2)
    fields = RunIdentity.of(run).report_fields()
    assert fields == {
        "run_id": "abc",
        "run_index": 3,
        "workflow": "wf",
        "repeat": 1,
        "params": {"KSampler.seed": 5},
    }
    journaled = Submission(**fields, server="http://a", prompt_id="p", submitted_at=None)  # type: ignore[arg-type]
    rebuilt = RunIdentity(
        journaled.run_index,
        journaled.run_id,
        journaled.workflow,
        journaled.params,
        journaled.repeat,
    )
    assert rebuilt == RunIdentity.of(run)
