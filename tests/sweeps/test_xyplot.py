"""The X/Y plot: which image lands in which cell, --where filters, and the drawing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sweeps.errors import SpecError
from sweeps.report import ReportWriter, RunRecord
from sweeps.xyplot import axis_label, parse_where, plan_xy_plot, plan_xyz_plot, render_xy_plot

COLOURS = {"euler": (255, 0, 0), "dpmpp_2m": (0, 0, 255)}


def _run(
    out: Path,
    index: int,
    params: dict[str, object],
    status: str = "success",
    colour: tuple[int, int, int] | None = None,
) -> RunRecord:
    """A run record; with ``colour``, its one output is a solid image saved in ``out``."""
    outputs: tuple[dict[str, object], ...] = ()
    if colour is not None:
        name = f"{index:05d}-9-img.png"
        Image.new("RGB", (32, 32), colour).save(out / name)
        output = {"node_id": "9", "filename": "img.png", "subfolder": "", "type": "output"}
        outputs = ({**output, "path": name},)
    return RunRecord(
        run_id=f"r{index}",
        run_index=index,
        workflow="wf",
        repeat=0,
        params=params,
        status=status,  # type: ignore[arg-type]
        outputs=outputs,
    )


def _sweep(out: Path, rows: list[tuple[str, float, int, str]]) -> Path:
    """A report of runs (sampler, cfg, seed, status), each success with a solid image."""
    with ReportWriter(
        out, addresses=["KSampler.sampler_name", "KSampler.cfg", "KSampler.seed"]
    ) as report:
        report.metadata["comfyfleet.sweep"] = '"shootout"'
        for index, (sampler, cfg, seed, status) in enumerate(rows):
            params = {"KSampler.sampler_name": sampler, "KSampler.cfg": cfg, "KSampler.seed": seed}
            colour = COLOURS[sampler] if status == "success" else None
            report.append(_run(out, index, params, status, colour))
    return out


ROWS = [
    ("euler", 7.0, 1, "success"),
    ("euler", 4.0, 1, "failed"),
    ("dpmpp_2m", 7.0, 1, "success"),
    ("euler", 7.0, 2, "success"),
    ("euler", 4.0, 2, "success"),
]


def test_each_cell_shows_the_first_image_that_fits_it(tmp_path: Path) -> None:
    out = _sweep(tmp_path, ROWS)
    plot = plan_xy_plot(out, x="KSampler.cfg", y="KSampler.sampler_name")
    assert plot.xs == (4.0, 7.0)  # numeric axes ascend, whatever the run order
    assert plot.ys == ("euler", "dpmpp_2m")  # others keep the spec's order
    by_place = {(c.x, c.y): c for c in plot.cells}
    assert by_place[(7.0, "euler")].run_index == 0
    assert by_place[(4.0, "euler")].run_index == 4  # run 1 failed; run 4 has an image
    assert by_place[(7.0, "dpmpp_2m")].image == out / "00002-9-img.png"
    assert by_place[(4.0, "dpmpp_2m")].note == "no run"
    assert plot.varying == {"KSampler.seed": 2}
    assert "--where KSampler.seed=VALUE" in plot.warnings()[0]


def test_where_is_typed_against_the_column(tmp_path: Path) -> None:
    out = _sweep(tmp_path, ROWS)
    plot = plan_xy_plot(
        out, x="KSampler.cfg", y="KSampler.sampler_name", where=parse_where(["KSampler.seed=1"])
    )
    by_place = {(c.x, c.y): c for c in plot.cells}
    assert by_place[(4.0, "euler")].note == "failed"
    assert by_place[(4.0, "euler")].run_index == 1
    assert plot.varying == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"x": "KSampler.steps"},
            "not a swept address.*KSampler.sampler_name, KSampler.cfg, KSampler.seed",
        ),
        ({"x": "KSampler.cfg", "y": "KSampler.cfg"}, "two different addresses"),
        (
            {"x": "KSampler.cfg", "where": {"KSampler.seed": "three"}},
            "expected an integer; its values: 1, 2",
        ),
        (
            {"x": "KSampler.cfg", "where": {"KSampler.seed": "9"}},
            "no run .* matches --where KSampler.seed=9",
        ),
    ],
)
def test_bad_axes_and_filters_name_what_is_valid(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    out = _sweep(tmp_path, ROWS)
    with pytest.raises(SpecError, match=message):
        plan_xy_plot(out, **kwargs)


def test_where_needs_address_equals_value() -> None:
    with pytest.raises(SpecError, match="expected ADDRESS=VALUE"):
        parse_where(["KSampler.seed"])


def test_a_directory_without_a_report_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no report.parquet here"):
        plan_xy_plot(tmp_path, x="a.b")


def test_the_drawing_holds_every_image_in_its_column(tmp_path: Path) -> None:
    out = _sweep(tmp_path / "out", ROWS)
    one_row = render_xy_plot(
        plan_xy_plot(
            out, x="KSampler.sampler_name", where={"KSampler.seed": 1, "KSampler.cfg": 7.0}
        ),
        tmp_path / "row.png",
        cell_px=64,
    )
    grid = render_xy_plot(
        plan_xy_plot(out, x="KSampler.cfg", y="KSampler.sampler_name"),
        tmp_path / "grid.png",
        cell_px=64,
    )
    with Image.open(one_row) as row, Image.open(grid) as full:
        assert full.height > row.height  # two rows of cells, not one
        pixels = row.convert("RGB")
        width, height = pixels.size
        # euler (red) is drawn left of dpmpp_2m (blue), in the order of the spec.
        spots = {
            colour: [
                x for x in range(width) for y in range(height) if pixels.getpixel((x, y)) == colour
            ]
            for colour in COLOURS.values()
        }
        reds, blues = spots[COLOURS["euler"]], spots[COLOURS["dpmpp_2m"]]
        assert reds and blues and max(reds) < min(blues)


def test_the_grid_command_writes_the_plot_beside_the_report(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sweeps.cli import main

    out = _sweep(tmp_path / "out", ROWS)
    runner = CliRunner()
    result = runner.invoke(
        main, ["grid", str(out), "-x", "KSampler.cfg", "-y", "KSampler.sampler_name"]
    )
    assert result.exit_code == 0, result.output
    written = out / "xy-KSampler.cfg-KSampler.sampler_name.png"
    assert f"{written}: 3 of 4 cells have an image" in result.stdout
    assert "KSampler.seed has 2 values within each cell" in result.stderr
    with Image.open(written) as image:
        assert image.format == "PNG"

    bad = runner.invoke(main, ["grid", str(out), "-x", "KSampler.steps"])
    assert bad.exit_code == 2
    assert "not a swept address" in bad.stderr


def test_runs_of_a_workflow_without_the_plotted_input_are_left_out(tmp_path: Path) -> None:
    out = _sweep(tmp_path, ROWS)
    with ReportWriter(out) as report:  # a second workflow's run: no KSampler at all
        report.append(_run(out, 9, {"Noise.strength": 0.5}, colour=(0, 255, 0)))
    plot = plan_xy_plot(out, x="KSampler.cfg", y="KSampler.sampler_name")
    assert plot.xs == (4.0, 7.0) and plot.ys == ("euler", "dpmpp_2m")
    assert all(cell.run_index != 9 for cell in plot.cells)
    with pytest.raises(
        SpecError, match="no run of .* has a value for Noise.strength and KSampler.cfg"
    ):
        plan_xy_plot(out, x="Noise.strength", y="KSampler.cfg")


def test_a_zip_partner_is_not_named_twice(tmp_path: Path) -> None:
    with ReportWriter(tmp_path) as report:
        for index, (cfg, positive, negative) in enumerate(
            [(4.0, "a cat", "blurry"), (4.0, "a dog", "lowres"), (7.0, "a cat", "blurry")]
        ):
            params = {"cfg": cfg, "Positive.text": positive, "Negative.text": negative}
            report.append(_run(tmp_path, index, params, "failed"))
    plot = plan_xy_plot(tmp_path, x="cfg")
    assert plot.varying == {"Positive.text": 2}  # Negative.text moves with it


def test_labels_name_their_axis_and_the_heading_its_filter(tmp_path: Path) -> None:
    out = _sweep(tmp_path, ROWS)
    plot = plan_xy_plot(
        out, x="KSampler.cfg", y="KSampler.sampler_name", where={"KSampler.seed": "2"}
    )
    assert axis_label(plot, "KSampler.cfg") == "cfg"
    assert plot.heading == (
        "shootout: KSampler.cfg \u00d7 KSampler.sampler_name (where KSampler.seed = 2)"
    )
    zipped = replace(plot, x="Positive.text", y="Negative.text", where={})
    assert axis_label(zipped, "Positive.text") == "Positive.text"  # "text" would be ambiguous


def test_a_failed_cell_says_how_it_failed(tmp_path: Path) -> None:
    with ReportWriter(tmp_path) as report:
        record = _run(tmp_path, 0, {"cfg": 4.0}, "failed")
        report.append(replace(record, error_type="OutOfMemoryError"))
    [cell] = plan_xy_plot(tmp_path, x="cfg").cells
    assert cell.status == "failed" and cell.note == "failed\nOutOfMemoryError"


def test_a_z_axis_gives_one_grid_per_value_stacked_in_one_image(tmp_path: Path) -> None:
    out = _sweep(tmp_path / "out", ROWS)
    pages = plan_xyz_plot(out, x="KSampler.sampler_name", y="KSampler.cfg", z="KSampler.seed")
    assert [p.where for p in pages] == [{"KSampler.seed": 1}, {"KSampler.seed": 2}]
    first, second = ({(c.x, c.y): c.run_index for c in p.cells} for p in pages)
    assert first[("euler", 4.0)] == 1 and second[("euler", 4.0)] == 4
    assert second[("dpmpp_2m", 7.0)] is None  # seed 2 never ran dpmpp_2m
    one = render_xy_plot(pages[0], tmp_path / "one.png", cell_px=48)
    both = render_xy_plot(pages, tmp_path / "both.png", cell_px=48)
    with Image.open(one) as small, Image.open(both) as tall:
        assert tall.height > 1.5 * small.height
    with pytest.raises(SpecError, match="already an axis"):
        plan_xyz_plot(out, x="KSampler.cfg", z="KSampler.cfg")
    with pytest.raises(SpecError, match="matches --where KSampler.seed=9"):
        plan_xyz_plot(out, x="KSampler.cfg", z="KSampler.sampler_name", where={"KSampler.seed": 9})


def test_the_grid_command_takes_a_z_axis(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sweeps.cli import main

    out = _sweep(tmp_path / "out", ROWS)
    args = ["grid", str(out), "-x", "KSampler.cfg", "-y", "KSampler.sampler_name"]
    result = CliRunner().invoke(main, [*args, "-z", "KSampler.seed"])
    assert result.exit_code == 0, result.output
    written = out / "xyz-KSampler.cfg-KSampler.sampler_name-KSampler.seed.png"
    assert f"{written}: 4 of 8 cells have an image" in result.stdout
