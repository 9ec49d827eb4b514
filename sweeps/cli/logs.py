"""``-v`` and ``--log-file``: the standard logging module, configured once per command.

The engine logs through ``logging.getLogger(__name__)`` and never configures
anything (a notebook or another program decides where its logs go). Requests
are httpx's own log lines (logger ``httpx``: one per request with its status),
so nothing here wraps the client. ``-v`` shows what the engine decides (retries,
failovers, cool-offs, runs moved or stolen); ``-vv`` adds every request and each
run's timings. A log file gets everything, at debug level, whatever ``-v`` says:
it is what a user attaches to a bug report.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["configure_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
OUR_LOGGERS = ("sweeps", "tui")


def configure_logging(verbosity: int, log_file: Path | None) -> None:
    """0: warnings only; 1: our decisions; 2 or more: debug, every request included."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 or log_file is not None else logging.INFO)
    console = _CurrentStderr()
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    if verbosity < 2:
        console.addFilter(_Ours(logging.WARNING if verbosity == 0 else logging.INFO))
    root.addHandler(console)
    if log_file is not None:
        file = logging.FileHandler(log_file, encoding="utf-8")
        file.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(file)


class _Ours(logging.Filter):
    """Our records from ``level`` up; anyone else's (httpx logs every request at INFO)
    only from WARNING up."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in OUR_LOGGERS:
            return record.levelno >= self.level
        return record.levelno >= logging.WARNING


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time: while the dashboard runs,
    Textual captures it, so a log line never tears the screen."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)
