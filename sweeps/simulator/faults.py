"""Faults a test or the demo injects into a running simulator.

These are the failures a fleet client meets in the field, each reduced to a
switch that can be flipped from Python while the server runs::

    sim.faults.prompt_500 = 2            # the next two POST /prompt answer a plain 500
    sim.faults.fail_classes = {"KSampler"}
    sim.faults.hang_http = True          # requests are accepted and never answered
    sim.faults.stall_worker = True       # the queue stops moving (GPU hung)
    sim.faults.die_on_class = "KSampler" # the process dies when a KSampler starts

Faults that act on the listener (refuse connections, drop websockets, die,
restart) are coroutines on :class:`~sweeps.simulator.Simulator`, because they
have to wait for sockets to close.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

__all__ = ["Faults"]


class _Gate:
    """A switch that coroutines can wait on until it is turned off."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    @property
    def closed(self) -> bool:
        return not self._open.is_set()

    def set_closed(self, closed: bool) -> None:
        if closed:
            self._open.clear()
        else:
            self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()


class Faults:
    """Mutable fault switches, read by the routes and the worker on every use.

    Probabilities draw from one RNG seeded by ``SimConfig.seed``, so a run with
    the same seed and the same requests fails at the same points.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed ^ 0xFA017)
        self._hang = _Gate()
        self._stall = _Gate()
        self.prompt_500: int = 0
        """Answer this many upcoming ``POST /prompt`` with a plain-text 500 (counts down)."""
        self.prompt_500_probability: float = 0.0
        """Then also fail each ``POST /prompt`` with this probability."""
        self.fail_classes: frozenset[str] = frozenset()
        """Node classes whose execution raises, giving ``execution_error`` (as ProbeFail does)."""
        self.fail_probability: float = 0.0
        """Any executed node raises with this probability."""
        self.fail_message: str = "simulated failure"
        self.die_on_class: str | None = None
        """The server dies abruptly when a node of this class starts (see ``Simulator.die``)."""

    @property
    def hang_http(self) -> bool:
        """Accept HTTP requests (and websocket upgrades) but never answer them while True."""
        return self._hang.closed

    @hang_http.setter
    def hang_http(self, value: bool) -> None:
        self._hang.set_closed(value)

    @property
    def stall_worker(self) -> bool:
        """Stop the worker before its next node while True; the queue stops moving."""
        return self._stall.closed

    @stall_worker.setter
    def stall_worker(self, value: bool) -> None:
        self._stall.set_closed(value)

    def fail_class(self, *classes: str) -> None:
        """Shorthand: ``faults.fail_class("KSampler")`` makes every KSampler fail."""
        self.fail_classes = frozenset(classes)

    def set_fail_classes(self, classes: Iterable[str]) -> None:
        self.fail_classes = frozenset(classes)

    def take_prompt_500(self) -> bool:
        """Whether this ``POST /prompt`` should fail; consumes one count."""
        if self.prompt_500 > 0:
            self.prompt_500 -= 1
            return True
        return self.prompt_500_probability > 0 and self._rng.random() < self.prompt_500_probability

    def should_fail(self, class_type: str) -> bool:
        if class_type in self.fail_classes:
            return True
        return self.fail_probability > 0 and self._rng.random() < self.fail_probability

    async def wait_http(self) -> None:
        await self._hang.wait_open()

    async def wait_worker(self) -> None:
        await self._stall.wait_open()

    def clear(self) -> None:
        """Turn every fault off."""
        self.prompt_500 = 0
        self.prompt_500_probability = 0.0
        self.fail_classes = frozenset()
        self.fail_probability = 0.0
        self.die_on_class = None
        self.hang_http = False
        self.stall_worker = False
