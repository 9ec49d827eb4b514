"""Lint and types are part of the test command, so CI and a contributor run the same checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "comfyfleet", "sweeps", "tui", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_engine_and_the_dashboard() -> None:
    result = _run(sys.executable, "-m", "mypy")  # files and strictness: [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr
