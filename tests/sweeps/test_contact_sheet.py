"""The contact sheet: a card per run, images linked by relative path, failures marked."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from click.testing import CliRunner
from PIL import Image

from sweeps.cli import main
from sweeps.contact_sheet import write_contact_sheet
from sweeps.report import ReportWriter, RunRecord


class _Cards(HTMLParser):
    """The page's figures: their attributes, and the src of the image inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.cards.append(dict(attrs))
        elif tag == "img" and self.cards:
            self.cards[-1]["img"] = dict(attrs)["src"]


IMAGE = "00000-9-cat & dog.png"


def _report(out: Path) -> Path:
    out.mkdir(parents=True)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(out / IMAGE)
    output = {"node_id": "9", "filename": "x.png", "subfolder": "", "type": "output"}
    params = {"KSampler.cfg": 4.0, "Positive.text": "a <cat>", "KSampler.steps": 20}
    base = RunRecord("r0", 0, "wf", 0, params, "success")
    with ReportWriter(out, addresses=list(params)) as report:
        report.metadata["comfyfleet.sweep"] = '"sheet"'
        report.append(
            replace(
                base,
                server="gpu1",
                exec_s=1.25,
                outputs=({**output, "path": "00000-9-cat & dog.png"},),
            )
        )
        report.append(
            replace(
                base,
                run_id="r1",
                run_index=1,
                params={**params, "KSampler.cfg": 7.0, "Positive.text": "a <dog>"},
                status="failed",
                server="gpu2",
                error_type="OutOfMemoryError",
            )
        )
    return out


def test_a_card_per_run_with_its_image_and_swept_values(tmp_path: Path) -> None:
    out = _report(tmp_path / "out")
    page = write_contact_sheet(out)
    assert page == out / "index.html"
    html = page.read_text()
    parser = _Cards()
    parser.feed(html)
    ok, failed = parser.cards
    assert ok["class"] == "success" and (out / unquote(str(ok["img"]))).is_file()
    assert "kSampler.cfg: 4.0".lower() in str(ok["data-text"]) and "gpu1" in str(ok["data-text"])
    assert failed["class"] == "failed" and "img" not in failed
    assert "outofmemoryerror" in str(failed["data-text"])
    assert "KSampler.steps" not in html  # the same in every run: not a swept value
    assert "<cat>" not in html and "&lt;cat&gt;" in html  # values are escaped
    assert "<title>sheet</title>" in html


def test_the_sheet_command_writes_where_asked(tmp_path: Path) -> None:
    out = _report(tmp_path / "out")
    dest = tmp_path / "elsewhere" / "sheet.html"
    result = CliRunner().invoke(main, ["sheet", str(out), "-o", str(dest)])
    assert result.exit_code == 0, result.output
    parser = _Cards()
    parser.feed(dest.read_text())
    assert unquote(str(parser.cards[0]["img"])) == f"../out/{IMAGE}"
    missing = CliRunner().invoke(main, ["sheet", str(tmp_path)])
    assert missing.exit_code == 2 and "not found" in missing.stderr
