"""The parsers at the client's edge, fed anything: an event is a value (perhaps a
MalformedFrame), a route's answer a value or a :class:`ProtocolError`, never a crash."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeps.client import ComfyClient
from sweeps.errors import ProtocolError
from sweeps.events import _PARSERS, Event, parse_binary, parse_text
from sweeps.state import ServerSnapshot, apply_event
from sweeps.tracking import PromptTracker

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["p", "9", "success", "images", "filename", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["prompt_id", "node", "filename", "subfolder", "type", "images"])
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)
FIELDS = [
    "prompt_id", "node", "nodes", "value", "max", "output", "timestamp", "status",
    "exec_info", "sid", "exception_type", "exception_message", "traceback", "node_id",
    "node_type", "display_node", "gpus", "cpu_utilization", "state",
]  # fmt: skip
event_data = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)


def _consume(event: Event) -> None:
    """What the engine does with every event: a tracker and the dashboard state fold it."""
    assert isinstance(event, Event)
    PromptTracker("p", server="s").feed(event)
    apply_event(ServerSnapshot(url="s", name="s", since=0.0, updated=0.0), event, 1.0)


@FUZZ
@given(kind=st.sampled_from([*_PARSERS, "unknown"]), data=event_data | json_values)
def test_any_text_frame_becomes_an_event(kind: str, data: Any) -> None:
    _consume(parse_text(json.dumps({"type": kind, "data": data}), server="s"))


@FUZZ
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_any_bytes_as_a_text_frame_become_an_event(raw: bytes | str) -> None:
    _consume(parse_text(raw, server="s"))


@FUZZ
@given(kind=st.integers(0, 6), meta=json_values, rest=st.binary(max_size=32))
def test_any_binary_frame_becomes_an_event(kind: int, meta: Any, rest: bytes) -> None:
    body = json.dumps(meta).encode()
    _consume(parse_binary(struct.pack(">II", kind, len(body)) + body + rest, server="s"))
    _consume(parse_binary(struct.pack(">I", kind) + rest, server="s"))


EXECUTION = ["execution_start", "execution_success", "execution_error", "execution_interrupted"]
statuses = st.fixed_dictionaries(
    {},
    optional={
        "status_str": json_values,
        "completed": json_values,
        "messages": st.lists(st.tuples(st.sampled_from(EXECUTION), json_values)) | json_values,
    },
)
history_entries = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.lists(json_values, max_size=6) | json_values,
        "outputs": st.dictionaries(st.sampled_from(["9", "10"]), json_values) | json_values,
        "status": statuses | json_values,
    },
)


async def _ask_history(body: object) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # Python's json writes Infinity and NaN, and so does a ComfyUI
        return httpx.Response(200, content=json.dumps(body).encode())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ComfyClient("http://s", http=http)
        try:
            entry = await client.get_history_entry("p")
        except ProtocolError:
            return
        if entry is not None:
            outcome = PromptTracker("p", server="s").outcome(entry)
            assert outcome.status in ("success", "failed", "interrupted")
        try:
            for entry in await client.get_history():
                PromptTracker(entry.prompt_id, server="s").outcome(entry)
        except ProtocolError:
            return


@FUZZ
@given(body=st.fixed_dictionaries({"p": history_entries}) | json_values)
def test_any_history_answer_is_an_entry_or_a_protocol_error(body: object) -> None:
    asyncio.run(_ask_history(body))


ROUTES = {
    "object_info": lambda c: c.object_info(),
    "queue": lambda c: c.get_queue(),
    "system_stats": lambda c: c.system_stats(),
    "queue_prompt": lambda c: c.queue_prompt({"1": {"class_type": "X", "inputs": {}}}),
    "jobs": lambda c: c.jobs(),
    "queue_remaining": lambda c: c.queue_remaining(),
}


async def _ask(route: str, body: object) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        try:
            await ROUTES[route](ComfyClient("http://s", http=http))
        except ProtocolError:
            pass


@FUZZ
@given(route=st.sampled_from(sorted(ROUTES)), body=json_values | event_data)
def test_any_answer_to_a_route_is_a_value_or_a_protocol_error(route: str, body: object) -> None:
    asyncio.run(_ask(route, body))
