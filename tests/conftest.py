"""Fixtures for every test: the user's machine kept out, and simulators to talk to."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
    """A fast simulator: prompts take a few tens of milliseconds; Crystools on."""
    async with Simulator(SimConfig(speed=0.02, crystools=True, crystools_interval=0.1)) as server:
        yield server


@pytest.fixture
async def sim2() -> AsyncIterator[Simulator]:
    """An instantaneous second simulator."""
    async with Simulator(SimConfig(speed=0.0, seed=2)) as server:
        yield server
