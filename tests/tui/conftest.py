"""TUI test fixtures: a clean environment, a fixed time zone, and simulators."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from sweeps.simulator import SimConfig, Simulator


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, no server list from the environment, UTC for log timestamps."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("COMFYFLEET_SERVERS", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A fast simulator: prompts take a few tens of milliseconds."""
    async with Simulator(SimConfig(speed=0.02, crystools=True, crystools_interval=0.2)) as server:
        yield server


@pytest.fixture
async def sim2() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(speed=0.0, seed=2)) as server:
        yield server


async def until(pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds.

    Each round waits for the app's message queue to empty (``pilot.pause``), so
    the check sees what the last event produced. The engine runs in real time
    against a simulator, so a bounded poll is the only way to wait for it.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)
