"""Messages that carry engine outcomes into the DOM."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

__all__ = ["ActionFinished"]


@dataclass
class ActionFinished(Message):
    """A server action (interrupt, clear, delete, free) finished; screens refresh their data."""

    url: str
    what: str
    ok: bool
