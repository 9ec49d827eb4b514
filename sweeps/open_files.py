"""The process's open-file budget: a sweep holds sockets to every server at once.

The common default soft limit (``ulimit -n 1024``) is below what a 1,000-server
fleet needs. The soft limit may be raised to the hard one without privilege, so a
sweep does that; when even the hard limit is too low it says so before anything
is queued, instead of failing mid-sweep with EMFILE.
"""

from __future__ import annotations

import resource

from .errors import SpecError

__all__ = ["check_open_files", "files_needed"]

_SPARE = 64
"""The journal, report parts, downloads being written, stdio, the event loop."""


def files_needed(servers: int, depth: int) -> int:
    """Sockets a sweep may hold: per server its websocket and one HTTP connection per
    slot plus one (a download while the next prompt is posted), and some spare."""
    return servers * (depth + 2) + _SPARE


def check_open_files(servers: int, *, depth: int = 2) -> int:
    """Raise the soft open-file limit as far as needed (up to the hard limit); return
    it. :class:`SpecError` when the fleet needs more than the hard limit allows."""
    needed = files_needed(servers, depth)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass  # not allowed here (a sandbox): judged by the limit as it is
    if soft < needed:
        raise SpecError(
            f"{servers} servers need about {needed:,} open files, and this process may "
            f"open only {soft:,} (ulimit -n; hard limit {hard:,}); raise it (ulimit -n "
            f"{needed}, or LimitNOFILE= for a service) or sweep fewer servers at once"
        )
    return soft
