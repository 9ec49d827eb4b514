"""comfyfleet: watch a fleet of ComfyUI servers, and sweep parameter grids across them.

The product's name for its engine, :mod:`sweeps`: every public name of that
package is here too, so a notebook can say what it uses::

    import comfyfleet
    df = comfyfleet.load_report("runs/sampler-shootout")

Names resolve lazily, as in :mod:`sweeps`, so the import stays cheap.
"""

from __future__ import annotations

from typing import Any

import sweeps

__all__ = list(sweeps.__all__)


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'comfyfleet' has no attribute {name!r}")
    return getattr(sweeps, name)


def __dir__() -> list[str]:
    return sorted(__all__)
