"""A yes/no question before anything destructive (interrupt, clear, free, remove)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only when the user confirms; Escape or No give False."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        #dialog {
            width: 60;
            max-width: 90%;
            height: auto;
            border: thick $warning 60%;
            background: $surface;
            padding: 1 2;
        }
        /* Full width, so that a long name, URL or id list wraps instead of being cut. */
        #question { width: 100%; text-style: bold; margin-bottom: 1; }
        #detail { width: 100%; color: $text-muted; margin-bottom: 1; }
        #buttons { height: auto; align-horizontal: right; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No", id="confirm-no", tooltip="Cancel"),
        Binding("y", "answer(True)", "Yes", id="confirm-yes", tooltip="Go ahead"),
    ]

    def __init__(self, question: str, detail: str = "", *, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question", markup=False)
            if self.detail:
                yield Label(self.detail, id="detail", markup=False)
            with Horizontal(id="buttons"):
                yield Button("No", id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
