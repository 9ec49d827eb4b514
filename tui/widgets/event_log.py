"""A server's event log: link changes, prompts starting and ending, errors, actions."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from sweeps.state import LogLine

__all__ = ["EventLog"]

_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}


class EventLog(RichLog):
    """Appends only the lines it has not shown yet."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, wrap=True, markup=False, max_lines=500)
        self._last: LogLine | None = None

    def show_lines(self, lines: tuple[LogLine, ...]) -> None:
        start = 0
        if self._last is not None:
            for index in range(len(lines) - 1, -1, -1):
                if lines[index] is self._last:
                    start = index + 1
                    break
        for line in lines[start:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
            text = Text(f"{stamp} ", style="dim")
            text.append(line.text, style=_STYLE[line.level])
            self.write(text)
        if lines:
            self._last = lines[-1]
