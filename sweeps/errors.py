"""Everything comfyfleet raises on purpose.

The tree is shaped by what the caller can do about an error::

    FleetError                     catch this at the CLI and in the TUI
    ├── ServerError                .server names the base URL
    │   ├── TransportError         no usable answer: try again, or on another server
    │   │   ├── ServerUnreachable  connection refused, reset, DNS or TLS failure
    │   │   └── ServerTimeout      connect or read deadline passed
    │   ├── ServerFailed           HTTP 5xx (ComfyUI's own bugs answer a plain-text 500)
    │   ├── RequestRejected        HTTP 4xx: this request will never succeed as it is
    │   │   └── PromptRejected     POST /prompt validation failed; .node_errors says why
    │   └── ProtocolError          an answer or frame that is not what ComfyUI sends
    ├── SpecError                  a sweep spec or workflow is wrong; .path and .line
    └── ReportUnwritable           the report cannot be written (a full disk): the sweep stops
    ClientClosed(RuntimeError)     a client used after close: a bug, not an outage

Third-party exceptions (httpx, websockets, aiohttp) never cross the client's edge:
they are wrapped here with the URL and the timeout that applied.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ClientClosed",
    "FleetError",
    "InputIssue",
    "NodeIssues",
    "PromptRejected",
    "ProtocolError",
    "ReportUnwritable",
    "RequestRejected",
    "ServerError",
    "ServerFailed",
    "ServerTimeout",
    "ServerUnreachable",
    "SpecError",
    "TransportError",
    "first_error",
]


class FleetError(Exception):
    """Base of every error comfyfleet raises for a user to read.

    ``title`` is a short heading for a dialog or a log line; ``str(err)`` is the
    whole message, written to be acted on.
    """

    title = "comfyfleet error"


class ServerError(FleetError):
    """Something went wrong talking to one ComfyUI server."""

    title = "Server error"

    def __init__(self, message: str, *, server: str) -> None:
        super().__init__(message)
        self.server = server


class TransportError(ServerError):
    """The request got no usable answer. Retrying, maybe elsewhere, is sensible."""


class ServerUnreachable(TransportError):
    """Connecting failed, or the connection dropped mid-request."""

    title = "Server unreachable"


class ServerTimeout(TransportError):
    """A connect or read deadline passed."""

    title = "Server timed out"


class ServerFailed(ServerError):
    """The server answered 5xx. ComfyUI answers a plain-text 500 for its own crashes."""

    title = "Server failed"

    def __init__(self, message: str, *, server: str, status: int, body: str) -> None:
        super().__init__(message, server=server)
        self.status = status
        self.body = body


class RequestRejected(ServerError):
    """The server answered 4xx: sending the same request again will not help."""

    title = "Request rejected"

    def __init__(self, message: str, *, server: str, status: int, body: str) -> None:
        super().__init__(message, server=server)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class InputIssue:
    """One entry of ComfyUI's ``error`` or ``node_errors[...].errors`` lists."""

    type: str
    message: str
    details: str = ""
    extra_info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_name(self) -> str | None:
        name = self.extra_info.get("input_name")
        return name if isinstance(name, str) else None

    def describe(self, class_type: str = "") -> str:
        """One line a user can act on, e.g. ``'eulr' is not one of euler, ...``.

        ``class_type`` (the node's) lets a hint name a sibling input, as in
        ``KSampler.scheduler``.
        """
        info = self.extra_info
        received = info.get("received_value")
        config = info.get("input_config")
        options = _combo_options(config)
        if self.type == "value_not_in_list":
            if options:
                return _not_in_list(received, options, self.input_name, class_type)
            return f"{received!r} is not one of the server's options ({self.details})"
        if self.type in ("value_smaller_than_min", "value_bigger_than_max"):
            bounds = _bounds(config)
            return f"{received!r} is outside the allowed range {bounds}"
        if self.type == "required_input_missing":
            return "is required but missing"
        if self.type == "invalid_input_type":
            kind = config[0] if isinstance(config, list) and config else "the expected type"
            return f"{received!r} cannot be converted to {kind}"
        if self.type == "return_type_mismatch":
            return (
                f"is linked to an output of type {info.get('received_type')}, "
                f"expected {config[0] if isinstance(config, list) and config else '?'}"
            )
        if self.type == "exception_during_inner_validation":
            return f"links to a node that failed validation or does not exist ({self.details})"
        if self.type == "custom_validation_failed":
            return self.details.split(" - ", 1)[-1] if self.details else self.message
        if self.type == "dependency_cycle":
            cycle = info.get("cycle_nodes")
            path = " -> ".join(map(str, cycle)) if isinstance(cycle, list) else self.details
            return f"is part of a dependency cycle ({path}); a node cannot feed itself"
        detail = f": {self.details}" if self.details else ""
        return f"{self.message}{detail}"


@dataclass(frozen=True)
class NodeIssues:
    """``node_errors[node_id]``: why one node failed validation."""

    node_id: str
    class_type: str
    errors: tuple[InputIssue, ...]
    dependent_outputs: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        head = f"node {self.node_id} ({self.class_type})"
        out = []
        for issue in self.errors:
            name = issue.input_name
            where = f"{head} input {name}" if name else head
            out.append(f"{where}: {issue.describe(self.class_type)}")
        return out


_OLD_MISSING_CLASS = re.compile(r"Cannot execute because node (.+) does not exist\.")


