"""The client against recorded answers: typed results and errors, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweeps.errors import PromptRejected, ProtocolError, RequestRejected, ServerFailed
from sweeps.models import OutputFile
from tests.traces import VERSIONS, HttpExchange, load_trace, traces_dir


async def test_system_endpoints(replay_client) -> None:
    trace = load_trace("system_endpoints")
    client, replay = replay_client(trace.http())
    recorded = trace.http("GET", "/system_stats")[0].response

    stats = await client.system_stats()
    assert stats.system.comfyui_version == recorded["system"]["comfyui_version"]
    assert stats.system.pytorch_version == recorded["system"]["pytorch_version"]
    assert stats.system.ram_total == recorded["system"]["ram_total"]
    assert stats.device is not None
    assert stats.device.vram_free == recorded["devices"][0]["vram_free"]
    assert (
        stats.device.vram_used
        == recorded["devices"][0]["vram_total"] - recorded["devices"][0]["vram_free"]
    )
    assert await client.queue_remaining() == 0
    queue = await client.get_queue()
    assert (queue.running, queue.pending) == ((), ())
    assert await client.embeddings() == []
    assert "checkpoints" in await client.model_folders()
    assert (
        await client.models("checkpoints") == trace.http("GET", "/models/checkpoints")[0].response
    )
    with pytest.raises(RequestRejected) as missing:
        await client.models("not_a_folder")
    assert missing.value.status == 404
    assert len(await client.extensions()) == len(trace.http("GET", "/extensions")[0].response)
    assert (await client.features())["supports_preview_metadata"] is True
    schemas = await client.object_info("EmptyImage")
    assert schemas["EmptyImage"].inputs["width"].min == 1
    assert await client.object_info("NoSuchNode") == {}
    assert await client.get_history_entry("00000000-0000-0000-0000-000000000000") is None
    for name in ("nope.png", "../../etc/passwd", "x.png"):
        with pytest.raises(RequestRejected):
            await client.view(OutputFile(name, "../.." if name == "x.png" else ""))
    await client.free(unload_models=True, free_memory=True)
    sent = json.loads(replay.requests[-1].content)
    assert sent == {"unload_models": True, "free_memory": True}


async def test_queue_pending_comes_back_in_execution_order(replay_client) -> None:
    trace = load_trace("queue_ops")
    client, _ = replay_client(trace.http("GET", "/queue"))
    queue = await client.get_queue()
    recorded = trace.http("GET", "/queue")[0].response
    assert [i.prompt_id for i in queue.running] == [r[1] for r in recorded["queue_running"]]
    numbers = [i.number for i in queue.pending]
    assert numbers == sorted(r[0] for r in recorded["queue_pending"])
    assert queue.pending[0].number < 0  # the `front` prompt runs first
    assert queue.running[0].client_id == recorded["queue_running"][0][3]["client_id"]


async def test_queue_operations_send_what_comfyui_expects(replay_client) -> None:
    trace = load_trace("queue_ops")
    client, replay = replay_client(trace.http())
    await client.delete_from_queue(["4196bd38-2d9e-4001-95e3-2a3951e4d504"])
    await client.clear_queue()
    await client.interrupt()
    bodies = [json.loads(r.content) for r in replay.requests]
    assert bodies == [
        {"delete": ["4196bd38-2d9e-4001-95e3-2a3951e4d504"]},
        {"clear": True},
        {},
    ]
    history = await client.get_history(max_items=2)
    assert [h.prompt_id for h in history] == list(trace.http("GET", "/history")[0].response)
    assert history[0].outcome == "interrupted"


async def test_history_entries_parse(replay_client) -> None:
    trace = load_trace("run_execution_error")
    client, _ = replay_client(trace.http("GET", "/history"))
    exchange = trace.http("GET", "/history")[0]
    prompt_id = exchange.path.rsplit("/", 1)[1]
    entry = await client.get_history_entry(prompt_id)
    assert entry is not None
    assert entry.outcome == "failed"
    assert entry.outputs_to_execute == ("3",)
    assert entry.message("execution_error")["exception_type"] == "RuntimeError"
    assert entry.started_ms is not None and entry.finished_ms is not None


async def test_history_entry_under_another_id_is_a_protocol_error(replay_client) -> None:
    exchange = load_trace("run_execution_error").http("GET", "/history")[0]
    prompt_id = exchange.path.rsplit("/", 1)[1]
    wrong = HttpExchange(
        exchange.ms,
        "GET",
        "/history/someone-else",
        exchange.request,
        200,
        {prompt_id: exchange.response[prompt_id]},
    )
    client, _ = replay_client([wrong])
    with pytest.raises(ProtocolError) as caught:
        await client.get_history_entry("someone-else")
    assert "GET /history/{id}" in str(caught.value)


async def test_successful_history_lists_output_files(replay_client) -> None:
    trace = load_trace("run_basic_then_cached")
    client, _ = replay_client(trace.http("GET", "/history"))
    first = trace.http("GET", "/history")[0].path.rsplit("/", 1)[1]
    entry = await client.get_history_entry(first)
    assert entry is not None and entry.outcome == "success"
    assert entry.files == [OutputFile("trace_00004_.png", "", "output", node_id="3")]


async def test_download_streams_to_file(replay_client, tmp_path: Path) -> None:
    trace = load_trace("run_basic_then_cached")
    client, replay = replay_client(trace.http("GET", "/view"))
    dest = await client.download(OutputFile("trace_00004_.png"), tmp_path / "out" / "a.png")
    assert dest.read_bytes().startswith(b"\x89PNG")
    assert dest.stat().st_size == trace.http("GET", "/view")[0].response["_bytes"]
    assert replay.requests[0].url.params["filename"] == "trace_00004_.png"
    assert not list((tmp_path / "out").glob(".*.part"))


async def test_failed_download_leaves_no_partial_file(replay_client, tmp_path: Path) -> None:
    trace = load_trace("system_endpoints")
    # A fresh client tries /api/view, then /view: a missing file is 404 under both.
    client, _ = replay_client(trace.http("GET", "/view?filename=nope.png") * 2)
    with pytest.raises(RequestRejected) as err:
        await client.download(OutputFile("nope.png"), tmp_path / "nope.png")
    assert err.value.status == 404
    assert list(tmp_path.iterdir()) == []


VALIDATION = load_trace("prompt_validation_errors").http("POST", "/prompt")
REJECTIONS = [
    pytest.param(e, id=f"{version}-{e.ms}")
    for version in VERSIONS
    for e in load_trace("prompt_validation_errors", version).http("POST", "/prompt")
    if e.status == 400
]


@pytest.mark.parametrize("exchange", REJECTIONS)
async def test_rejections_carry_the_parsed_errors(replay_client, exchange) -> None:
    client, _ = replay_client([exchange])
    with pytest.raises(PromptRejected) as caught:
        await client.queue_prompt(exchange.request.get("prompt", {}))
    err = caught.value
    assert err.error.type == exchange.response["error"]["type"]
    assert err.error.message == exchange.response["error"]["message"]
    assert {n.node_id for n in err.node_errors} == set(exchange.response["node_errors"])
    for node in err.node_errors:
        recorded = exchange.response["node_errors"][node.node_id]
        assert node.class_type == recorded["class_type"]
        assert [e.type for e in node.errors] == [e["type"] for e in recorded["errors"]]
        assert [dict(e.extra_info) for e in node.errors] == [
            e["extra_info"] for e in recorded["errors"]
        ]
        assert list(node.dependent_outputs) == recorded["dependent_outputs"]
    assert str(err).startswith("Prompt rejected by http://comfy.test:8188")


def _rejection_for(error_type: str) -> str:
    for exchange in VALIDATION:
        node_errors = exchange.response.get("node_errors") if exchange.is_json else None
        for node in (node_errors or {}).values():
            if node["errors"][0]["type"] == error_type:
                return exchange
    raise LookupError(error_type)


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("required_input_missing", "node 1 (EmptyImage) input width: is required but missing"),
        (
            "value_smaller_than_min",
            "node 1 (EmptyImage) input width: -5 is outside the allowed range 1..16384",
        ),
        (
            "invalid_input_type",
            "node 1 (EmptyImage) input width: 'wide' cannot be converted to INT",
        ),
        (
            "custom_validation_failed",
            "node 1 (LoadImage) input image: Invalid image file: missing.png",
        ),
        ("exception_during_inner_validation", "node 2 (ImageInvert) input images: links to a node"),
    ],
)
async def test_rejection_messages_name_node_and_input(replay_client, error_type, expected) -> None:
    exchange = _rejection_for(error_type)
    client, _ = replay_client([exchange])
    with pytest.raises(PromptRejected) as caught:
        await client.queue_prompt(exchange.request["prompt"])
    assert expected in str(caught.value)


async def test_value_not_in_list_names_the_valid_options(replay_client) -> None:
    """ComfyUI omits the options beyond 20 (KSampler's samplers); the client fills them in."""
    ksampler = json.loads((traces_dir() / "object_info.json").read_text())["KSampler"]
    rejection = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "3": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "sampler_name: 'eulr' not in (list of length 40)",
                        "extra_info": {
                            "input_name": "sampler_name",
                            "input_config": None,
                            "received_value": "eulr",
                        },
                    }
                ],
                "dependent_outputs": ["9"],
                "class_type": "KSampler",
            }
        },
    }
    client, _ = replay_client(
        [
            HttpExchange(0, "POST", "/prompt", None, 400, rejection),
            HttpExchange(0, "GET", "/object_info/KSampler", None, 200, {"KSampler": ksampler}),
        ]
    )
    with pytest.raises(PromptRejected) as caught:
        await client.queue_prompt({"3": {"class_type": "KSampler", "inputs": {}}})
    assert "node 3 (KSampler) input sampler_name: 'eulr' is not one of euler, euler_cfg_pp" in str(
        caught.value
    )


