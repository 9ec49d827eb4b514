"""Sweep specs: what loads, and where each mistake is reported."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from sweeps.errors import SpecError
from sweeps.grid import DecimalRange, Grid
from sweeps.spec import SweepSpec, load_spec

DATA = Path(__file__).parent.parent / "data"
SPECS = DATA / "specs"
SAMPLES = Path(__file__).parent.parent.parent / "sample_workflows"
ENV = {"COMFY_TOKEN": "s3cret"}


def write_spec(tmp_path: Path, text: str, *extra: str) -> Path:
    """A spec in ``tmp_path`` beside copies of the SD1.5 workflow and any ``extra`` files."""
    for name in ("txt2img_sd15.json", "model_free.json", *extra):
        shutil.copy(DATA / "workflows" / name, tmp_path / name)
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def spec_error(tmp_path: Path, text: str, *extra: str, environ: dict[str, str] = ENV) -> SpecError:
    path = write_spec(tmp_path, text, *extra)
    with pytest.raises(SpecError) as info:
        load_spec(path, environ=environ)
    return info.value


def assert_at(error: SpecError, path: Path, line: int | None, *fragments: str) -> None:
    """The error names the file and the line, and says each of ``fragments``."""
    assert error.path == str(path)
    assert error.line == line
    message = str(error)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    for fragment in fragments:
        assert fragment in message, message


# -- what loads ----------------------------------------------------------------


def test_issue_example_loads() -> None:
    spec = load_spec(SPECS / "shootout.yaml", environ=ENV)
    assert spec.name == "sampler-shootout"
    assert list(spec.workflows) == ["../workflows/txt2img_sd15.json"]
    assert spec.output == SPECS / "runs" / "sampler-shootout"
    assert spec.repeat == 1 and spec.sample is None and spec.seed == 0
    assert "gpu2.example" in spec.source and "${COMFY_TOKEN}" in spec.source
    (block,) = spec.blocks
    assert block.fixed == {"KSampler.steps": 20}
    assert [axis.addresses for axis in block.axes] == [
        ("KSampler.seed",),
        ("KSampler.cfg",),
        ("KSampler.sampler_name",),
        ("Positive.text", "Negative.text"),
    ]
    assert block.axes[0].columns[0] == range(8)
    assert block.include[0].values == {
        "KSampler.sampler_name": "lcm",
        "KSampler.cfg": 1.5,
        "KSampler.steps": 8,
    }
    assert len(Grid(spec)) == 8 * 3 * 3 * 2 - 8 * 2 + 1


def test_servers_expand_environment_variables() -> None:
    spec = load_spec(SPECS / "shootout.yaml", environ=ENV)
    local, remote = spec.servers
    assert local.url == "http://127.0.0.1:8188"
    assert remote.url == "https://gpu2.example/comfy"
    assert remote.headers == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(spec)


def test_blocks_and_workflow_axis() -> None:
    spec = load_spec(SPECS / "blocks.yaml")
    first, second = spec.blocks
    assert first.workflows == ("../workflows/model_free.json", "../workflows/ambiguous.json")
    assert first.axes[0].kind == "workflow"
    assert first.fixed == {"1.width": 32}
    assert second.workflows == ("../workflows/model_free.json",)
    assert second.fixed == {"Noise.strength": 1.0}  # the block's grid overrides 1.width
    assert len(second.axes[1].columns[0]) == 3
    grid = Grid(spec)
    assert grid.counts.total == len(grid) == 2 * ((4 - 1 + 1) + 2 * 3)


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_sample_specs_load(sample: Path) -> None:
    spec = load_spec(sample, environ={})
    grid = Grid(spec)
    assert len(grid) > 0
    assert grid.prompt_for(grid[0])


def test_model_free_demo_size() -> None:
    assert 24 <= len(Grid(load_spec(SAMPLES / "model_free_sweep.yaml"))) <= 48


def test_defaults(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "workflow: model_free.json\n")
    spec = load_spec(path)
    assert spec.name == "spec"
    assert spec.output == tmp_path / "runs" / "spec"
    assert spec.servers == ()
    assert len(Grid(spec)) == 1  # no grid: the workflow as it is, once


def test_float_range_is_exact(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """
        workflow: model_free.json
        grid:
          Noise.strength: {range: [0, 1, 0.1]}
        """,
    )
    (axis,) = load_spec(path).blocks[0].axes
    column = axis.columns[0]
    assert isinstance(column, DecimalRange)
    assert list(column) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[5]", [0, 1, 2, 3, 4]),
        ("[2, 5]", [2, 3, 4]),
        ("[10, 0, -3]", [10, 7, 4, 1]),
        ("[0.5, 2]", [0.5, 1.5]),
    ],
)
def test_int_ranges(tmp_path: Path, text: str, expected: list[float]) -> None:
    path = write_spec(
        tmp_path, f"workflow: model_free.json\ngrid:\n  Blur.sigma: {{range: {text}}}\n"
    )
    assert list(load_spec(path).blocks[0].axes[0].columns[0]) == expected


def test_random_seeds_are_reproducible_distinct_and_grow_as_a_prefix(tmp_path: Path) -> None:
    def seeds(count: int, seed: int = 0, extra: str = "") -> tuple[int, ...]:
        path = write_spec(
            tmp_path,
            f"workflow: model_free.json\nseed: {seed}\n"
            f"grid:\n  Noise.seed: {{random: {count}{extra}}}\n",
        )
        return tuple(load_spec(path).blocks[0].axes[0].columns[0])

    eight = seeds(8)
    assert len(set(eight)) == 8
    assert all(0 <= s < 2**32 for s in eight)
    assert seeds(8) == eight
    assert seeds(16)[:8] == eight
    assert seeds(8, seed=1) != eight
    assert sorted(seeds(5, extra=", min: 10, max: 14")) == [10, 11, 12, 13, 14]


def test_yaml_dates_stay_text(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path, "workflow: model_free.json\nset:\n  Save.filename_prefix: 2024-01-01\n"
    )
    assert load_spec(path).blocks[0].fixed == {"Save.filename_prefix": "2024-01-01"}


def test_list_values_in_set_are_literal(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "workflow: model_free.json\nset:\n  Save.filename_prefix: [a, b]\n")
    grid = Grid(load_spec(path))
    assert grid.prompt_for(grid[0])["4"]["inputs"]["filename_prefix"] == {"__value__": ["a", "b"]}


def test_specs_are_frozen() -> None:
    spec = load_spec(SPECS / "shootout.yaml", environ=ENV)
    assert isinstance(spec, SweepSpec)
    with pytest.raises(AttributeError):
        spec.name = "x"  # type: ignore[misc]


# -- where mistakes are reported -------------------------------------------------


def test_unknown_key_fixture_file() -> None:
    path = SPECS / "typo.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert_at(info.value, path, 7, "unknown key 'gird'", "did you mean 'grid'?", "Valid keys:")


def test_zip_length_mismatch_fixture_file() -> None:
    path = SPECS / "zip_mismatch.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert_at(
        info.value,
        path,
        6,
        "zip group at line 6: Positive.text has 2 values, Negative.text has 3",
        "same length",
    )


CASES = [
    # (spec text, line, fragments the message must hold)
    ("workflow: model_free.json\nrepet: 2\n", 2, ["unknown key 'repet'", "'repeat'"]),
    ("name: x\n", 1, ["no workflow: key", "API-format"]),
    ("workflow: missing.json\n", 1, ["workflow 'missing.json' not found", "tried /"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: []\n", 3, ["empty list", "at least one"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: 1.0\n", 3, ["must be a list", "set:"]),
    ("workflow: model_free.json\ngrid: {}\n", 2, ["non-empty mapping of ADDRESS"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: {rnage: [3]}\n", 3, ["'range'"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: {range: [3, 1]}\n", 3, ["is empty"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: {range: [0, 3, 0]}\n", 3, ["step"]),
    ("workflow: model_free.json\ngrid:\n  Blur.sigma: {range: [a]}\n", 3, ["[start, stop, step]"]),
    ("workflow: model_free.json\ngrid:\n  Noise.seed: {random: 0}\n", 3, [">= 1"]),
    (
        "workflow: model_free.json\ngrid:\n  Noise.seed: {random: 5, max: 3}\n",
        3,
        ["cannot draw 5 distinct seeds from 0..3"],
    ),
    ("workflow: model_free.json\ngrid:\n  Blur.sigmaa: [1]\n", 3, ["Did you mean 'sigma'"]),
    ("workflow: model_free.json\ngrid:\n  Blr.sigma: [1]\n", 3, ["no node 'Blr'", "'Blur'"]),
    ("workflow: model_free.json\ngrid:\n  Blur.image: [1]\n", 3, ["is a link", "cut"]),
    ("workflow: model_free.json\ngrid:\n  sigma: [1]\n", 3, ["must be NODE.INPUT"]),
    ("workflow: model_free.json\nset:\n  Blur.sigma: null\n", 3, ["nothing (null)"]),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma:\n    - 1\n    - 2\n    - 1\n",
        6,
        ["lists 1 twice (lines 4 and 6)", "repeat:"],
    ),
    (
        "workflow: model_free.json\nzip:\n  - {Blur.sigma: [1, 1], Noise.strength: [0.5, 0.5]}\n",
        3,
        ["zip group at line 3 lists (1, 0.5) twice"],
    ),
    ("workflow: model_free.json\nsample: 0\n", 2, ["sample must be a whole number >= 1"]),
    ("workflow: model_free.json\nrepeat: two\n", 2, ["repeat must be a whole number"]),
    ("workflow: model_free.json\nname: a/b\n", 2, ["without slashes"]),
    ("workflow: model_free.json\nworkflow: model_free.json\n", 2, ["duplicate key 'workflow'"]),
    ("workflow: model_free.json\ngrid: [\n", 2, ["invalid YAML", "unclosed [", "(column 7)"]),
    ("- a\n- b\n", 1, ["must be a mapping"]),
    (
        "workflow: model_free.json\nset:\n  Blur.sigma: 1\ngrid:\n  Blur.sigma: [1, 2]\n",
        5,
        ["already in set at line 3"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1]\n  3.sigma: [2]\n",
        None,  # replaced below: the alias is reported at its own line
        ["same input (3.sigma)"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, 2]\nexclude:\n  - {Noise.seed: 1}\n",
        5,
        ["exclude names 'Noise.seed'", "swept", "valid here: Blur.sigma"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, 2]\nexclude:\n  - {Blur.sigma: 3}\n",
        5,
        ["3 is not one of the swept values (1, 2)"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, 2]\ninclude:\n  - {Noise.seed: 1}\n",
        5,
        ["include names 'Noise.seed'", "set, swept or 'workflow'"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, 2]\n"
        "include:\n  - {Blur.sigma: [3, 4]}\n",
        5,
        ["literal list value is not allowed"],
    ),
    (
        "workflow: model_free.json\nzip:\n  - {Blur.sigma: [1, 2], Noise.strength: [0.1, 0.2]}\n"
        "exclude:\n  - {Blur.sigma: 1, Noise.strength: 0.2}\n",
        5,
        ["no position of the zip group at line 3 pairs"],
    ),
    ("workflow: model_free.json\nexclude: []\n", 2, ["exclude must be a list of mappings"]),
    (
        "workflow: model_free.json\nservers:\n  - url: http://a:1\n    headres: {}\n",
        4,
        ["unknown key 'headres'", "'headers'"],
    ),
    ("workflow: model_free.json\nservers:\n  - ftp://a\n", 3, ["server URL 'ftp://a'"]),
    (
        "workflow: model_free.json\nservers:\n  - http://a:1\n  - http://a:1/\n",
        4,
        ["listed twice"],
    ),
    (
        "workflow: model_free.json\nservers:\n  - url: http://${HOST}:8188\n",
        3,
        ["environment variable HOST is not set"],
    ),
    (
        "workflow: [model_free.json, txt2img_sd15.json]\ngrid:\n  Blur.sigma: [1]\n",
        3,
        ["no node 'Blur' in txt2img_sd15.json"],
    ),
    (
        "workflow: [model_free.json, model_free.json]\n",
        1,
        ["lists a file twice"],
    ),
    (
        "workflow: model_free.json\nblocks:\n  - grid: {Blur.sigma: [1]}\n  - gird: {}\n",
        4,
        ["unknown key 'gird' in block 2", "'grid'"],
    ),
    ("workflow: model_free.json\nblocks:\n  - 3\n", 3, ["block 1 must be a mapping"]),
    ("", 1, ["the file is empty", "workflow:"]),
    ("# only a comment\n", 1, ["the file is empty"]),
    ("just text\n", 1, ["it holds str 'just text'", "must be a mapping"]),
    ("workflow: model_free.json\ngrid:\n\tBlur.sigma: [1]\n", 3, ["spaces, not tabs"]),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, 2\n",
        3,
        ["unclosed [: close it with ']'", "(column 15)"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1]\n    Noise.seed: [1]\n",
        4,
        ["this line is indented more than the key above it expects", "(column 5)"],
    ),
    (
        "workflow: model_free.json\ngrid\n  Blur.sigma: [1]\n",
        2,
        ["this line has no ':' after its key", "(column 1)"],
    ),
    (
        "workflow: model_free.json\nname: a: b\n",
        2,
        ["a second ': ' on one line; quote a value", "(column 8)"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1, , 2]\n",
        3,
        ["a value is missing before this ','", "(column 19)"],
    ),
    (
        "workflow: model_free.json\nname: 'x\n",
        2,
        ["this quote is never closed", "(column 7)"],
    ),
    (
        "workflow: model_free.json\ngrid:\nNoise.seed: [1, 2]\n",
        3,
        [
            "unknown key 'Noise.seed' at the top of a spec: it looks like an input address",
            "indented under set:, grid: or zip:",
            "grid: at line 2 has nothing under it",
        ],
    ),
    (
        "workflow: model_free.json\nblocks:\n  - grid: {Blur.sigma: [1]}\nNoise.seed: 1\n",
        4,
        ["'Noise.seed' at the top of a spec with blocks: it looks like an input address"],
    ),
    (
        "blocks:\n  - workflow: model_free.json\n    grid: {Blur.sigma: [1]}\n"
        "  - grid: {KSampler.seed: [1]}\n",
        4,
        ["block 2 (line 4) has no workflow:", "add 'workflow: <file>.json' to this block"],
    ),
    ("workflow: model_free.json\n---\nname: x\n", 2, ["second YAML document"]),
    (
        "workflow: model_free.json\ngrid:\n  Noise.seed: {range: [0, 100000000000000000000]}\n",
        3,
        ["100,000,000,000,000,000,000 values", "larger step"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Noise.seed: {random: 2, max: 100000000000000000000}\n",
        3,
        ["max must be a whole number from 0 to 18446744073709551615"],
    ),
    (
        "workflow: model_free.json\nsample: 5\ngrid:\n  Blur.sigma: [1, 2]\n",
        2,
        ["sample: 5 is more than the 2 runs", "at most 2"],
    ),
    (
        "workflow: model_free.json\nsample: 2\ngrid:\n  Blur.sigma: [1, 2]\n"
        "exclude:\n  - {Blur.sigma: 1}\n",
        2,
        ["more than the 1 runs the grid has after exclude"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Blur.sigma: [1]\nexclude:\n  - {Blur.sigma: 1}\n",
        5,
        ["exclude removes every one of the 1 runs of the grid"],
    ),
    (
        "workflow: model_free.json\ngrid:\n  Noise.seed: {range: [4000000000]}\n"
        "  Canvas.color: {range: [4000000000]}\n",
        1,
        ["16,000,000,000,000,000,000 runs", "add sample: N"],
    ),
    ("workflow: model_free.json\noutput: 5\n", 2, ["output must be a directory path"]),
    (
        "workflow: model_free.json\nservers:\n  - url: http://a:1\n    headers: {A: {b: c}}\n",
        3,
        ["headers: (a mapping of header: text"],
    ),
    (
        "workflow: model_free.json\nservers:\n  - url: http://a:1\n    headers: {'a b': c}\n",
        3,
        ["header name 'a b' is not valid"],
    ),
    (
        "workflow: model_free.json\nservers:\n  - http://a:99999\n",
        3,
        ["the port must be a number from 1 to 65535"],
    ),
    (
        "workflow: model_free.json\nblocks: []\ngrid: {Blur.sigma: [1]}\n",
        3,
        ["unknown key 'grid' at the top of a spec with blocks"],
    ),
]


@pytest.mark.parametrize(("text", "line", "fragments"), CASES, ids=[c[2][0] for c in CASES])
def test_errors_name_file_line_and_fix(
    tmp_path: Path, text: str, line: int | None, fragments: list[str]
) -> None:
    error = spec_error(tmp_path, text)
    if line is None:
        line = 4
    assert_at(error, tmp_path / "spec.yaml", line, *fragments)


def test_blocks_that_each_name_a_workflow_need_none_at_the_top(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """
        blocks:
          - workflow: model_free.json
            grid: {Blur.sigma: [1, 2]}
          - workflow: txt2img_sd15.json
            grid: {KSampler.seed: [1]}
        """,
    )
    spec = load_spec(path)
    assert [b.workflows for b in spec.blocks] == [("model_free.json",), ("txt2img_sd15.json",)]
    assert len(Grid(spec)) == 3


def test_an_unknown_top_level_key_without_a_dot_still_gets_a_close_match(
    tmp_path: Path,
) -> None:
    error = spec_error(tmp_path, "workflow: model_free.json\nsampel: 2\n")
    assert "did you mean 'sample'?" in str(error) and "input address" not in str(error)


def test_include_needs_a_workflow_when_several_are_swept(tmp_path: Path) -> None:
    error = spec_error(
        tmp_path,
        """
        workflow: [model_free.json, ambiguous.json]
        grid:
          1.color: [0, 1]
        include:
          - {1.color: 5}
        """,
        "ambiguous.json",
    )
    assert_at(error, tmp_path / "spec.yaml", 5, "add workflow: to say which")


def test_ui_format_workflow_names_the_workflow_and_the_spec_line(tmp_path: Path) -> None:
    error = spec_error(tmp_path, "name: x\nworkflow: ui_format.json\n", "ui_format.json")
    assert error.path == str(tmp_path / "ui_format.json")
    assert error.line == 1
    assert "Export (API)" in str(error)
    assert f"named at {tmp_path / 'spec.yaml'}:2" in str(error)


def test_invalid_workflow_json_names_its_line_and_column(tmp_path: Path) -> None:
    error = spec_error(tmp_path, "workflow: invalid.json\n", "invalid.json")
    assert error.path == str(tmp_path / "invalid.json")
    assert error.line == 4
    assert f"{tmp_path / 'invalid.json'}:4:" in str(error)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found") as info:
        load_spec(tmp_path / "nope.yaml")
    assert info.value.path == str(tmp_path / "nope.yaml")


def test_environment_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYFLEET_TEST_HOST", "gpu9")
    path = write_spec(
        tmp_path, "workflow: model_free.json\nservers: http://${COMFYFLEET_TEST_HOST}:8188\n"
    )
    assert load_spec(path).servers[0].url == "http://gpu9:8188"


def test_a_ten_million_run_grid_loads_and_samples_five(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """
        workflow: model_free.json
        sample: 5
        grid:
          Noise.seed: {range: [0, 10000]}
          Canvas.color: {range: [0, 1000]}
        """,
    )
    grid = Grid(load_spec(path))
    assert grid.counts.product == 10**7
    assert len(grid) == 5 and len(list(grid)) == 5


def test_non_utf8_spec_names_its_line(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "workflow: model_free.json\n")
    path.write_bytes(b"workflow: model_free.json\nname: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert_at(info.value, path, 2, "not UTF-8", "0xe9")


def test_a_directory_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_unicode_values_load_as_written(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path, "workflow: model_free.json\ngrid:\n  Save.filename_prefix: [日本語 😀, café]\n"
    )
    (block,) = load_spec(path).blocks
    assert block.axes[0].columns[0] == ("日本語 😀", "café")


def test_spec_remembers_the_line_of_each_value(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """
        workflow: model_free.json
        output: out
        set:
          Canvas.width: 32
        grid:
          Blur.sigma:
            - 1.0
            - 2.0
          Noise.seed: {range: [4]}
        include:
          - {Blur.sigma: 3.0, Noise.seed: 9}
        """,
    )
    spec = load_spec(path)
    assert spec.line_for("output") == 2
    assert spec.line_for("Canvas.width", 32) == 4
    assert spec.line_for("Blur.sigma", 2.0) == 8
    assert spec.line_for("Blur.sigma", 3.0) == 11
    assert spec.line_for("Noise.seed", 2) == 9  # a range: the line of the range
    assert spec.line_for("Blur.sigma", 99.0) == 6  # unknown value: where the address is


# -- plot: ---------------------------------------------------------------------

PLOTTED = "workflow: model_free.json\nset:\n  Canvas.width: 32\ngrid:\n  Blur.sigma: [1.0, 2.0]\n"
"""Five lines: a report with a Canvas.width column (set) and a Blur.sigma column (swept)."""


def test_plots_load_with_defaults_names_and_typed_filters(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        PLOTTED
        + """  Noise.strength: {range: [0.25, 1.0, 0.25]}
