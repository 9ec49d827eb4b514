"""Values are checked against each server's /object_info before any prompt is queued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sweeps.errors import SpecError
from sweeps.grid import Grid
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
    only_old = check_grid(grid, {"http://old": lacking})
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
