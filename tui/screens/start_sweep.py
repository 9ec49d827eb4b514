"""Ask for a sweep spec (and where its results go) to run from the dashboard.

The dialog only gathers and checks what the user types: that the spec path names
a file and the output path is not a file. It announces the choice with
:class:`StartSweepScreen.Submitted` and stays open while the app plans the sweep
against the servers it watches (``planning``), so a spec the servers reject can
be fixed and tried again without typing it anew; the app dismisses it with True
once the sweep has started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label

__all__ = ["OutputDirValidator", "SpecFileValidator", "StartSweepScreen"]


def _path(value: str) -> Path:
    return Path(value.strip()).expanduser()


class SpecFileValidator(Validator):
    """The spec path must name an existing file (a stat, no parsing)."""

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.failure("Enter the path of a sweep spec (YAML).")
        path = _path(value)
        if path.is_dir():
            return self.failure(f"{path} is a directory, not a spec file.")
        if not path.is_file():
            return self.failure(f"No such file: {path}")
        return self.success()


class OutputDirValidator(Validator):
    """Empty (the spec's own ``output``) or a path that is not an existing file."""

    def validate(self, value: str) -> ValidationResult:
        if value.strip() and _path(value).is_file():
            return self.failure(f"{_path(value)} is a file, not a directory.")
        return self.success()


class StartSweepScreen(ModalScreen[bool]):
    """Dismissed with True by the app once the sweep started; False when cancelled."""

    DEFAULT_CSS = """
    StartSweepScreen {
        align: center middle;
        #dialog {
            width: 72;
            max-width: 95%;
            height: auto;
            border: thick $primary 60%;
            background: $surface;
            padding: 1 2;
        }
        #title { text-style: bold; }
        #servers { color: $text-muted; margin-bottom: 1; }
        .field { color: $text-muted; }
        /* Each status line also spaces its field from the next. */
        #spec-status { height: 1; color: $text-muted; }
        #spec-status.-invalid { color: $error; }
        #spec-status.-valid { color: $success; }
        #out-status { height: 1; color: $error; }
        #buttons { height: auto; align-horizontal: right; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS = [
        Binding(
            "escape", "cancel", "Cancel", id="start-sweep-cancel", tooltip="Close; start nothing"
        )
    ]

    planning: reactive[bool] = reactive(False)
    """True while the app checks the spec against the servers; Start is disabled meanwhile."""

    @dataclass
    class Submitted(Message):
        """The user asked to run the sweep in ``spec`` (results in ``out_dir``, or the spec's)."""

        dialog: StartSweepScreen
        spec: Path
        out_dir: Path | None

        @property
        def control(self) -> StartSweepScreen:
            return self.dialog

    def __init__(self, servers: Sequence[str] = ()) -> None:
        super().__init__()
        self.servers = list(servers)
        """Names of the servers the sweep will run on (the ones the dashboard watches)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Run a sweep", id="title")
            yield Label(self._servers_line(), id="servers", markup=False)
            yield Label("Spec file", classes="field")
            yield Input(
                placeholder="e.g. sweeps/portrait.yaml",
                validators=[SpecFileValidator()],
                validate_on=["changed", "submitted"],
                id="spec",
            )
            yield Label("", id="spec-status", markup=False)
            yield Label("Output directory (optional)", classes="field")
            yield Input(
                placeholder="default: the spec's own output",
                validators=[OutputDirValidator()],
                validate_on=["changed", "submitted"],
                id="out-dir",
            )
            yield Label("", id="out-status", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Start", id="start", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#spec", Input).focus()

    def _servers_line(self) -> str:
        if not self.servers:
            return "No server is watched: the spec's servers (or the config's) are used."
        names = ", ".join(self.servers[:4]) + (" …" if len(self.servers) > 4 else "")
        noun = "server" if len(self.servers) == 1 else "servers"
        return f"Runs on the {len(self.servers)} watched {noun}: {names}"

    # -- state --------------------------------------------------------------

    def watch_planning(self, planning: bool) -> None:
        if not self.is_mounted:
            return
        self.query_one("#start", Button).disabled = planning
        status = self.query_one("#spec-status", Label)
        if planning:
            status.set_classes("")
            status.update("Checking the spec against the servers…")
        else:
            spec = self.query_one("#spec", Input)
            self._show_spec_status(spec.validate(spec.value))

    def _show_spec_status(self, result: ValidationResult | None) -> None:
        status = self.query_one("#spec-status", Label)
        ok = result is None or result.is_valid
        status.set_class(not ok, "-invalid")
        status.set_class(ok, "-valid")
        status.update("✓ found" if ok else "; ".join(result.failure_descriptions if result else []))

    @on(Input.Changed, "#spec")
    def _spec_changed(self, event: Input.Changed) -> None:
        if not self.planning:
            self._show_spec_status(event.validation_result)

    @on(Input.Changed, "#out-dir")
    def _out_changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        failed = result is not None and not result.is_valid
        text = "; ".join(result.failure_descriptions) if result is not None and failed else ""
        self.query_one("#out-status", Label).update(text)

    # -- intent up ----------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def _submit(self) -> None:
        if self.planning:
            return
        spec = self.query_one("#spec", Input)
        out = self.query_one("#out-dir", Input)
        spec_check = spec.validate(spec.value)
        out_check = out.validate(out.value)
        self._show_spec_status(spec_check)
        if spec_check is not None and not spec_check.is_valid:
            spec.focus()
            return
        if out_check is not None and not out_check.is_valid:
            out.focus()
            return
        out_dir = _path(out.value) if out.value.strip() else None
        self.post_message(self.Submitted(self, _path(spec.value), out_dir))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