async def test_plain_text_500_is_a_server_failure_not_a_rejection(replay_client) -> None:
    exchange = next(e for e in VALIDATION if e.status == 500)
    client, _ = replay_client([exchange])
    with pytest.raises(ServerFailed) as caught:
        await client.queue_prompt({})
    assert caught.value.status == 500
    assert "Server got itself in trouble" in str(caught.value)
    assert not isinstance(caught.value, RequestRejected)


async def test_queue_prompt_sends_every_field(replay_client) -> None:
    exchange = load_trace("run_execution_error").http("POST", "/prompt")[0]
    client, replay = replay_client([exchange])
    queued = await client.queue_prompt(
        exchange.request["prompt"],
        prompt_id="my-id",
        front=True,
        extra_data={"extra_pnginfo": {"workflow": {"id": "w"}}},
        partial_execution_targets=["3"],
    )
    assert queued.prompt_id == exchange.response["prompt_id"]
    assert queued.number == exchange.response["number"]
    sent = json.loads(replay.requests[0].content)
    titled = {  # the recorder sent no _meta; 0.33+ needs one on a replaced node
        node_id: {**node, "_meta": {"title": node["class_type"]}}
        for node_id, node in exchange.request["prompt"].items()
    }
    assert sent == {
        "prompt": titled,
        "client_id": "cid",
        "prompt_id": "my-id",
        "front": True,
        "extra_data": {"extra_pnginfo": {"workflow": {"id": "w"}}},
        "partial_execution_targets": ["3"],
    }
