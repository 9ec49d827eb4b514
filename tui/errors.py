"""How a failure reads on screen: one title and one message, never a traceback.

Engine calls that fan out over a TaskGroup (``FleetMonitor.facts``, the monitor
itself) fail with an ``ExceptionGroup`` whose text is the useless "unhandled
errors in a TaskGroup (3 sub-exceptions)". :func:`describe` digs out the first
real error so the user reads "cannot reach http://gpu1:8188 (GET /extensions)".
"""

from __future__ import annotations

from sweeps.errors import FleetError

__all__ = ["describe", "fleet_error"]


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def fleet_error(error: BaseException) -> FleetError | None:
    """``error`` itself, or the first error of its group, when it is a :class:`FleetError`.

    None when any part of it is something else (a bug, which should not pass for
    an outage).
    """
    leaves = _leaves(error)
    if leaves and all(isinstance(leaf, FleetError) for leaf in leaves):
        first = leaves[0]
        assert isinstance(first, FleetError)
        return first
    return None


def describe(error: BaseException | None, title: str = "Error") -> tuple[str, str]:
    """(title, message) for a notification about ``error``."""
    if error is None:
        return title, "failed"
    leaves = _leaves(error)
    first = leaves[0]
    more = f" (and {len(leaves) - 1} more)" if len(leaves) > 1 else ""
    if isinstance(first, FleetError):
        return first.title, f"{first}{more}"
    return title, f"{type(first).__name__}: {first}{more}"
