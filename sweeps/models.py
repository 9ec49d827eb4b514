"""Typed results of ComfyUI's REST routes, parsed at the client's edge.

Each ``from_json`` takes the decoded body exactly as the server sent it
(see the traces) and raises ``ValueError``/``KeyError``/``TypeError`` on a
shape it does not know; the client turns those into :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import InputIssue, NodeIssues
from .schema import NodeSchema

__all__ = [
    "Device",
    "HistoryEntry",
    "Outcome",
    "OutputFile",
    "PromptQueued",
    "QueueItem",
    "QueueState",
    "SystemInfo",
    "SystemStats",
    "UploadedFile",
    "parse_input_issue",
    "parse_node_errors",
    "with_combo_options",
]

Outcome = Literal["success", "failed", "interrupted"]
"""How a finished prompt ended, from its history entry or its websocket events."""


def parse_input_issue(raw: Mapping[str, Any]) -> InputIssue:
    extra = raw.get("extra_info")
    return InputIssue(
        type=str(raw.get("type", "")),
        message=str(raw.get("message", "")),
        details=str(raw.get("details") or ""),
        extra_info=dict(extra) if isinstance(extra, Mapping) else {},
    )


def parse_node_errors(raw: object) -> tuple[NodeIssues, ...]:
    """``node_errors`` as typed values, in node-id order for stable messages."""
    if not isinstance(raw, Mapping):
        return ()
    nodes = []
    for node_id, entry in raw.items():
        if not isinstance(entry, Mapping):
            continue
        nodes.append(
            NodeIssues(
                node_id=str(node_id),
                class_type=str(entry.get("class_type", "?")),
                errors=tuple(parse_input_issue(e) for e in entry.get("errors") or ()),
                dependent_outputs=tuple(str(o) for o in entry.get("dependent_outputs") or ()),
            )
        )
    return tuple(sorted(nodes, key=lambda n: _node_sort_key(n.node_id)))


def with_combo_options(
    node_errors: Sequence[NodeIssues], schemas: Mapping[str, NodeSchema]
) -> tuple[NodeIssues, ...]:
    """Fill in the options ComfyUI leaves out of ``value_not_in_list`` errors.

    The server sends ``input_config: null`` when a combo has more than 20
    options (KSampler's samplers), which would leave the user guessing.
    """
    enriched = []
    for node in node_errors:
        schema = schemas.get(node.class_type)
        errors = []
        for issue in node.errors:
            spec = schema.inputs.get(issue.input_name or "") if schema else None
            if (
                issue.type == "value_not_in_list"
                and not issue.extra_info.get("input_config")
                and spec is not None
                and spec.options
            ):
                extra = {**issue.extra_info, "input_config": [list(spec.options), {}]}
                issue = replace(issue, extra_info=extra)
            errors.append(issue)
        enriched.append(replace(node, errors=tuple(errors)))
    return tuple(enriched)


def missing_combo_options(node_errors: Sequence[NodeIssues]) -> set[str]:
    """Class types whose ``value_not_in_list`` errors came without their options."""
    return {
        n.class_type
        for n in node_errors
        for e in n.errors
        if e.type == "value_not_in_list" and not e.extra_info.get("input_config")
    }


def _queue_tuple(
    item: Sequence[Any],
) -> tuple[float, str, Mapping[str, Any], Mapping[str, Any], tuple[str, ...]]:
    """``[number, prompt_id, prompt, extra_data, outputs_to_execute, ...]``, leniently.

    Older servers had fewer slots and newer ones may add more; only the id is required.
    """
    if isinstance(item, str) or not isinstance(item, Sequence) or len(item) < 2:
        raise ValueError(f"not a queue item: {item!r:.80}")
    slots = [*item[:5], *[None] * (5 - len(item[:5]))]
    number, prompt_id, prompt, extra_data, outputs = slots
    return (
        number if isinstance(number, int | float) else 0,
        str(prompt_id),
        prompt if isinstance(prompt, Mapping) else {},
        extra_data if isinstance(extra_data, Mapping) else {},
        tuple(str(o) for o in outputs) if isinstance(outputs, list | tuple) else (),
    )


def _node_sort_key(node_id: str) -> tuple[int, int | str]:
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


@dataclass(frozen=True)
class PromptQueued:
    """POST /prompt accepted the graph. ``node_errors`` lists outputs that were dropped."""

    prompt_id: str
    number: float
    node_errors: tuple[NodeIssues, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PromptQueued:
        number = body.get("number")
        return cls(
            prompt_id=str(body["prompt_id"]),
            # Servers before the queue-number field (and some proxies' rewrites) omit it.
            number=number if isinstance(number, int | float) else 0,
            node_errors=parse_node_errors(body.get("node_errors")),
        )


@dataclass(frozen=True)
class QueueItem:
    """One queued or running prompt: ``[number, prompt_id, prompt, extra_data, outputs]``."""

    number: float
    prompt_id: str
    prompt: Mapping[str, Any] = field(repr=False)
    extra_data: Mapping[str, Any] = field(repr=False)
    outputs_to_execute: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, item: list[Any]) -> QueueItem:
        number, prompt_id, prompt, extra_data, outputs = _queue_tuple(item)
        return cls(number, str(prompt_id), prompt, extra_data, outputs)

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return str(value) if value is not None else None

    @property
    def created_ms(self) -> int | None:
        value = self.extra_data.get("create_time")
        return int(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class QueueState:
    """GET /queue, with ``pending`` in execution order.

    ComfyUI returns its raw heap, which is not sorted (PROTOCOL 6.8).
    """

    running: tuple[QueueItem, ...]
    pending: tuple[QueueItem, ...]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> QueueState:
        running = tuple(QueueItem.from_json(i) for i in body["queue_running"])
        pending = sorted(
            (QueueItem.from_json(i) for i in body["queue_pending"]),
            key=lambda i: (i.number, i.prompt_id),
        )
        return cls(running, tuple(pending))


@dataclass(frozen=True)
class OutputFile:
    """A file a node wrote, as /view addresses it."""

    filename: str
    subfolder: str = ""
    type: str = "output"
    node_id: str = ""
    kind: str = "images"
    """The UI key it came under: ``images``, ``gifs``, ``audio``, ``latents``..."""


def output_files(node_id: str, ui: Mapping[str, Any] | None) -> list[OutputFile]:
    """Every downloadable file in one node's UI dict.

    ComfyUI nodes put files under various keys (``images``, ``gifs``, ``audio``,
    ``video``, ``latents``), each a list of ``{filename, subfolder, type}``;
    other keys (``text``, ``animated``) hold values, not files.
    """
    files: list[OutputFile] = []
    if not isinstance(ui, Mapping):
        return files
    for kind, items in ui.items():
        if not isinstance(items, list | tuple):
            continue
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                files.append(
                    OutputFile(
                        filename=item["filename"],
                        subfolder=str(item.get("subfolder") or ""),
                        type=str(item.get("type") or "output"),
                        node_id=str(node_id),
                        kind=str(kind),
                    )
                )
    return files


@dataclass(frozen=True)
class HistoryEntry:
    """One finished prompt from /history."""

    prompt_id: str
    number: float
    prompt: Mapping[str, Any] = field(repr=False)
    extra_data: Mapping[str, Any] = field(repr=False)
    outputs_to_execute: tuple[str, ...]
    outputs: Mapping[str, Mapping[str, Any]] = field(repr=False)
    status_str: str | None
    completed: bool
    messages: tuple[tuple[str, Mapping[str, Any]], ...] = field(repr=False)
    output_problems: tuple[str, ...] = ()
    """Outputs in a shape no ComfyUI writes (a file entry without a filename, a
    node's outputs that are not a mapping): their files cannot be fetched."""

    @classmethod
    def from_json(cls, prompt_id: str, entry: Mapping[str, Any]) -> HistoryEntry:
        """Parse one entry. Only ``prompt`` is required: servers from before the
        ``status`` field, and custom nodes' odd outputs, still give an entry."""
        number, _, prompt, extra_data, outputs_to_execute = _queue_tuple(entry["prompt"])
        raw_status = entry.get("status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
        outputs = entry.get("outputs")
        status_str = status.get("status_str")
        return cls(
            prompt_id=str(prompt_id),
            number=number,
            prompt=prompt,
            extra_data=extra_data,
            outputs_to_execute=outputs_to_execute,
            outputs={str(k): v for k, v in (outputs or {}).items() if isinstance(v, Mapping)}
            if isinstance(outputs, Mapping)
            else {},
            status_str=str(status_str) if status_str is not None else None,
            completed=bool(status.get("completed")),
            messages=_messages(status.get("messages")),
            output_problems=problems_in_outputs(outputs),
        )

    @property
    def files(self) -> list[OutputFile]:
        found: list[OutputFile] = []
        for node_id, ui in self.outputs.items():
            found.extend(output_files(node_id, ui))
        return found

    def message(self, kind: str) -> Mapping[str, Any] | None:
        for name, data in self.messages:
            if name == kind:
                return data
        return None

    @property
    def has_status(self) -> bool:
        """False for servers older than the ``status`` field: :attr:`outcome` is a guess."""
        return self.status_str is not None or bool(self.messages)

    @property
    def outcome(self) -> Outcome:
        """``success``, ``failed`` or ``interrupted``.

        Without a status (old servers wrote none), a prompt that left outputs is
        taken as a success.
        """
        if self.message("execution_interrupted") is not None:
            return "interrupted"
        if self.status_str == "success" or self.message("execution_success") is not None:
            return "success"
        if not self.has_status and self.outputs:
            return "success"
        return "failed"

    @property
    def cached_nodes(self) -> tuple[str, ...]:
        data = self.message("execution_cached") or {}
        return tuple(str(n) for n in data.get("nodes") or ())

    @property
    def started_ms(self) -> int | None:
        data = self.message("execution_start") or {}
        value = data.get("timestamp")
        return int(value) if isinstance(value, int | float) else None

    @property
    def finished_ms(self) -> int | None:
        for name in ("execution_success", "execution_error", "execution_interrupted"):
            data = self.message(name)
            if data is not None and isinstance(data.get("timestamp"), int | float):
                return int(data["timestamp"])
        return None


def problems_in_outputs(outputs: object) -> tuple[str, ...]:
    """What is wrong with a history entry's ``outputs``, in words; () when nothing is.

    Values that are not files (``text: ["..."]``, ``animated: [true]``) are fine;
    what looks like a file but cannot be fetched is not, so that a run is never
    taken for a success while its files are silently dropped.
    """
    if outputs is None:
        return ()
    if not isinstance(outputs, Mapping):
        return (f"outputs are {type(outputs).__name__}, not a mapping of node id to files",)
    problems = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, Mapping):
            problems.append(f"node {node_id}: its outputs are {type(ui).__name__}, not a mapping")
            continue
        for kind, items in ui.items():
            if isinstance(items, Mapping) and "filename" in items:
                problems.append(f"node {node_id}: {kind} is one mapping, not a list of files")
            elif isinstance(items, list | tuple):
                for index, item in enumerate(items):
                    if _is_broken_file(item):
                        problems.append(
                            f"node {node_id}: {kind}[{index}] has no usable filename "
                            f"({str(item)[:80]})"
                        )
    return tuple(problems)


def _is_broken_file(item: object) -> bool:
    """A file entry (it has a filename or subfolder key) whose filename is not a name."""
    if not isinstance(item, Mapping) or not ("filename" in item or "subfolder" in item):
        return False
    name = item.get("filename")
    return not isinstance(name, str) or not name


def _messages(raw: object) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """``status.messages``: ``[[name, data], ...]``; malformed items are skipped."""
    if not isinstance(raw, list | tuple):
        return ()
    messages: list[tuple[str, Mapping[str, Any]]] = []
    for item in raw:
        if isinstance(item, list | tuple) and item and isinstance(item[0], str):
            name, data = item[0], item[1] if len(item) > 1 else None
        elif isinstance(item, Mapping) and isinstance(item.get("type"), str):
            name, data = item["type"], item.get("data")
        else:
            continue
        messages.append((name, data if isinstance(data, Mapping) else {}))
    return tuple(messages)


def _count(value: object) -> int:
    """A byte count; 0 when absent or not a number (older servers, custom devices)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return 0
    return 0


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class SystemInfo:
    os: str
    ram_total: int
    ram_free: int
    comfyui_version: str | None
    python_version: str | None
    pytorch_version: str | None
    argv: tuple[str, ...] = ()
    embedded_python: bool = False


@dataclass(frozen=True)
class Device:
    """The torch device. On ``--cpu`` the VRAM figures are RAM figures."""

    name: str
    type: str
    index: int | None
    vram_total: int
    vram_free: int
    torch_vram_total: int
    torch_vram_free: int

    @property
    def vram_used(self) -> int:
        return max(0, self.vram_total - self.vram_free)

    @property
    def label(self) -> str:
        """The name a person reads: ``cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync``
        is ``NVIDIA GeForce RTX 3060``."""
        head = self.name.split(" : ", 1)[0]
        if head.startswith(("cuda:", "xpu:", "mps")) and " " in head:
            head = head.split(" ", 1)[1]
        return head or self.type


@dataclass(frozen=True)
class SystemStats:
    """GET /system_stats."""

    system: SystemInfo
    devices: tuple[Device, ...]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SystemStats:
        """Parse the answer. Only ``system`` is required: older servers lack
        ``pytorch_version`` and the like, and ``devices`` may be empty or several."""
        s = body["system"]
        if not isinstance(s, Mapping):
            raise ValueError("system is not an object")
        argv = s.get("argv")
        system = SystemInfo(
            os=str(s.get("os") or ""),
            ram_total=_count(s.get("ram_total")),
            ram_free=_count(s.get("ram_free")),
            comfyui_version=_opt(s.get("comfyui_version")),
            python_version=_opt(s.get("python_version")),
            pytorch_version=_opt(s.get("pytorch_version")),
            argv=tuple(str(a) for a in argv) if isinstance(argv, list | tuple) else (),
            embedded_python=s.get("embedded_python") is True,
        )
        devices = body.get("devices")
        return cls(
            system,
            tuple(
                Device(
                    name=str(d.get("name") or ""),
                    type=str(d.get("type") or ""),
                    index=d.get("index") if isinstance(d.get("index"), int) else None,
                    vram_total=_count(d.get("vram_total")),
                    vram_free=_count(d.get("vram_free")),
                    torch_vram_total=_count(d.get("torch_vram_total")),
                    torch_vram_free=_count(d.get("torch_vram_free")),
                )
                for d in (devices if isinstance(devices, list | tuple) else ())
                if isinstance(d, Mapping)
            ),
        )

    @property
    def device(self) -> Device | None:
        return self.devices[0] if self.devices else None


@dataclass(frozen=True)
class UploadedFile:
    """POST /upload/image's answer: where the file landed (it may have been renamed)."""

    name: str
    subfolder: str
    type: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> UploadedFile:
        return cls(
            str(body["name"]), str(body.get("subfolder") or ""), str(body.get("type") or "input")
        )
