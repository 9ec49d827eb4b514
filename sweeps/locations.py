"""Where comfyfleet keeps its files, as functions so tests can point them elsewhere.

Paths follow the XDG base directory spec: ``$XDG_CONFIG_HOME/comfyfleet`` for
configuration (``~/.config/comfyfleet`` when unset) and ``$XDG_DATA_HOME/comfyfleet``
for run reports. Each is read from the environment at call time, not import time,
so a test that sets ``XDG_CONFIG_HOME`` (or patches :func:`config_dir`, the one
seam everything else goes through) sees its own directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_dir", "data_dir", "servers_file"]

APP = "comfyfleet"


def _xdg(variable: str, default: str) -> Path:
    value = os.environ.get(variable, "")
    # The spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/comfyfleet``: the servers file and settings."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def data_dir() -> Path:
    """``$XDG_DATA_HOME/comfyfleet``: run reports and other files comfyfleet writes."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def servers_file() -> Path:
    """``servers.yaml`` in :func:`config_dir`; it need not exist."""
    return config_dir() / "servers.yaml"
