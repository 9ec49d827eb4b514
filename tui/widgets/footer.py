"""The footer both screens use: steady under focus changes, compact in narrow terminals."""

from __future__ import annotations

from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["COMPACT_BELOW", "SteadyFooter"]

COMPACT_BELOW = 100
"""Terminal widths under this drop the padding between keys, so that every key of the
fleet screen (and of a server's) fits in 80 columns next to the palette hint."""


class SteadyFooter(Footer):
    """A Footer that rebuilds only when the keys it shows change.

    Textual's Footer remounts all its keys whenever the bindings are refreshed,
    which includes every focus change; that remount and the screen-wide layout it
    causes cost more than the rest of a keypress. Moving between cards leaves the
    shown keys as they were, so here it costs nothing.
    """

    _shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        # Everything but the namespace (which node holds the binding): that changes
        # with the focus but not what the footer draws.
        shown = tuple(
            (key, binding, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
        )
        will_recompose = screen.app.app_focus and self.is_attached and screen is self.screen
        if will_recompose and shown == self._shown:
            return
        if will_recompose:
            self._shown = shown
        super().bindings_changed(screen)

    def on_resize(self, event: Resize) -> None:
        compact = event.size.width < COMPACT_BELOW
        if compact != self.compact:
            self.compact = compact
