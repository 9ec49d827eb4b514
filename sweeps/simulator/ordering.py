"""Execution order: a port of ComfyUI's ``ExecutionList`` (comfy_execution/graph.py).

Clients see the order (``executing`` events, which node is "current" on a
dashboard), and the real order is not an obvious topological sort: nodes are
discovered depth-first from each output node, skipping cached ancestors, and
among the ready ones ``ux_friendly_pick_node`` prefers output nodes, then nodes
feeding an output, then nodes two steps from one. For the classic SD1.5 graph
that gives 4, 5, 7, 6, 3, 8, 9, exactly as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ExecutionList", "is_link"]


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
    )


class ExecutionList:
    """Pending nodes, who blocks whom, and which node to run next."""

    def __init__(
        self,
        prompt: Mapping[str, Any],
        is_cached: Callable[[str], bool],
        is_output: Callable[[str], bool],
    ) -> None:
        self._prompt = prompt
        self._is_cached = is_cached
        self._is_output = is_output
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[int, bool]]] = {}
        self.staged: str | None = None

    def add_node(self, node_id: str) -> None:
        """Add ``node_id`` and, depth-first, every uncached node it depends on."""
        stack = [node_id]
        links: list[tuple[str, int, str]] = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self.pending[unique_id] = True
            self.block_count[unique_id] = 0
            self.blocking[unique_id] = {}
            for value in self._prompt[unique_id].get("inputs", {}).values():
                if is_link(value):
                    from_id, from_socket = value
                    if not self._is_cached(from_id):
                        stack.append(from_id)
                    links.append((from_id, from_socket, unique_id))
        for from_id, from_socket, to_id in links:
            self._add_strong_link(from_id, from_socket, to_id)

    def _add_strong_link(self, from_id: str, from_socket: int, to_id: str) -> None:
        if self._is_cached(from_id):
            return
        self.add_node(from_id)
        if to_id not in self.blocking[from_id]:
            self.blocking[from_id][to_id] = {}
            self.block_count[to_id] += 1
        self.blocking[from_id][to_id][from_socket] = True

    def is_empty(self) -> bool:
        return not self.pending

    def ready(self) -> list[str]:
        return [n for n in self.pending if self.block_count[n] == 0]

    def stage(self) -> str | None:
        """Pick the next node to run; None means the rest is a dependency cycle."""
        available = self.ready()
        if not available:
            return None
        self.staged = self._pick(available)
        return self.staged

    def _pick(self, available: list[str]) -> str:
        for node_id in available:
            if self._is_output(node_id):
                return node_id
        for node_id in available:
            if any(self._is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in available:
            for blocked in self.blocking[node_id]:
                if any(self._is_output(b) for b in self.blocking[blocked]):
                    return node_id
        return available[0]

    def complete(self) -> None:
        """Mark the staged node done, unblocking what waited on it."""
        node_id = self.staged
        assert node_id is not None
        self.staged = None
        for blocked in self.blocking.pop(node_id, {}):
            self.block_count[blocked] -= 1
        del self.pending[node_id]
        del self.block_count[node_id]