class PromptRejected(RequestRejected):
    """POST /prompt answered 400: ComfyUI refused the graph before queueing it.

    ``error`` is the top-level reason (its ``type`` is one of ``no_prompt``,
    ``invalid_prompt``, ``prompt_no_outputs``, ``prompt_outputs_failed_validation``,
    and since 0.12 ``missing_node_type``, since 0.25 ``invalid_prompt_id``)
    and ``node_errors`` holds each failing node's input errors. Not worth retrying
    on another server with the same node set.

    >>> str(err)  # doctest: +SKIP
    "Prompt rejected by http://gpu1:8188: Prompt outputs failed validation
      node 3 (KSampler) input sampler_name: 'eulr' is not one of euler, ..."
    """

    title = "Prompt rejected"

    def __init__(
        self,
        *,
        server: str,
        error: InputIssue,
        node_errors: Sequence[NodeIssues],
        body: str = "",
    ) -> None:
        self.error = error
        self.node_errors = tuple(node_errors)
        super().__init__(self._render(server), server=server, status=400, body=body)

    @property
    def missing_class(self) -> str | None:
        """The node class the server lacks, in 0.8.0's words or 0.12+'s ``missing_node_type``."""
        error = self.error
        if error.type == "missing_node_type":
            name = error.extra_info.get("class_type")
            return str(name) if name is not None else None
        old = (
            _OLD_MISSING_CLASS.fullmatch(error.message) if error.type == "invalid_prompt" else None
        )
        return old.group(1) if old else None

    def _render(self, server: str) -> str:
        head = self.error.message
        if self.error.details and not self.node_errors:
            head = f"{head}: {self.error.details}"
        missing = self.missing_class
        if missing is not None:
            where = urlsplit(server).hostname or server
            which = self.error.details.replace("Node ID '#", "node ").rstrip("'")
            title = self.error.extra_info.get("node_title")
            named = f', "{title}"' if isinstance(title, str) and title != missing else ""
            head = f"node class {missing} is not installed on {where} ({which}{named})"
        lines = [f"Prompt rejected by {server}: {head}"]
        for node in self.node_errors:
            lines.extend(f"  {line}" for line in node.lines())
        if self.error.type == "prompt_outputs_failed_validation" and not self.node_errors:
            lines.append("  (ComfyUI gives no node errors here; a cycle in the graph does this)")
        return "\n".join(lines)


class ProtocolError(ServerError):
    """An answer or websocket frame that does not match ComfyUI's protocol."""

    title = "Protocol error"

    def __init__(self, message: str, *, server: str, payload: object = None) -> None:
        try:
            trimmed = repr(payload)
        except RecursionError:  # a payload nested deeper than repr can go
            trimmed = f"<{type(payload).__name__} nested too deeply to show>"
        if len(trimmed) > 300:
            trimmed = trimmed[:300] + "..."
        full = f"{message} (from {server}; payload {trimmed})" if payload is not None else message
        super().__init__(full, server=server)
        self.payload = payload


class SpecError(FleetError):
    """A sweep spec, workflow or servers file is wrong.

    ``path`` and ``line`` (1-based) point at the place; the message says what
    would be valid there.
    """

    title = "Invalid input"

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class ReportUnwritable(FleetError):
    """The sweep's report cannot be written (a full disk, say). The sweep stops:
    every run it reported as finished is in the journal, and prompts it queued are
    journaled too, so the same command resumes once the disk has room."""

    title = "Report not written"


def first_error(error: BaseException) -> BaseException:
    """The first real error inside a TaskGroup's ``ExceptionGroup`` (or ``error`` itself).

    A group's own text ("unhandled errors in a TaskGroup") tells a user nothing;
    the first failure is what went wrong, the rest are usually its echoes.
    """
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


class ClientClosed(RuntimeError):
    """A client was used after it was closed. This is a bug in the caller."""


def _combo_options(config: object) -> list[str] | None:
    if not isinstance(config, list) or not config:
        return None
    head = config[0]
    if isinstance(head, list):
        return [str(o) for o in head]
    if head == "COMBO" and len(config) > 1 and isinstance(config[1], dict):
        options = config[1].get("options")
        if isinstance(options, list):
            return [str(o) for o in options]
    return None


def _bounds(config: object) -> str:
    opts = config[1] if isinstance(config, list) and len(config) > 1 else {}
    if not isinstance(opts, dict):
        opts = {}
    low = opts.get("min", "-inf")
    high = opts.get("max", "inf")
    return f"{low}..{high}"


# ComfyUI's scheduler names (comfy/samplers.py SCHEDULER_NAMES). A ``value_not_in_list``
# error carries only the refused input's options, so the scheduler list cannot come
# from the error itself; these names have been stable across ComfyUI releases.
_SCHEDULERS = (
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
)


def _not_in_list(
    received: object, options: Sequence[str], input_name: str | None, class_type: str
) -> str:
    """``'eulr' is not one of euler, ...; did you mean 'euler'?``, close matches listed first.

    A1111 names a sampler and its scheduler together (``DPM++ 2M Karras``), so
    ``dpmpp_2m_karras`` in ``sampler_name`` gets told where ``karras`` goes.
    """
    text = str(received)
    close = difflib.get_close_matches(text, options, n=3, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if input_name == "sampler_name":
        for scheduler in _SCHEDULERS:
            sampler = text.removesuffix(f"_{scheduler}")
            if sampler != text and sampler in options:
                where = f"{class_type}.scheduler" if class_type else "the scheduler input"
                close = [sampler, *(c for c in close if c != sampler)]
                hint = (
                    f"; {scheduler!r} is a scheduler, set in its own input ({where}): "
                    f"use sampler_name {sampler!r} and scheduler {scheduler!r}"
                )
                break
    ordered = [*close, *(o for o in options if o not in close)]
    return f"{received!r} is not one of {_shorten(ordered)}{hint}"


def _shorten(options: Sequence[str], limit: int = 12) -> str:
    if len(options) <= limit:
        return ", ".join(options)
    return ", ".join(options[:limit]) + f", ... ({len(options)} in all)"
