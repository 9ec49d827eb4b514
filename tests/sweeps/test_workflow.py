"""Workflows: loading API-format files, resolving addresses, applying values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweeps.errors import SpecError
from sweeps.workflow import InputRef, Workflow, is_link, load_workflow, wrap_value

WORKFLOWS = Path(__file__).parent.parent / "data" / "workflows"


@pytest.fixture
def sd15() -> Workflow:
    return load_workflow(WORKFLOWS / "txt2img_sd15.json")


@pytest.fixture
def ambiguous() -> Workflow:
    return load_workflow(WORKFLOWS / "ambiguous.json")


def resolve_error(workflow: Workflow, address: str) -> str:
    with pytest.raises(SpecError) as info:
        workflow.resolve(address)
    return str(info.value)


def test_load_indexes_nodes_and_titles(sd15: Workflow) -> None:
    assert sd15.name == "txt2img_sd15.json"
    assert set(sd15.nodes) == {"3", "4", "5", "6", "7", "8", "9"}
    assert sd15.nodes["6"].title == "Positive"
    assert sd15.nodes["6"].class_type == "CLIPTextEncode"


def test_post_prompt_body_is_accepted(tmp_path: Path) -> None:
    prompt = json.loads((WORKFLOWS / "model_free.json").read_text())
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"prompt": prompt, "client_id": "abc"}))
    assert set(load_workflow(path).nodes) == set(prompt)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("3.seed", InputRef("3", "seed")),  # node id
        ("Positive.text", InputRef("6", "text")),  # title
        ("KSampler.cfg", InputRef("3", "cfg")),  # class_type found once
        ("EmptyLatentImage.width", InputRef("5", "width")),
        ("Load Checkpoint.ckpt_name", InputRef("4", "ckpt_name")),
    ],
)
def test_resolve(sd15: Workflow, address: str, expected: InputRef) -> None:
    assert sd15.resolve(address) == expected
    node_id, input_name = sd15.resolve(address)
    assert (node_id, input_name) == tuple(expected)


def test_titles_with_dots_split_on_last_dot(ambiguous: Workflow) -> None:
    assert ambiguous.resolve("v1.5 sharpen.alpha") == InputRef("4", "alpha")


def test_node_id_wins_over_a_title_equal_to_it(ambiguous: Workflow) -> None:
    # node 5 is titled "4": the id of node 4 takes precedence
    assert ambiguous.resolve("4.alpha") == InputRef("4", "alpha")


def test_unknown_node_suggests_and_lists(sd15: Workflow) -> None:
    message = resolve_error(sd15, "KSamplr.seed")
    assert "no node 'KSamplr'" in message
    assert "Did you mean 'KSampler'" in message
    assert "6 CLIPTextEncode 'Positive'" in message


def test_ambiguous_class_type_lists_candidates(ambiguous: Workflow) -> None:
    message = resolve_error(ambiguous, "ImageBlur.sigma")
    assert "ambiguous" in message
    assert "2.sigma" in message and "3.sigma" in message


def test_ambiguous_title_lists_ids(ambiguous: Workflow) -> None:
    message = resolve_error(ambiguous, "Blur.blur_radius")
    assert "title 'Blur'" in message
    assert "2.blur_radius, 3.blur_radius" in message


def test_unknown_input_suggests_from_the_nodes_inputs(sd15: Workflow) -> None:
    message = resolve_error(sd15, "KSampler.sampler")
    assert "has no input 'sampler'" in message
    assert "Did you mean 'sampler_name'" in message
    assert "seed, steps, cfg, sampler_name, scheduler, denoise" in message


def test_setting_a_link_is_an_error_that_says_so(sd15: Workflow) -> None:
    message = resolve_error(sd15, "KSampler.model")
    assert "is a link from node 4 CheckpointLoaderSimple" in message
    assert "cut that connection" in message
    assert "4.ckpt_name" in message


@pytest.mark.parametrize("address", ["seed", "KSampler.", ".seed", ""])
def test_malformed_addresses(sd15: Workflow, address: str) -> None:
    assert "must be NODE.INPUT" in resolve_error(sd15, address)


def test_apply_returns_a_new_prompt(sd15: Workflow) -> None:
    before = sd15.to_prompt()
    prompt = sd15.apply({"KSampler.seed": 42, "Positive.text": "a fox", "3.cfg": 4.5})
    assert prompt["3"]["inputs"]["seed"] == 42
    assert prompt["3"]["inputs"]["cfg"] == 4.5
    assert prompt["6"]["inputs"]["text"] == "a fox"
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert sd15.to_prompt() == before
    prompt["3"]["inputs"]["model"].append("mutated")
    assert sd15.to_prompt() == before


def test_apply_wraps_list_values(sd15: Workflow) -> None:
    prompt = sd15.apply({"Positive.text": ["a", "b"]})
    assert prompt["6"]["inputs"]["text"] == {"__value__": ["a", "b"]}
    assert wrap_value((1, 2)) == {"__value__": [1, 2]}
    assert wrap_value(3) == 3


def test_apply_rejects_two_names_for_one_input(sd15: Workflow) -> None:
    with pytest.raises(SpecError, match="both set input 3.seed"):
        sd15.apply({"KSampler.seed": 1, "3.seed": 2})


def test_is_link() -> None:
    assert is_link(["4", 0])
    assert not is_link(["4", True])
    assert not is_link([4, 0])
    assert not is_link(["a", "b"])


def test_invalid_json_names_file_line_and_column() -> None:
    path = WORKFLOWS / "invalid.json"
    with pytest.raises(SpecError) as info:
        load_workflow(path)
    assert info.value.path == str(path)
    assert info.value.line == 4
    assert f"{path}:4:" in str(info.value)
    assert "Export (API)" in str(info.value)


def test_ui_format_says_export_api() -> None:
    path = WORKFLOWS / "ui_format.json"
    with pytest.raises(SpecError) as info:
        load_workflow(path)
    assert info.value.path == str(path)
    assert info.value.line == 1
    assert "UI format" in str(info.value) and "Export (API)" in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_workflow(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "has no nodes"),
        ({"1": {"inputs": {}}}, "has no class_type"),
        ({"1": {"class_type": "X"}}, "has no inputs"),
        ({"1": 5}, "not an object"),
    ],
)
def test_bad_node_shapes(tmp_path: Path, body: object, problem: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps(body, indent=1))
    with pytest.raises(SpecError, match=problem) as info:
        load_workflow(path)
    assert info.value.path == str(path)
    assert info.value.line is not None


def test_a_json_list_is_not_a_workflow(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text("[1, 2]")
    with pytest.raises(SpecError, match="holds a JSON list"):
        load_workflow(path)


def _model_free_with(change: dict[str, object]) -> dict[str, object]:
    """model_free.json with some inputs replaced: ``{"3.image": ["99", 0]}``."""
    prompt = json.loads((WORKFLOWS / "model_free.json").read_text())
    for address, value in change.items():
        node_id, name = address.split(".")
        prompt[node_id]["inputs"][name] = value
    return prompt


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"3.image": ["99", 0]}, "links to node '99', which is not in this workflow"),
        ({"3.image": ["2", -1]}, "output -1 of node '2'; an output index counts from 0"),
        ({"3.image": [2, 0]}, "holds [2, 0], which ComfyUI reads as a link"),
        ({"3.image": ["2", 0, 1]}, "is a list of 3 items; ComfyUI reads a list as a link"),
        ({"2.image": ["3", 0]}, "part of a cycle of links (2 -> 3 -> 2)"),
        ({"1.width": ["1", 0]}, "part of a cycle of links (1 -> 1)"),
    ],
)
def test_broken_links_name_the_node_input_and_line(
    tmp_path: Path, change: dict[str, object], words: str
) -> None:
    """ComfyUI blames the wrong node for these (PROTOCOL 1.2); the loader names the right one."""
    path = tmp_path / "w.json"
    path.write_text(json.dumps(_model_free_with(change), indent=1))
    with pytest.raises(SpecError) as info:
        load_workflow(path)
    node_id = next(iter(change)).split(".")[0]
    assert info.value.path == str(path)
    assert info.value.line == path.read_text().splitlines().index(f' "{node_id}": {{') + 1
    assert words in str(info.value)
    assert f"node '{node_id}'" in str(info.value)


def test_a_node_id_given_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(
        '{\n "1": {"class_type": "A", "inputs": {}},\n "1": {"class_type": "B", "inputs": {}}\n}'
    )
    with pytest.raises(SpecError, match="gives key '1' twice") as info:
        load_workflow(path)
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"", 1, "is empty"),
        (b"  \n\n", 1, "is empty"),
        (b'{\n "1": {"class_type": "caf\xe9", "inputs": {}}}', 2, "not UTF-8"),
        (b'{"1": {"class_type": 5, "inputs": {}}}', 1, "class_type 5, which is not text"),
    ],
)
def test_unreadable_workflow_files(tmp_path: Path, content: bytes, line: int, words: str) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=words) as info:
        load_workflow(path)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_a_directory_is_not_a_workflow(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_workflow(tmp_path)
