"""The ``comfyfleet`` command line: the one door from the engine to Rich and the dashboard.

The engine (the rest of :mod:`sweeps`) publishes typed values and never prints;
this package turns them into tables, progress bars and exit codes, and opens the
Textual dashboard (:mod:`tui`) for the commands that ask for it.
"""

from .commands import main

__all__ = ["main"]
