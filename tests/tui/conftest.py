"""TUI test helpers (the environment and the simulators come from tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


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
