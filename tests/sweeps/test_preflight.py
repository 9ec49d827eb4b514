"""Values are checked against each server's /object_info before any prompt is queued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sweeps.errors import InputIssue, PromptRejected, SpecError
from sweeps.grid import Grid
from sweeps.models import parse_node_errors, with_combo_options
from sweeps.preflight import check_grid
from sweeps.schema import parse_object_info
from sweeps.spec import load_spec
from tests.traces import traces_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def full_schemas():
    return parse_object_info(json.loads((traces_dir() / "object_info.json").read_text()))


def _spec(tmp_path: Path, body: str) -> Grid:
    shutil.copy(REPO / "sample_workflows" / "txt2img_sd15.json", tmp_path / "wf.json")
    (tmp_path / "spec.yaml").write_text("name: t\nworkflow: wf.json\n" + body)
    return Grid(load_spec(tmp_path / "spec.yaml"))


def _without_checkpoint(schemas, name: str):
    """A server's schemas where one checkpoint file is missing."""
    raw = json.loads((traces_dir() / "object_info.json").read_text())
    options = raw["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    options.remove(name)
    return parse_object_info(raw)


def test_valid_sweep_has_no_problems(tmp_path: Path, full_schemas) -> None:
    grid = _spec(
        tmp_path, "grid:\n  KSampler.sampler_name: [euler, dpmpp_2m]\n  KSampler.cfg: [1, 7.5]\n"
    )
    result = check_grid(grid, {"http://a": full_schemas})
    assert result.errors() == []
    assert all(result.eligible(run, "http://a") for run in grid)


def test_unknown_sampler_is_an_error_naming_node_input_and_valid_options(
    tmp_path: Path, full_schemas
) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.sampler_name: [euler, eulr]\n")
    result = check_grid(grid, {"http://a": full_schemas, "http://b": full_schemas})
    [error] = result.errors()
    assert "KSampler.sampler_name = 'eulr'" in error
    assert "all 2 servers" in error
    assert "node 3 (KSampler) input sampler_name: 'eulr' is not one of euler, euler_cfg_pp" in error
    with pytest.raises(SpecError) as caught:
        result.raise_for_errors(str(tmp_path / "spec.yaml"))
    assert str(tmp_path / "spec.yaml") in str(caught.value)


def test_out_of_range_cfg_and_wrong_type(tmp_path: Path, full_schemas) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.cfg: [7.0, 101.0]\n  KSampler.steps: [20, many]\n")
    errors = check_grid(grid, {"http://a": full_schemas}).errors()
    assert any(
        "KSampler.cfg = 101.0" in e and "outside the allowed range 0.0..100.0" in e for e in errors
    )
    assert any("KSampler.steps = 'many'" in e and "cannot be converted to INT" in e for e in errors)


def test_large_seed_range_is_checked_at_its_ends(tmp_path: Path, full_schemas) -> None:
    grid = _spec(
        tmp_path, "grid:\n  KSampler.seed: {range: [18446744073709551610, 18446744073709551617]}\n"
    )
    [error] = check_grid(grid, {"http://a": full_schemas}).errors()
    assert "KSampler.seed = 18446744073709551616" in error


def test_checkpoint_missing_on_one_server_only_keeps_it_away(tmp_path: Path, full_schemas) -> None:
    grid = _spec(
        tmp_path,
        "grid:\n  Load Checkpoint.ckpt_name:\n"
        "    [random-sd15-a.safetensors, random-sd15-b.safetensors]\n",
    )
    partial = _without_checkpoint(full_schemas, "random-sd15-b.safetensors")
    result = check_grid(grid, {"http://full": full_schemas, "http://partial": partial})
    assert result.errors() == []
    assert any("http://partial cannot take" in w for w in result.warnings())
    assert result.differences() == [
        ("wf.json", "Load Checkpoint.ckpt_name=random-sd15-b.safetensors", {"http://partial"})
    ]
    for run in grid:
        needs_b = run.params["Load Checkpoint.ckpt_name"] == "random-sd15-b.safetensors"
        assert result.eligible(run, "http://full")
        assert result.eligible(run, "http://partial") is not needs_b


def test_checkpoint_no_server_has_is_an_error(tmp_path: Path, full_schemas) -> None:
    grid = _spec(tmp_path, "set:\n  Load Checkpoint.ckpt_name: sdxl.safetensors\n")
    errors = check_grid(grid, {"http://a": full_schemas}).errors()
    assert errors and "sdxl.safetensors" in errors[0]


def test_server_without_a_node_class_cannot_run_the_workflow(tmp_path: Path, full_schemas) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.seed: [1, 2]\n")
    lacking = {k: v for k, v in full_schemas.items() if k != "KSampler"}
    result = check_grid(grid, {"http://a": full_schemas, "http://old": lacking})
    assert result.errors() == []
    assert not any(result.eligible(run, "http://old") for run in grid)
    assert result.differences() == [("wf.json", None, {"http://old"})]
    only_old = check_grid(grid, {"http://old": lacking})
    assert only_old.differences() == []  # nobody can: an error, not a difference
    [error] = only_old.errors()
    assert "no server can run workflow" in error and "KSampler" in error


def test_odd_custom_node_schemas_do_not_break_parsing() -> None:
    schemas = parse_object_info(
        {
            "Weird": {"input": {"required": ["not", "a", "mapping"]}, "output_node": True},
            "Weirder": "not even a mapping",
            "Ok": {"input": {"required": {"x": ["INT", {"min": 0}]}}},
        }
    )
    assert schemas["Weird"].output_node and schemas["Weird"].inputs == {}
    assert schemas["Weirder"].inputs == {}
    assert schemas["Ok"].inputs["x"].min == 0


@pytest.mark.parametrize(
    ("grid", "words"),
    [
        (
            "KSampler.steps: [20, 12.5]",
            "12.5 is not a whole number: ComfyUI would silently cut it to 12, so runs could repeat",
        ),
        ("KSampler.steps: {range: [1, 3, 0.5]}", "1.5 is not a whole number"),
        ("KSampler.steps: [20, '30']", "'30' is text; write the number without quotes"),
        ("KSampler.steps: [20, true]", "true is not a whole number"),
        ("KSampler.cfg: [7.0, '7.5']", "'7.5' is text"),
        ("Positive.text: [a cat, yes]", "true is true/false, not text; quote it"),
    ],
)
def test_values_comfyui_would_silently_coerce_are_errors(
    tmp_path: Path, full_schemas, grid: str, words: str
) -> None:
    """ComfyUI's int()/float()/str() accept these, so two runs could be the same prompt."""
    result = check_grid(_spec(tmp_path, f"grid:\n  {grid}\n"), {"http://a": full_schemas})
    error = result.errors()[0]
    assert words in error
    assert error.startswith(f"{tmp_path / 'spec.yaml'}:4: ")
    # The server would take these (ComfyUI converts them); comfyfleet is the one refusing.
    assert "refused by" not in error and "would not run as written" in error


def test_a_mistyped_choice_gets_the_close_match_suggested_and_listed_first(
    tmp_path: Path, full_schemas
) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.sampler_name: [euler, dpmpp_2n]\n")
    [error] = check_grid(grid, {"http://a": full_schemas}).errors()
    assert "'dpmpp_2n' is not one of dpmpp_2m, " in error  # not euler, ... cut at dpm_fast
    assert "did you mean 'dpmpp_2m'?" in error


def test_an_a1111_sampler_name_with_a_scheduler_says_where_the_scheduler_goes(
    tmp_path: Path, full_schemas
) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.sampler_name: [euler, dpmpp_2m_karras]\n")
    [error] = check_grid(grid, {"http://a": full_schemas}).errors()
    assert "'dpmpp_2m_karras' is not one of dpmpp_2m, " in error
    assert "'karras' is a scheduler, set in its own input (KSampler.scheduler)" in error
    assert "use sampler_name 'dpmpp_2m' and scheduler 'karras'" in error


def test_a_boolean_input_takes_only_true_or_false(tmp_path: Path) -> None:
    schemas = parse_object_info(
        {"Toggle": {"input": {"required": {"flag": ["BOOLEAN", {}]}}, "output_node": True}}
    )
    (tmp_path / "wf.json").write_text('{"1": {"class_type": "Toggle", "inputs": {"flag": true}}}')
    (tmp_path / "spec.yaml").write_text("workflow: wf.json\ngrid:\n  1.flag: [true, 'false']\n")
    [error] = check_grid(Grid(load_spec(tmp_path / "spec.yaml")), {"http://a": schemas}).errors()
    assert "'false' is not true or false" in error


def test_errors_point_at_the_spec_line_of_the_value(tmp_path: Path, full_schemas) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.cfg:\n    - 7.0\n    - 101.0\n")
    result = check_grid(grid, {"http://a": full_schemas})
    path = str(tmp_path / "spec.yaml")
    [error] = result.errors()
    assert error.startswith(f"{path}:6: KSampler.cfg = 101.0")
    with pytest.raises(SpecError) as caught:
        result.raise_for_errors(path)
    assert (caught.value.path, caught.value.line) == (path, 6)
    assert str(caught.value).startswith(f"{path}:6: KSampler.cfg = 101.0 is refused")


def test_several_errors_are_listed_by_line(tmp_path: Path, full_schemas) -> None:
    grid = _spec(tmp_path, "grid:\n  KSampler.cfg: [7.0, 101.0]\n  KSampler.steps: [0, 20]\n")
    path = str(tmp_path / "spec.yaml")
    with pytest.raises(SpecError) as caught:
        check_grid(grid, {"http://a": full_schemas}).raise_for_errors(path)
    assert caught.value.line == 4
    message = str(caught.value)
    assert "cannot run as written (2 problems)" in message
    assert "\n  line 4: KSampler.cfg = 101.0" in message
    assert "\n  line 5: KSampler.steps = 0" in message


def test_a_link_to_an_output_the_node_lacks_names_that_link(tmp_path: Path, full_schemas) -> None:
    prompt = json.loads((REPO / "sample_workflows" / "txt2img_sd15.json").read_text())
    prompt["8"]["inputs"]["vae"] = ["4", 7]  # CheckpointLoaderSimple has outputs 0..2
    (tmp_path / "wf.json").write_text(json.dumps(prompt))
    (tmp_path / "spec.yaml").write_text("workflow: wf.json\ngrid:\n  KSampler.seed: [1, 2]\n")
    grid = Grid(load_spec(tmp_path / "spec.yaml"))
    [error] = check_grid(grid, {"http://a": full_schemas}).errors()
    assert (
        "node 8 (VAEDecode) input vae links to output 7 of node 4 (CheckpointLoaderSimple)" in error
    )
    assert "0 MODEL, 1 CLIP, 2 VAE" in error


def test_an_input_the_server_does_not_know_would_be_ignored(tmp_path: Path, full_schemas) -> None:
    prompt = json.loads((REPO / "sample_workflows" / "txt2img_sd15.json").read_text())
    prompt["3"]["inputs"]["eta"] = 0.5  # not an input of KSampler: ComfyUI drops it silently
    (tmp_path / "wf.json").write_text(json.dumps(prompt))
    (tmp_path / "spec.yaml").write_text("workflow: wf.json\ngrid:\n  KSampler.eta: [0.1, 0.2]\n")
    grid = Grid(load_spec(tmp_path / "spec.yaml"))
    [error] = check_grid(grid, {"http://a": full_schemas}).errors()
    assert "KSampler has no input 'eta' on this server, so the value would be ignored" in error
    assert f"{tmp_path / 'spec.yaml'}:3" in error


def test_a_server_rejection_shows_the_same_suggestion(full_schemas) -> None:
    """The client renders ComfyUI's 400 with the code plan uses (InputIssue.describe)."""
    node_errors = parse_node_errors(
        {
            "3": {
                "class_type": "KSampler",
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "sampler_name: 'eulr' not in (list of length 44)",
                        "extra_info": {
                            "input_name": "sampler_name",
                            "input_config": None,  # ComfyUI leaves out lists over 20
                            "received_value": "eulr",
                        },
                    }
                ],
            }
        }
    )
    rejected = PromptRejected(
        server="http://a",
        error=InputIssue("prompt_outputs_failed_validation", "Prompt outputs failed validation"),
        node_errors=with_combo_options(node_errors, full_schemas),
    )
    assert "input sampler_name: 'eulr' is not one of euler, " in str(rejected)
    assert "did you mean 'euler'?" in str(rejected)
