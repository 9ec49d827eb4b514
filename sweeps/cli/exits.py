"""How a command fails: one red line on stderr and an exit code, never a traceback.

0 when everything asked for succeeded, 1 when some runs failed or a server
failed us, 2 for bad input (spec, workflow, flags), caught before anything is
sent to a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..errors import SpecError

__all__ = ["BAD_INPUT", "bad_input", "fail"]

BAD_INPUT = 2


def fail(message: str) -> None:
    """Say what went wrong, on stderr, in red where the terminal has colour."""
    click.secho(message, fg="red", err=True)


@contextmanager
def bad_input() -> Iterator[None]:
    """A :class:`SpecError` inside becomes its message and exit code 2."""
    try:
        yield
    except SpecError as exc:
        fail(f"error: {exc}")
        raise SystemExit(BAD_INPUT) from None
