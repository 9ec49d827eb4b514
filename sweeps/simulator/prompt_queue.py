"""The prompt queue and history, as ComfyUI's ``execution.PromptQueue`` keeps them.

Clients see its internals directly: ``/queue`` returns the raw heap array
(unsorted), ``number`` ties are broken by ``prompt_id``, history keeps
completion order and overwrites a reused id in place, and every change
broadcasts a ``status`` event. All of that is reproduced here; the broadcast is
a callback so this module knows nothing of websockets.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAXIMUM_HISTORY_SIZE", "PromptQueue", "QueueItem"]

MAXIMUM_HISTORY_SIZE = 10000


@dataclass(order=True)
class QueueItem:
    """One queued prompt. Only ``(number, prompt_id)`` take part in heap ordering."""

    number: int | float
    prompt_id: str
    prompt: dict[str, Any] = field(compare=False)
    extra_data: dict[str, Any] = field(compare=False)
    outputs_to_execute: list[str] = field(compare=False)
    sensitive: dict[str, Any] = field(compare=False, default_factory=dict)

    def public(self) -> list[Any]:
        """The five-element list ``/queue`` and history show (sensitive keys stripped)."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs_to_execute]


class PromptQueue:
    """Pending heap, the running item, history, and the ``/free`` flags."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self.pending: list[QueueItem] = []
        self.running: dict[int, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.flags: dict[str, Any] = {}
        self._task_counter = 0
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()
        """Set while the worker waits with nothing pending and no flags to handle."""

    @property
    def remaining(self) -> int:
        return len(self.pending) + len(self.running)

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.remaining}}

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self.pending, item)
        self.idle.clear()
        self._on_change()
        self._wake.set()

    async def wait_for_work(self) -> None:
        """Return when an item is pending or a flag is set (the worker's ``q.get``)."""
        while not self.pending and not self.flags:
            self._wake.clear()
            self.idle.set()
            await self._wake.wait()

    def get(self) -> tuple[QueueItem, int] | None:
        if not self.pending:
            return None
        item = heapq.heappop(self.pending)
        task_id = self._task_counter
        self.running[task_id] = copy.deepcopy(item)
        self._task_counter += 1
        self._on_change()
        return item, task_id

    def task_done(
        self, task_id: int, history_result: dict[str, Any], status: dict[str, Any]
    ) -> None:
        item = self.running.pop(task_id)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        entry: dict[str, Any] = {"prompt": item.public(), "outputs": {}, "status": status}
        entry.update(history_result)
        self.history[item.prompt_id] = entry
        self._on_change()

    def current(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """``(running, pending)`` as ``/queue`` shows them: deep copies, heap order."""
        running = [copy.deepcopy(i.public()) for i in self.running.values()]
        pending = [copy.deepcopy(i.public()) for i in self.pending]
        return running, pending

    def is_running(self, prompt_id: str) -> bool:
        return any(i.prompt_id == prompt_id for i in self.running.values())

    def wipe(self) -> None:
        self.pending = []
        self._on_change()

    def delete(self, prompt_id: Any) -> bool:
        for i, item in enumerate(self.pending):
            if item.prompt_id == prompt_id:
                self.pending.pop(i)
                heapq.heapify(self.pending)
                self._on_change()
                return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            if prompt_id in self.history:
                return {prompt_id: copy.deepcopy(self.history[prompt_id])}
            return {}
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        for i, key in enumerate(self.history):
            if i >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def wipe_history(self) -> None:
        self.history.clear()

    def delete_history(self, prompt_id: Any) -> None:
        self.history.pop(prompt_id, None)

    def set_flag(self, name: str, value: Any) -> None:
        self.flags[name] = value
        self.idle.clear()
        self._wake.set()

    def take_flags(self) -> dict[str, Any]:
        flags, self.flags = self.flags, {}
        return flags
