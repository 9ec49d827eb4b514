"""Ask for a server to add while the dashboard runs.

The dialog refuses what could never be watched, before it closes: a URL that
does not parse, a host name no resolver would accept, a port out of range, or a
server that is already on the dashboard. A host that is well formed but does
not answer is added: it shows as down, as it would from the command line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from sweeps.config import ServerConfig
from sweeps.errors import SpecError

__all__ = ["AddServerScreen", "check_server"]

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


def _host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        shown = host if len(host) <= 60 else host[:59] + "…"
        return f"{shown!r} is not a host name or an IP address"
    return None


def check_server(
    url: str, name: str = "", watched: Mapping[str, str] | None = None
) -> ServerConfig | str:
    """The server to add, or why not (a sentence for the dialog)."""
    url = url.strip()
    if not url:
        return "A URL is needed, e.g. http://gpu3:8188"
    try:
        config = ServerConfig(url, name=name.strip())
        parts = urlsplit(config.url)
        port = parts.port  # raises for a port that is not a number in 0..65535
    except SpecError as exc:
        return str(exc)
    except ValueError as exc:  # urlsplit: "Invalid IPv6 URL", "Port out of range"...
        return f"{url!r} is not a valid URL: {exc}"
    host = parts.hostname or ""
    if not host:
        return f"{url!r} names no host"
    if (problem := _host_problem(host)) is not None:
        return problem
    if port == 0:
        return "port 0 is not a port a server listens on"
    if watched and config.url in watched:
        return f"{config.url} is already watched (as {watched[config.url]})"
    return config


class AddServerScreen(ModalScreen[ServerConfig | None]):
    """Dismisses with a validated :class:`ServerConfig`, or None when cancelled."""

    DEFAULT_CSS = """
    AddServerScreen {
        align: center middle;
        #dialog {
            width: 64;
            max-width: 95%;
            height: auto;
            border: thick $primary 60%;
            background: $surface;
            padding: 1 2;
        }
        #title { text-style: bold; margin-bottom: 1; }
        Input { margin-bottom: 1; }
        #error { color: $error; width: 100%; height: auto; }
        #buttons { height: auto; align-horizontal: right; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add-server-cancel")]

    def __init__(self, watched: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.watched = dict(watched or {})
        """URL to name of the servers already on the dashboard: adding one again is refused."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Add a server", id="title")
            yield Input(placeholder="URL, e.g. http://gpu3:8188", id="url")
            yield Input(placeholder="name (optional)", id="name")
            yield Label("", id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="add", variant="primary")

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def _submit(self) -> None:
        url = self.query_one("#url", Input)
        name = self.query_one("#name", Input).value
        result = check_server(url.value, name, self.watched)
        if isinstance(result, str):
            self.query_one("#error", Label).update(result)
            url.focus()
            return
        self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
