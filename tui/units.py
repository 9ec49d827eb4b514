"""How numbers read on screen: bytes, durations, ages. Pure functions, no widgets."""

from __future__ import annotations

__all__ = ["age", "duration", "gib", "percent", "short_id"]


def gib(value: float) -> str:
    """Bytes as GiB with one decimal (``12.3G``); MiB below one GiB."""
    if value < 1024**3:
        return f"{value / 1024**2:.0f}M"
    return f"{value / 1024**3:.1f}G"


def duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3:05``, ``1:02:03``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    if minutes:
        return f"{minutes}:{secs:02d}"
    return f"{secs}s"


def age(seconds: float) -> str:
    """A coarse age for "since when": ``now``, ``42s``, ``5m``, ``3h``, ``2d``."""
    if seconds < 1:
        return "now"
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.0f}%"


def short_id(prompt_id: str) -> str:
    """The first 8 characters of a prompt id, enough to tell prompts apart."""
    return prompt_id[:8]
