"""Workflows tests submit, built from the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "sample_workflows"


def sd15(seed: int, steps: int = 8) -> dict[str, Any]:
    """The classic SD1.5 text-to-image graph with its KSampler's seed and steps set."""
    graph: dict[str, Any] = json.loads((SAMPLES / "txt2img_sd15.json").read_text())
    graph["3"]["inputs"].update(seed=seed, steps=steps)
    return graph
