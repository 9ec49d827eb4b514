"""The recorded exchanges with real ComfyUI servers, loaded as typed values for tests.

The recordings travel with the code, in ``tests/data/traces/<version>/`` (one folder
per ComfyUI version recorded; each has a README), so a clone alone passes its tests.
Both the simulator's conformance tests and the client's tests read them through this
module, so the trace format is parsed once.

Example::

    trace = load_trace("run_basic_then_cached")            # 0.8.0
    trace.ws_types("A")[:2]                                 # ["status", "status"]
    load_trace("queue_ops", "0.33.0").http("POST", "/prompt")[0].status
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "VERSIONS",
    "HttpExchange",
    "Trace",
    "TraceEvent",
    "load_trace",
    "trace_names",
    "traces_dir",
]


_ROOT = Path(__file__).resolve().parent / "data" / "traces"

#: The ComfyUI versions recorded, oldest first.
VERSIONS = ("0.8.0", "0.33.0")


def traces_dir(version: str = "0.8.0") -> Path:
    """The folder of one version's recordings, inside the repository."""
    if version not in VERSIONS:
        raise ValueError(f"no recording of ComfyUI {version!r}; recorded: {', '.join(VERSIONS)}")
    return _ROOT / version


@dataclass(frozen=True)
class TraceEvent:
    """One recorded event; ``kind`` is ``http``, ``ws_text``, ``ws_send`` or ``ws_binary``."""

    ms: float
    kind: str
    raw: dict[str, Any]

    @property
    def ws(self) -> str | None:
        return self.raw.get("ws")

    @property
    def data(self) -> Any:
        """The JSON message of a ``ws_text``/``ws_send`` event."""
        return self.raw.get("data")

    @property
    def type(self) -> str | None:
        """The message type of a ``ws_text``/``ws_send`` event."""
        data = self.raw.get("data")
        return data.get("type") if isinstance(data, dict) else None


@dataclass(frozen=True)
class HttpExchange:
    """One recorded HTTP request and its answer.

    ``response`` is the JSON body, or ``{"_bytes": n, "_content_type": ...}``
    when the body was not JSON (then ``is_json`` is False).
    """

    ms: float
    method: str
    path: str
    request: Any
    status: int
    response: Any

    @property
    def is_json(self) -> bool:
        return not (isinstance(self.response, dict) and "_bytes" in self.response)


@dataclass(frozen=True)
class Trace:
    """One scenario: its name, the recorder's note, and its events in observed order."""

    name: str
    note: str
    events: tuple[TraceEvent, ...]

    def http(self, method: str | None = None, path: str | None = None) -> list[HttpExchange]:
        """HTTP exchanges, optionally filtered by method and by path prefix."""
        found = []
        for event in self.events:
            if event.kind != "http":
                continue
            raw = event.raw
            if method is not None and raw["method"] != method:
                continue
            if path is not None and not raw["path"].startswith(path):
                continue
            found.append(
                HttpExchange(
                    event.ms,
                    raw["method"],
                    raw["path"],
                    raw["request"],
                    raw["status"],
                    raw["response"],
                )
            )
        return found

    def sockets(self) -> list[str]:
        """Socket names in order of first appearance (``"A"``, ``"B-no-clientId"``)."""
        return list(dict.fromkeys(e.ws for e in self.events if e.ws is not None))

    def ws_events(self, socket: str = "A") -> list[TraceEvent]:
        """Everything a socket received, text and binary, in order."""
        return [e for e in self.events if e.ws == socket and e.kind in ("ws_text", "ws_binary")]

    def ws_messages(self, socket: str = "A") -> list[dict[str, Any]]:
        """The JSON messages a socket received, in order."""
        return [e.data for e in self.events if e.ws == socket and e.kind == "ws_text"]

    def ws_sent(self, socket: str = "A") -> list[dict[str, Any]]:
        """The JSON messages the client sent on a socket."""
        return [e.data for e in self.events if e.ws == socket and e.kind == "ws_send"]

    def ws_types(self, socket: str = "A") -> list[str]:
        """Message types a socket received; binary frames appear as ``"binary:<type>"``."""
        types = []
        for event in self.ws_events(socket):
            if event.kind == "ws_binary":
                types.append(f"binary:{event.raw['event_type']}")
            else:
                types.append(event.type or "")
        return types


@cache
def _load(path: Path) -> Trace:
    raw = json.loads(path.read_text())
    events = tuple(TraceEvent(e["ms"], e["kind"], e) for e in raw["events"])
    return Trace(raw["scenario"], raw.get("note", ""), events)


def load_trace(name: str, version: str = "0.8.0") -> Trace:
    """Load one scenario by name (without ``.json``); cached, so tests may call it freely."""
    return _load(traces_dir(version) / f"{name}.json")


#: Files in a recording folder that are data, not scenarios.
_DATA_FILES = {"object_info.json", "api_jobs_sample.json"}


def trace_names(version: str = "0.8.0") -> list[str]:
    """Every recorded scenario of one version."""
    return sorted(p.stem for p in traces_dir(version).glob("*.json") if p.name not in _DATA_FILES)
