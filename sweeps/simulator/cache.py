"""ComfyUI's output caches: node results keyed by input signature.

A node's signature is its class, its ``IS_CHANGED`` value, its constant inputs
and, recursively, the signatures of its ancestors, so it does not depend on
node ids: node "a" of one prompt hits the cache of node "1" of the previous one.
The classic cache (the default before 0.33) drops, at the start of each prompt,
every entry whose signature is not in the new prompt, so only the previous
prompt's results survive (PROTOCOL 3.2). The RAM-pressure cache (0.33's default)
keeps older results too and evicts the least recently used only when memory runs
short, here when it holds more than ``RAM_PRESSURE_ENTRIES`` results: switching
back to a checkpoint used two prompts ago finds its nodes cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sweeps.schema import NodeSchema
from sweeps.simulator.ordering import is_link

__all__ = ["RAM_PRESSURE_ENTRIES", "CachedOutput", "OutputCache", "signatures"]

RAM_PRESSURE_ENTRIES = 512
"""Results the RAM-pressure cache holds before evicting (a stand-in for free RAM)."""


@dataclass(frozen=True)
class CachedOutput:
    """What a node produced: its output values and its UI dict (None when it had none)."""

    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None


def signatures(
    prompt: Mapping[str, Any],
    schemas: Mapping[str, NodeSchema],
    is_changed: Callable[[str, Mapping[str, Any]], object],
) -> dict[str, str]:
    """``{node_id: signature}`` for every node of ``prompt``.

    ``is_changed(class_type, inputs)`` stands for the class's ``IS_CHANGED``.
    Classes with a hidden ``UNIQUE_ID`` input get their node id mixed in, as
    ComfyUI does for them and for ``NOT_IDEMPOTENT`` classes.
    """
    memo: dict[str, str] = {}
    visiting: set[str] = set()

    def sig(node_id: str) -> str:
        if node_id in memo:
            return memo[node_id]
        if node_id in visiting or node_id not in prompt:
            return f"<unresolved {node_id!r}>"
        visiting.add(node_id)
        node = prompt[node_id]
        class_type = node.get("class_type")
        inputs = node.get("inputs", {})
        parts: list[Any] = [class_type, repr(is_changed(class_type, inputs))]
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                parts.append((name, "ANCESTOR", sig(value[0]), int(value[1])))
            else:
                parts.append((name, repr(value)))
        schema = schemas.get(class_type)
        if schema is not None and any(
            s.hidden and s.declared_type == "UNIQUE_ID" for s in schema.inputs.values()
        ):
            parts.append(("UNIQUE_ID", node_id))
        visiting.discard(node_id)
        memo[node_id] = hashlib.sha256(repr(parts).encode()).hexdigest()
        return memo[node_id]

    return {node_id: sig(node_id) for node_id in prompt}


class OutputCache:
    """Results by signature, with the eviction rule of ``mode``."""

    def __init__(self, mode: Literal["classic", "ram_pressure", "none"] = "classic") -> None:
        self.mode = mode
        self._entries: dict[str, CachedOutput] = {}
        self._keys: dict[str, str] = {}

    def set_prompt(self, keys: dict[str, str]) -> None:
        """Adopt the new prompt's signatures and drop every entry it does not use."""
        self._keys = keys
        wanted = set(keys.values())
        if self.mode == "ram_pressure":
            for key in wanted & self._entries.keys():  # most recently used go last
                self._entries[key] = self._entries.pop(key)
            excess = len(self._entries) - RAM_PRESSURE_ENTRIES
            for key in [k for k in self._entries if k not in wanted][: max(0, excess)]:
                del self._entries[key]
            return
        for key in [k for k in self._entries if k not in wanted]:
            del self._entries[key]

    def get(self, node_id: str) -> CachedOutput | None:
        key = self._keys.get(node_id)
        return self._entries.get(key) if key is not None else None

    def set(self, node_id: str, entry: CachedOutput) -> None:
        if self.mode == "none":
            return
        key = self._keys.get(node_id)
        if key is not None:
            self._entries[key] = entry

    def node_ids(self) -> list[str]:
        """Every node id of the current prompt (``all_node_ids`` of the key set)."""
        return list(self._keys)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
