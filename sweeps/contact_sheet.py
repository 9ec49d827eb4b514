"""The contact sheet: every run of a sweep on one HTML page, beside its images.

One card per run, in run order: its first image, the values it swept, how it
ended and where, and how long it took. A filter box narrows the cards to those
whose text matches (``euler``, ``cfg 7``, ``failed``, a server). The page sits in
the output directory and links the images by relative path, so the directory
can be zipped or served as it is; nothing is embedded and nothing is fetched.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .report import REPORT_NAME, load_report, param_columns, report_metadata
from .xyplot import IMAGE_SUFFIXES

__all__ = ["SHEET_NAME", "write_contact_sheet"]

SHEET_NAME = "index.html"

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
header { display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
input { font: inherit; padding: .3em .6em; width: 20em; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px;
       margin-top: 1em; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px;
         overflow: hidden; }
figure img { width: 100%; display: block; aspect-ratio: 1; object-fit: contain;
             background: #eee; }
figure .none { aspect-ratio: 1; display: grid; place-items: center; background: #eee;
               color: #666; }
figure.failed .none, figure.interrupted .none { background: #f4c7c3; color: #7a1f14; }
figcaption { padding: .5em .7em; font-size: 12px; line-height: 1.45; }
figcaption b { font-weight: 600; }
.meta { color: #666; }
"""

_FILTER = """
const box = document.getElementById("filter");
box.addEventListener("input", () => {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  for (const card of document.querySelectorAll("figure")) {
    const hit = words.every((w) => card.dataset.text.includes(w));
    card.hidden = !hit;
    shown += hit;
  }
  document.getElementById("count").textContent = shown;
});
"""


def write_contact_sheet(path: str | Path, dest: str | os.PathLike[str] | None = None) -> Path:
    """Write the contact sheet of the report at ``path`` (an output directory or its
    Parquet file) to ``dest``, by default ``index.html`` beside the report."""
    report = Path(path)
    out_dir = report if report.is_dir() else report.parent
    dest = Path(dest) if dest is not None else out_dir / SHEET_NAME
    df = load_report(path).sort("run_index")
    params = param_columns(df)
    swept = [c for c in params if df[c].n_unique() > 1]
    name = report_metadata(path).get("sweep")
    title = name if isinstance(name, str) else out_dir.name
    cards = [_card(run, swept, out_dir, dest.parent) for run in df.iter_rows(named=True)]
    counts = ", ".join(f"{n} {s}" for s, n in df.group_by("status").len().sort("status").rows())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>{escape(title)}</h1>
<span class="meta">{df.height} runs ({escape(counts)}); from {escape(REPORT_NAME)}</span>
<input id="filter" type="search" placeholder="filter: euler, cfg: 7, failed, a server">
<span class="meta"><span id="count">{df.height}</span> shown</span></header>
<main>
{"".join(cards)}
</main>
<script>{_FILTER}</script>
</body></html>
"""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8")
    return dest


def _card(run: dict[str, Any], swept: list[str], out_dir: Path, page_dir: Path) -> str:
    status = str(run["status"])
    values = [(address, _text(run[address])) for address in swept]
    meta = [status, str(run.get("server_name") or run["server"] or "no server")]
    if run["exec_s"] is not None:
        meta.append(f"{run['exec_s']:.1f} s")
    if run["error_type"]:
        meta.append(str(run["error_type"]))
    image = _first_image(run, out_dir)
    if image is not None:
        relative = Path(os.path.relpath(image.resolve(), page_dir.resolve())).as_posix()
        src = escape(quote(relative))
        picture = f'<a href="{src}"><img src="{src}" loading="lazy" alt=""></a>'
    else:
        picture = f'<div class="none">{escape(status if status != "success" else "no image")}</div>'
    # What the filter box matches: "cfg: 7" finds the runs whose caption says so.
    text = " ".join([f"#{run['run_index']}", *(f"{a}: {v}" for a, v in values), *meta])
    caption = "<br>".join(
        [f"#{run['run_index']}", *(f"<b>{escape(a)}</b>: {escape(v)}" for a, v in values)]
    )
    return (
        f'<figure class="{escape(status)}" data-text="{escape(text.lower())}">{picture}'
        f'<figcaption>{caption}<br><span class="meta">{escape(" · ".join(meta))}</span>'
        "</figcaption></figure>\n"
    )


def _first_image(run: dict[str, Any], out_dir: Path) -> Path | None:
    for output in run["outputs"] or ():
        path = output.get("path")
        file = out_dir / str(path) if path else None
        if file is not None and file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
            return file
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
