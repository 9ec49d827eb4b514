"""Ask for a server to add while the dashboard runs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from sweeps.config import ServerConfig
from sweeps.errors import SpecError

__all__ = ["AddServerScreen"]


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
        #error { color: $error; height: auto; }
        #buttons { height: auto; align-horizontal: right; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add-server-cancel")]

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
        url = self.query_one("#url", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        if not url:
            self.query_one("#error", Label).update("A URL is needed.")
            return
        try:
            config = ServerConfig(url, name=name)
        except SpecError as exc:
            self.query_one("#error", Label).update(str(exc))
            return
        self.dismiss(config)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
