"""Fixtures: a fresh instantaneous simulator per test, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sweeps.simulator import SimConfig, Simulator
from tests.traces import VERSIONS


@pytest.fixture
def sim_config() -> SimConfig:
    """Override in a test module (or parametrize) to change the knobs."""
    return SimConfig(speed=0.0)


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    """Every recorded ComfyUI version, for tests that replay the recordings."""
    return str(request.param)


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[Simulator]:
    async with Simulator(sim_config) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        yield client
