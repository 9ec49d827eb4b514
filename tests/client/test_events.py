"""Every recorded websocket message parses into a typed event, without loss."""

from __future__ import annotations

import json
import struct

import pytest

from sweeps.events import (
    CrystoolsMonitor,
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    FeatureFlags,
    MalformedFrame,
    PreviewImage,
    Progress,
    ProgressState,
    ProgressText,
    Status,
    UnknownEvent,
    parse_binary,
    parse_message,
    parse_text,
)
from tests.traces import VERSIONS, load_trace, trace_names

MESSAGES = [
    pytest.param(message, id=f"{version}-{name}-{i}-{message['type']}")
    for version in VERSIONS
    for name in trace_names(version)
    for i, message in enumerate(
        m
        for s in load_trace(name, version).sockets()
        for m in load_trace(name, version).ws_messages(s)
    )
]


@pytest.mark.parametrize("message", MESSAGES)
def test_recorded_message_parses_to_its_type_with_every_field(message: dict) -> None:
    event = parse_text(json.dumps(message), server="http://s")
    data = message["data"]
    assert not isinstance(event, MalformedFrame | UnknownEvent), event
    assert event.server == "http://s"
    if "prompt_id" in data:
        assert event.prompt_id == data["prompt_id"]
    match event:
        case Status():
            assert event.queue_remaining == data["status"]["exec_info"]["queue_remaining"]
            assert event.sid == data.get("sid")
        case FeatureFlags():
            assert dict(event.flags) == data
        case ExecutionCached():
            assert list(event.nodes) == data["nodes"]
        case Executing():
            assert event.node == data["node"]
            assert event.display_node == data.get("display_node")
        case Progress():
            assert (event.value, event.max, event.node) == (
                data["value"],
                data["max"],
                data["node"],
            )
        case ProgressState():
            got = {n.node_id: (n.value, n.max, n.state, n.real_node_id) for n in event.nodes}
            want = {
                k: (v["value"], v["max"], v["state"], v["real_node_id"])
                for k, v in data["nodes"].items()
            }
            assert got == want
        case Executed():
            assert (event.node, event.output) == (data["node"], data["output"])
        case ExecutionError():
            assert event.exception_type == data["exception_type"]
            assert event.exception_message == data["exception_message"]
            assert list(event.traceback) == data["traceback"]
            assert list(event.executed) == data["executed"]
            assert dict(event.current_inputs) == data["current_inputs"]
            assert event.node_type == data["node_type"]
        case ExecutionInterrupted():
            assert (event.node_id, event.node_type) == (data["node_id"], data["node_type"])
            assert list(event.executed) == data["executed"]


def test_every_message_type_in_the_traces_is_modelled() -> None:
    types = {m["type"] for _, m in _all_messages()}
    assert types == {
        "status",
        "feature_flags",
        "execution_start",
        "execution_cached",
        "executing",
        "progress",
        "progress_state",
        "executed",
        "execution_success",
        "execution_error",
        "execution_interrupted",
    }


def _all_messages():
    for version in VERSIONS:
        yield from _messages(version)


def _messages(version: str):
    for name in trace_names(version):
        trace = load_trace(name, version)
        for socket in trace.sockets():
            for message in trace.ws_messages(socket):
                yield name, message


def test_recorded_legacy_preview_frame_head_parses() -> None:
    frames = [
        e for e in load_trace("run_progress_preview_legacy").ws_events() if e.kind == "ws_binary"
    ]
    assert len(frames) == 4
    for frame in frames:
        event = parse_binary(bytes.fromhex(frame.raw["head_hex"]))
        assert isinstance(event, PreviewImage)
        assert (event.frame_type, event.mime_type) == (1, "image/jpeg")
        assert event.image.startswith(b"\xff\xd8")  # JPEG magic


def test_recorded_metadata_preview_frames_parse_with_their_metadata() -> None:
    frames = [
        e for e in load_trace("run_progress_preview_metadata").ws_events() if e.kind == "ws_binary"
    ]
    assert frames
    for frame in frames:
        meta = frame.raw["metadata"]
        blob = json.dumps(meta).encode()
        wire = struct.pack(">II", 4, len(blob)) + blob + b"\xff\xd8jpegdata"
        event = parse_binary(wire)
        assert isinstance(event, PreviewImage)
        assert (event.prompt_id, event.node_id, event.mime_type) == (
            meta["prompt_id"],
            meta["node_id"],
            meta["image_type"],
        )
        assert event.image == b"\xff\xd8jpegdata"
        head = bytes.fromhex(frame.raw["head_hex"])
        assert struct.unpack(">I", head[:4]) == (4,)


def test_text_frame_parses() -> None:
    node = b"12"
    wire = struct.pack(">II", 3, len(node)) + node + b"width: 64, height: 64\n batch size: 1"
    event = parse_binary(wire)
    assert event == ProgressText("12", "width: 64, height: 64\n batch size: 1")


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x00\x00",
        struct.pack(">I", 2) + b"never on the wire",
        struct.pack(">I", 1),
        struct.pack(">II", 3, 99) + b"short",
        struct.pack(">II", 4, 5) + b"{nope",
        struct.pack(">II", 4, 2) + b"[]",
    ],
)
def test_malformed_binary_frames_are_reported_not_raised(wire: bytes) -> None:
    assert isinstance(parse_binary(wire), MalformedFrame)


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"data": {}}', '{"type": "progress", "data": {"value": "x"}}'],
)
def test_malformed_text_frames_are_reported_not_raised(raw: str) -> None:
    assert isinstance(parse_text(raw), MalformedFrame)


def test_unknown_message_types_are_kept() -> None:
    event = parse_message({"type": "my_node.progress", "data": {"pct": 40}})
    assert event == UnknownEvent("my_node.progress", {"pct": 40})


def test_crystools_monitor_message() -> None:
    event = parse_message(
        {
            "type": "crystools.monitor",
            "data": {
                "cpu_utilization": 12.5,
                "ram_total": 100,
                "ram_used": 40,
                "ram_used_percent": 40.0,
                "hdd_total": 1,
                "hdd_used": 1,
                "hdd_used_percent": 100,
                "device_type": "cuda",
                "gpus": [
                    {
                        "gpu_utilization": 97,
                        "gpu_temperature": 71,
                        "vram_total": 24,
                        "vram_used": 12,
                        "vram_used_percent": 50.0,
                    }
                ],
            },
        }
    )
    assert isinstance(event, CrystoolsMonitor)
    assert event.cpu_utilization == 12.5
    assert event.gpus[0].utilization == 97
    assert event.gpus[0].vram_used == 12