plot:
  - {x: Blur.sigma, y: Noise.strength}
  - x: Noise.strength
    where: {Blur.sigma: 2, Canvas.width: 32}
    name: strength at sigma 2
  - {x: Canvas.width, name: width.SVG}
  - {x: Blur.sigma, name: cfg-7.5}
""",
    )
    spec = load_spec(path)
    grid_plot, row, flat, dotted = spec.plots
    assert (grid_plot.x, grid_plot.y, grid_plot.where) == ("Blur.sigma", "Noise.strength", {})
    assert grid_plot.file == "xy-Blur.sigma-Noise.strength.png"
    assert grid_plot.line == 8  # the entry's own line, under plot:
    assert (row.y, row.where, row.file) == (
        None,
        {"Blur.sigma": 2, "Canvas.width": 32},
        "strength at sigma 2.png",
    )
    assert flat.file == "width.SVG"  # a set address is a report column too
    assert dotted.file == "cfg-7.5.png"  # ".5" is part of the name, not a format


def test_one_plot_may_be_a_mapping_and_titles_become_safe_file_names(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        "workflow: txt2img_sd15.json\ngrid:\n  Load Checkpoint.ckpt_name: [a, b]\n"
        "plot: {x: Load Checkpoint.ckpt_name}\n",
    )
    (plot,) = load_spec(path).plots
    assert plot.file == "xy-Load_Checkpoint.ckpt_name.png"


def test_plots_see_every_block_and_the_sample_specs_declare_one() -> None:
    spec = load_spec(SPECS / "blocks.yaml")
    assert spec.plots == ()
    shootout = load_spec(SAMPLES / "sampler_shootout.yaml", environ={})
    assert [(p.x, p.y, dict(p.where)) for p in shootout.plots] == [
        ("KSampler.cfg", "KSampler.sampler_name", {"Positive.text": "a cat"})
    ]
    (model_free,) = load_spec(SAMPLES / "model_free_sweep.yaml").plots
    assert model_free.file == "strength-by-blur.png"


def test_a_plot_may_name_an_address_of_any_block(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """
        workflow: model_free.json
        blocks:
          - grid: {Blur.sigma: [1.0, 2.0]}
          - grid: {Noise.seed: [1, 2]}
        plot: {x: Noise.seed, y: Blur.sigma}
        """,
    )
    (plot,) = load_spec(path).plots
    assert (plot.x, plot.y) == ("Noise.seed", "Blur.sigma")


PLOT_CASES = [
    # (plot: text after PLOTTED, line, fragments); PLOTTED is five lines long
    ("plot: [{x: Blur.sigma, wehre: {}}]\n", 6, ["unknown key 'wehre' in a plot", "'where'?"]),
    (
        "plot:\n  - x: Noise.seed\n",
        7,
        [
            "plot x: 'Noise.seed' is not an address this sweep sets or varies",
            "Valid: Canvas.width, Blur.sigma",
        ],
    ),
    ("plot: {x: Blur.sigmaa}\n", 6, ["did you mean 'Blur.sigma'?", "Valid: Canvas.width"]),
    ("plot: {x: 3.sigma}\n", 6, ["it is the input this spec calls Blur.sigma, so write that."]),
    ("plot: {x: Blur.sigma, y: Blur.sigma}\n", 6, ["x: and y: are both Blur.sigma"]),
    ("plot: {y: Blur.sigma}\n", 6, ["a plot needs x:", "this sweep has Canvas.width, Blur.sigma"]),
    ("plot: {x: Blur.sigma, y: [a]}\n", 6, ["plot y: ['a'] is not an address"]),
    (
        "plot:\n  x: Canvas.width\n  where:\n    Blur.sigma: 3.0\n",
        9,
        ["plot where: Blur.sigma: 3.0 is not one of its values (1.0, 2.0)", "no run would match"],
    ),
    ("plot: {x: Blur.sigma, where: {Blur.sigma: 1.0}}\n", 6, ["is the plot's x axis"]),
    ("plot: {x: Blur.sigma, where: {Noise.seed: 1}}\n", 6, ["plot where: 'Noise.seed'", "Valid:"]),
    ("plot: {x: Blur.sigma, where: {}}\n", 6, ["where must be a non-empty mapping"]),
    ("plot: {x: Blur.sigma, where: {Canvas.width: '32'}}\n", 6, ["'32' is not one of its values"]),
    ("plot: {x: Blur.sigma, name: a/b}\n", 6, ["plot name must be a file name without slashes"]),
    ("plot: {x: Blur.sigma, name: ..}\n", 6, ["plot name must be a file name"]),
    (
        "plot: {x: Blur.sigma, name: a.gif}\n",
        6,
        ["drawn as .png, .jpg, .jpeg, .pdf, .svg, not .gif"],
    ),
    (
        "plot:\n  - {x: Blur.sigma, name: p}\n  - {x: Canvas.width, name: p.png}\n",
        8,
        ["the plot at line 7 also writes p.png", "name: of its own"],
    ),
    ("plot: []\n", 6, ["plot must be a mapping of x: ADDRESS", "got an empty list"]),
    ("plot: Blur.sigma\n", 6, ["plot must be a mapping", "got str 'Blur.sigma'"]),
    ("plot:\n  - {x: Blur.sigma}\n  - 3\n", 8, ["plot must be a mapping", "got int 3"]),
]


@pytest.mark.parametrize(
    ("text", "line", "fragments"), PLOT_CASES, ids=[c[2][0] for c in PLOT_CASES]
)
def test_plot_errors_name_file_line_and_what_is_valid(
    tmp_path: Path, text: str, line: int, fragments: list[str]
) -> None:
    error = spec_error(tmp_path, PLOTTED + text)
    assert_at(error, tmp_path / "spec.yaml", line, *fragments)
