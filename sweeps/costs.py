"""What running a node costs on each server, learned from the runs of every sweep.

Node timings come from finished runs (``RunRecord.node_timings``); nothing is
measured on purpose. Three things are learned, with no node class named here:

* a server's **speed**: per class, the geometric mean time across servers over
  this server's time, averaged weighing each class by its cost (classes whose
  cost depends on their inputs, loads, are left out), so 2.0 is twice the
  fleet's typical server;
* a node's **cost** in seconds on a speed-1 server, by its signature (class,
  constant inputs, upstream signatures: what ComfyUI's cache keys on), falling
  back to its class's mean for a signature never seen;
* which classes are **load-like**: seen cached in a later run on the same
  server (paid once, then kept) and costing at least half a typical run. Runs
  are grouped by what those nodes load.

The model is kept in ``costs.json`` in the data directory so the next sweep on
the same fleet starts informed. It is written atomically (temporary file, then
rename) and a corrupt or foreign file is set aside, never fatal: costs are an
optimisation, and a sweep runs without them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .locations import data_dir
from .workflow import is_link

__all__ = ["COSTS_NAME", "CostModel", "node_signatures"]

COSTS_NAME = "costs.json"
_VERSION = 1
_MAX_SIGNATURES = 4000
"""Signatures kept (the newest): loaders and encoders of recent sweeps, not every seed."""
_LOAD_SHARE = 0.5
"""A cached class costing this share of a typical run is a load worth grouping by."""
_WEIGHT_CAP = 20
"""Running means weigh the last ~20 observations, so a server that got faster shows it."""


def node_signatures(prompt: Mapping[str, Any]) -> dict[str, str]:
    """``{node_id: signature}``: class, constant inputs and upstream signatures, hashed.

    Node ids play no part, so the same loader in two workflows has one signature.
    """
    memo: dict[str, str] = {}

    def sig(node_id: str, seen: frozenset[str]) -> str:
        if node_id in memo:
            return memo[node_id]
        node = prompt.get(node_id)
        if node is None or node_id in seen:
            return f"?{node_id}"
        inputs = node.get("inputs", {})
        parts: list[Any] = [node.get("class_type")]
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                parts.append((name, sig(value[0], seen | {node_id}), value[1]))
            else:
                parts.append((name, repr(value)))
        memo[node_id] = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
        return memo[node_id]

    return {node_id: sig(node_id, frozenset()) for node_id in prompt}


@dataclass
class _Mean:
    """A running mean that weighs recent observations more once it has ``_WEIGHT_CAP``."""

    value: float = 0.0
    count: int = 0

    def add(self, x: float) -> None:
        self.count += 1
        self.value += (x - self.value) / min(self.count, _WEIGHT_CAP)


@dataclass
class CostModel:
    """Costs learned so far; empty when nothing was ever observed."""

    by_server: dict[str, dict[str, _Mean]] = field(default_factory=dict)
    """Server url -> class -> mean seconds there (executed nodes only)."""
    by_signature: dict[str, dict[str, _Mean]] = field(default_factory=dict)
    """Node signature -> server url -> mean seconds there."""
    cached_classes: dict[str, int] = field(default_factory=dict)
    """Class -> how often a node of it was found cached (its output kept from before)."""
    run: _Mean = field(default_factory=_Mean)
    """A run's execution time on a speed-1 server, loads included."""
    _speeds: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    """Speeds as last computed; emptied by every observation."""

    # ----- learning

    def observe(
        self,
        server: str,
        prompt: Mapping[str, Any],
        node_timings: Iterable[Mapping[str, Any]],
        cached_nodes: Iterable[str],
        exec_s: float | None,
    ) -> None:
        """Learn from one finished run of ``prompt`` on ``server``."""
        signatures = node_signatures(prompt)
        timings = [
            (str(t["node_id"]), float(t["seconds"])) for t in node_timings if not t.get("cached")
        ]
        measured = sum(seconds for _, seconds in timings)
        if exec_s and measured > 0:
            # Node times are taken as events arrive here, late by the network and our
            # own load; the run's time comes from the server's clock. Scale them to it.
            timings = [(node_id, seconds * exec_s / measured) for node_id, seconds in timings]
        per_class = self.by_server.setdefault(server, {})
        for node_id, seconds in timings:
            class_type = prompt.get(node_id, {}).get("class_type")
            if class_type is not None:
                per_class.setdefault(class_type, _Mean()).add(seconds)
        self._speeds.clear()
        for node_id, seconds in timings:
            if node_id in signatures:
                # Newest last, so the oldest go first when the table is full.
                servers = self.by_signature.pop(signatures[node_id], {})
                servers.setdefault(server, _Mean()).add(seconds)
                self.by_signature[signatures[node_id]] = servers
        while len(self.by_signature) > _MAX_SIGNATURES:
            del self.by_signature[next(iter(self.by_signature))]
        for node_id in cached_nodes:
            class_type = prompt.get(node_id, {}).get("class_type")
            if class_type is not None:
                self.cached_classes[class_type] = self.cached_classes.get(class_type, 0) + 1
        if exec_s is not None:
            self.run.add(exec_s * self.speed(server))

    # ----- what was learned

    def knows(self, server: str) -> bool:
        return bool(self.by_server.get(server))

    def _class_mean(self, class_type: str) -> float | None:
        """Geometric mean over servers of the class's time there (None if never seen)."""
        times = [c[class_type].value for c in self.by_server.values() if class_type in c]
        times = [t for t in times if t > 0]
        return math.exp(statistics.fmean(map(math.log, times))) if times else None

    def _class_cost(self, class_type: str) -> float | None:
        """The class's mean time on a speed-1 server, from every server that ran it
        (a class seen only on slow servers is not slow itself)."""
        times = [
            c[class_type].value * self.speed(url)
            for url, c in self.by_server.items()
            if class_type in c and c[class_type].value > 0
        ]
        return math.exp(statistics.fmean(map(math.log, times))) if times else None

    def load_like(self, class_type: str) -> bool:
        """Paid once and then kept, and costly: the loaders of whatever kind."""
        if not self.cached_classes.get(class_type) or self.run.count == 0:
            return False
        mean = self._class_mean(class_type)
        return mean is not None and mean >= _LOAD_SHARE * self.run.value

    def speed(self, server: str) -> float:
        """This server's speed relative to the fleet's typical one (1.0 when unknown)."""
        if server not in self._speeds:
            self._speeds[server] = self._speed(server)
        return self._speeds[server]

    def _speed(self, server: str) -> float:
        mine = self.by_server.get(server, {})
        ratios, weights = [], []
        for class_type, mean in mine.items():
            shared = sum(class_type in c for c in self.by_server.values())
            if shared < 2 or mean.value <= 0 or self.load_like(class_type):
                continue
            typical = self._class_mean(class_type)
            if typical:
                ratios.append(math.log(typical / mean.value))
                # Weighed by cost: a 4 ms node is all overhead, the sampler is the speed.
                weights.append(typical)
        if not ratios:
            return 1.0
        return math.exp(statistics.fmean(ratios, weights))

    def node_cost(self, class_type: str, signature: str) -> float | None:
        """Seconds on a speed-1 server; the class's mean for an unseen signature."""
        known = self.by_signature.get(signature)
        if known:
            return statistics.fmean(m.value * self.speed(url) for url, m in known.items())
        return self._class_cost(class_type)

    def group_nodes(self, prompt: Mapping[str, Any]) -> list[str]:
        """Ids of the nodes whose outputs a server keeps and that are worth grouping by:
        the learned load-like ones, or on a cold start any ``...Loader...`` class."""
        learned = [n for n, node in prompt.items() if self.load_like(node.get("class_type", ""))]
        if learned:
            return learned
        return [n for n, node in prompt.items() if "Loader" in str(node.get("class_type", ""))]

    def prompt_cost(
        self,
        prompt: Mapping[str, Any],
        signatures: Mapping[str, str],
        kept: set[str],
        *,
        typical: Container[str] = (),
    ) -> float | None:
        """Seconds on a speed-1 server to run ``prompt`` when the outputs of ``kept``
        signatures are cached; None when any node that must run was never seen.
        Nodes in ``typical`` cost their class's mean: they stand for many runs (a
        seed's sampler), and one run's own time says less than all of them."""
        total = 0.0
        for node_id, node in prompt.items():
            if signatures[node_id] in kept:
                continue
            class_type = str(node.get("class_type"))
            if signatures[node_id] in typical:
                cost = self._class_cost(class_type)
            else:
                cost = self.node_cost(class_type, signatures[node_id])
            if cost is None:
                return None
            total += cost
        return total

    # ----- persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "servers": {
                url: {c: [m.value, m.count] for c, m in classes.items()}
                for url, classes in self.by_server.items()
            },
            "signatures": {
                s: {url: [m.value, m.count] for url, m in servers.items()}
                for s, servers in self.by_signature.items()
            },
            "cached_classes": self.cached_classes,
            "run": [self.run.value, self.run.count],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CostModel:
        if data.get("version") != _VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {_VERSION}")

        def mean(pair: Sequence[Any]) -> _Mean:
            value, count = pair
            return _Mean(float(value), int(count))

        return cls(
            by_server={
                str(url): {str(c): mean(p) for c, p in classes.items()}
                for url, classes in data["servers"].items()
            },
            by_signature={
                str(s): {str(url): mean(p) for url, p in servers.items()}
                for s, servers in data["signatures"].items()
            },
            cached_classes={str(c): int(n) for c, n in data["cached_classes"].items()},
            run=mean(data["run"]),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> CostModel:
        """The model saved at ``path`` (``costs.json`` in the data directory), or an
        empty one. A damaged file is renamed ``*.corrupt`` so the next save starts over."""
        path = path or data_dir() / COSTS_NAME
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # json.JSONDecodeError is a ValueError. Keep the file for a bug report.
            try:
                path.replace(path.with_name(path.name + ".corrupt"))
            except OSError:
                pass
            return cls()

    def save(self, path: Path | None = None) -> Path:
        """Write atomically: readers see the old file or the new one, never half."""
        path = path or data_dir() / COSTS_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(self.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        return path
