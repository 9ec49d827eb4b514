"""sweeps.schema and sweeps.validation on their own, beyond the recorded bodies."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.schema import parse_object_info
from sweeps.simulator import load_object_info
from sweeps.validation import validate_prompt
from tests.simulator.prompts import sleep_prompt, txt2img

SCHEMAS = parse_object_info(load_object_info(version="0.8.0"))


def test_schema_shapes() -> None:
    ksampler = SCHEMAS["KSampler"]
    assert ksampler.inputs["steps"].type == "INT"
    assert (ksampler.inputs["steps"].min, ksampler.inputs["steps"].max) == (1, 10000)
    assert ksampler.inputs["sampler_name"].type == "COMBO"
    assert "euler" in (ksampler.inputs["sampler_name"].options or ())
    assert ksampler.inputs["model"].is_link and not ksampler.inputs["seed"].is_link
    assert SCHEMAS["CheckpointLoaderSimple"].outputs == ("MODEL", "CLIP", "VAE")
    assert SCHEMAS["SaveImage"].output_node
    assert SCHEMAS["SaveImage"].inputs["prompt"].hidden
    assert SCHEMAS["PreviewAny"].inputs["source"].type == "*"
    image = SCHEMAS["ImageInvert"].inputs["image"]
    assert image.type == "IMAGE" and image.extra == {} and image.options is None


def test_v3_combo_and_spec_without_options() -> None:
    schemas = parse_object_info(
        {
            "N": {
                "input": {
                    "required": {
                        "mode": ["COMBO", {"options": ["a", "b"], "default": "a"}],
                        "flag": ["BOOLEAN"],
                        "choice": [["x", "y"]],
                    }
                },
                "output": ["STRING"],
                "output_node": True,
            }
        }
    )
    node = schemas["N"]
    assert node.inputs["mode"].options == ("a", "b") and node.inputs["mode"].default == "a"
    assert node.inputs["flag"].type == "BOOLEAN" and node.inputs["flag"].extra == {}
    assert node.inputs["choice"].options == ("x", "y")
    ok = validate_prompt(
        {"1": {"class_type": "N", "inputs": {"mode": "c", "flag": 1, "choice": "x"}}}, schemas
    )
    error = ok.node_errors["1"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["details"] == "mode: 'c' not in ['a', 'b']"


def errors_of(prompt: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    result = validate_prompt(prompt, SCHEMAS, **kw)
    return [(n, e["type"]) for n, v in result.node_errors.items() for e in v["errors"]]


def test_coercion_like_comfyui() -> None:
    prompt = sleep_prompt(2, 0)
    prompt["1"]["inputs"]["width"] = "16"
    prompt["1"]["inputs"]["height"] = 16.7
    prompt["2"]["inputs"]["preview"] = "false"
    result = validate_prompt(prompt, SCHEMAS)
    assert result.ok
    assert result.prompt["1"]["inputs"]["width"] == 16
    assert result.prompt["1"]["inputs"]["height"] == 16
    assert result.prompt["2"]["inputs"]["preview"] is True
    assert prompt["1"]["inputs"]["width"] == "16"  # the caller's prompt is untouched


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (
            2**64,
            "value_bigger_than_max",
            "Value 18446744073709551616 bigger than max of 18446744073709551615",
        ),
        (-1, "value_smaller_than_min", "Value -1 smaller than min of 0"),
        ("x", "invalid_input_type", "Failed to convert an input value to a INT value"),
    ],
)
def test_seed_range(value: Any, kind: str, message: str) -> None:
    prompt = txt2img(1)
    prompt["3"]["inputs"]["seed"] = value
    result = validate_prompt(prompt, SCHEMAS)
    error = result.node_errors["3"]["errors"][0]
    assert (error["type"], error["message"]) == (kind, message)


def test_long_combo_hides_its_list() -> None:
    prompt = txt2img(1)
    prompt["3"]["inputs"]["sampler_name"] = "nope"
    error = validate_prompt(prompt, SCHEMAS).node_errors["3"]["errors"][0]
    assert error["extra_info"]["input_config"] is None
    assert error["details"].startswith("sampler_name: 'nope' not in (list of length ")


def test_link_errors() -> None:
    prompt = sleep_prompt(1, 0)
    prompt["2"]["inputs"]["image"] = ["1", 0, 0]
    assert errors_of(prompt) == [("2", "bad_linked_input")]
    prompt = txt2img(1)
    prompt["8"]["inputs"]["vae"] = ["4", 0]
    result = validate_prompt(prompt, SCHEMAS)
    error = result.node_errors["8"]["errors"][0]
    assert error["type"] == "return_type_mismatch"
    assert error["details"] == "vae, received_type(MODEL) mismatch input_type(VAE)"
    prompt = sleep_prompt(1, 0)
    del prompt["2"]["inputs"]["steps"]
    assert errors_of(prompt) == [("2", "required_input_missing")]


def test_output_linking_a_missing_node() -> None:
    prompt = sleep_prompt(1, 0)
    prompt["3"]["inputs"]["source"] = ["99", 0]
    result = validate_prompt(prompt, SCHEMAS)
    assert result.error is not None
    assert result.error["details"] == "Exception when validating node: '99'"
    assert result.node_errors["3"]["errors"][0]["type"] == "exception_during_validation"


def test_cycle_gives_empty_node_errors() -> None:
    prompt = sleep_prompt(1, 0)
    prompt["1"] = {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}
    result = validate_prompt(prompt, SCHEMAS)
    assert not result.ok and result.node_errors == {}
    assert result.error == {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "",
        "extra_info": {},
    }


def test_partial_failure_is_a_200_with_node_errors() -> None:
    prompt = sleep_prompt(1, 0)
    prompt["4"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}
    result = validate_prompt(prompt, SCHEMAS)
    assert result.ok and result.outputs_to_execute == ["3"]
    assert result.node_errors["4"]["errors"][0]["type"] == "required_input_missing"
    assert result.node_errors["4"]["dependent_outputs"] == ["4"]
    targeted = validate_prompt(prompt, SCHEMAS, ["3"])
    assert targeted.ok and targeted.node_errors == {} and targeted.outputs_to_execute == ["3"]


def test_invalid_prompts() -> None:
    missing = validate_prompt({"1": {"inputs": {}}}, SCHEMAS)
    assert missing.error == {
        "type": "invalid_prompt",
        "message": "Cannot execute because a node is missing the class_type property.",
        "details": "Node ID '#1'",
        "extra_info": {},
    }
    assert validate_prompt(None, SCHEMAS).error["type"] == "no_prompt"  # type: ignore[index]


def test_load_image_check_needs_a_file_oracle() -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert validate_prompt(prompt, SCHEMAS).ok  # the sweep engine cannot see the files
    checked = validate_prompt(prompt, SCHEMAS, file_exists=lambda name: False)
    assert checked.node_errors["1"]["errors"][0]["details"] == (
        "image - Invalid image file: missing.png"
    )
