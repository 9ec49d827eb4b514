"""The fleet one-liners: status, queue, history, interrupt, cancel, clear, free.

Each asks every server at once (the usual sources: ``--server``, then
``$COMFYFLEET_SERVERS``, then the servers file) and prints a table, or with
``--json`` one JSON array with an object per server, for ``jq`` and scripts.

Exit codes a script can use: 0 when every server answered (and, for ``cancel``,
every prompt was found), 1 when any server failed us or a prompt was found
nowhere, 2 for bad input. A server that fails is still listed, with its error,
so the output always accounts for the whole fleet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from .exits import bad_input

if TYPE_CHECKING:
    from rich.table import Table

    from ..config import ServerConfig
    from ..fleetops import Answer

__all__ = ["COMMANDS"]

SERVER_HELP = "A ComfyUI server URL (http[s]://host[:port][/prefix]); repeat for several."


def _servers(cli: Sequence[str]) -> list[ServerConfig]:
    from ..servers_file import discover_servers

    with bad_input():
        return discover_servers(cli)


def _ask(
    cli: Sequence[str], ask: Callable[[list[ServerConfig]], Coroutine[Any, Any, list[Answer]]]
) -> list[Answer]:
    return asyncio.run(ask(_servers(cli)))


def _emit(
    answers: Sequence[Answer],
    as_json: bool,
    table: Callable[[Sequence[Answer]], Table],
    extra: dict[str, Any] | None = None,
) -> None:
    """Print the answers; exit 1 if any server failed. ``extra`` joins the JSON as an object."""
    if as_json:
        items = [a.to_json() for a in answers]
        click.echo(json.dumps({"servers": items, **extra} if extra else items, indent=2))
    else:
        from rich.console import Console

        console = Console()
        console.print(table(answers))
        for answer in answers:
            if answer.error:
                console.print(
                    f"[red]✗[/] {escape(answer.server.name)}: {escape(answer.error)}",
                    highlight=False,
                    soft_wrap=True,
                )
    if not all(a.ok for a in answers):
        raise SystemExit(1)


def _table(*columns: str, wrap: str = "") -> Table:
    """A borderless table; only the ``wrap`` column may break its text over lines."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("server", no_wrap=True)
    for column in columns:
        wraps = column == wrap
        table.add_column(column, no_wrap=not wraps, min_width=14 if wraps else None)
    return table


def _status_table(answers: Sequence[Answer]) -> Table:
    """A row per device (several for a multi-GPU server), memory as free/total GiB.

    Fits 80 columns: a down server says so where its version would be.
    """
    table = _table("ComfyUI", "device", "VRAM free", "RAM free", "run", "queued", wrap="device")
    for a in answers:
        name = escape(a.server.name)
        if not a.ok:
            table.add_row(name, "[red]down[/]", "", "", "", "", "")
            continue
        v = a.value
        ram = _free_of(v["ram_free"], v["ram_total"])
        queue = [str(v["queue_running"]), str(v["queue_pending"])]
        for i, d in enumerate(v["devices"] or [None]):
            device = (
                ["-", "-"]
                if d is None
                else [escape(d["label"]), _free_of(d["vram_free"], d["vram_total"])]
            )
            if i == 0:
                table.add_row(name, v["comfyui_version"] or "?", *device, ram, *queue)
            else:
                table.add_row("", "", *device, "", "", "")
    return table


def _free_of(free: int, total: int) -> str:
    return f"{free / 1024**3:.1f}/{total / 1024**3:.1f}G"


def _queue_table(answers: Sequence[Answer]) -> Table:
    table = _table("state", "prompt", "number")
    for a in answers:
        if not a.ok:
            table.add_row(escape(a.server.name), "[red]down[/]", "", "")
            continue
        rows = [("running", i) for i in a.value["running"]]
        rows += [("pending", i) for i in a.value["pending"]]
        if not rows:
            table.add_row(escape(a.server.name), "idle", "", "")
        for state, item in rows:
            table.add_row(escape(a.server.name), state, item["prompt_id"], f"{item['number']:g}")
    return table


def _history_table(answers: Sequence[Answer]) -> Table:
    table = _table("prompt", "outcome", "seconds", "files")
    for a in answers:
        if not a.ok:
            table.add_row(escape(a.server.name), "", "[red]down[/]", "", "")
            continue
        for entry in a.value["history"]:
            seconds = entry["seconds"]
            table.add_row(
                escape(a.server.name),
                entry["prompt_id"],
                entry["outcome"],
                "" if seconds is None else f"{seconds:.1f}",
                str(len(entry["files"])),
            )
    return table


def _action_table(column: str, describe: Callable[[dict[str, Any]], str]) -> Callable[..., Table]:
    def table(answers: Sequence[Answer]) -> Table:
        result = _table(column, wrap=column)
        for a in answers:
            result.add_row(escape(a.server.name), describe(a.value) if a.ok else "[red]failed[/]")
        return result

    return table


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


servers_option = click.option("--server", "-s", "servers", multiple=True, help=SERVER_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


@click.command()
@servers_option
@json_option
def status(servers: Sequence[str], as_json: bool) -> None:
    """Every server: up or down, versions, devices, VRAM and RAM, queue depth."""
    from ..fleetops import fleet_status

    _emit(_ask(servers, fleet_status), as_json, _status_table)


@click.command()
@servers_option
@json_option
def queue(servers: Sequence[str], as_json: bool) -> None:
    """The running and pending prompts of every server, in execution order."""
    from ..fleetops import fleet_queue

    _emit(_ask(servers, fleet_queue), as_json, _queue_table)


@click.command()
@servers_option
@json_option
@click.option(
    "-n",
    "last",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many finished prompts per server.",
)
def history(servers: Sequence[str], as_json: bool, last: int) -> None:
    """The last finished prompts of every server, newest first."""
    from ..fleetops import fleet_history

    _emit(_ask(servers, lambda s: fleet_history(s, last)), as_json, _history_table)


@click.command()
@servers_option
@json_option
def interrupt(servers: Sequence[str], as_json: bool) -> None:
    """Interrupt the running prompt on every server (pending ones stay queued)."""
    from ..fleetops import interrupt_running

    table = _action_table("interrupted", lambda v: v["interrupted"] or "nothing was running")
    _emit(_ask(servers, interrupt_running), as_json, table)


@click.command()
@click.argument("prompt_ids", nargs=-1, required=True, metavar="PROMPT_ID...")
@servers_option
@json_option
def cancel(prompt_ids: Sequence[str], servers: Sequence[str], as_json: bool) -> None:
    """Cancel prompts wherever they are: pending ones leave the queue, running ones are
    interrupted. Exit 1 if a prompt is on no server (finished, or never queued)."""
    from ..fleetops import cancel_prompts

    result = asyncio.run(cancel_prompts(_servers(servers), prompt_ids))

    def describe(value: dict[str, Any]) -> str:
        done = [f"{p} (pending)" for p in value["pending"]]
        done += [f"{p} (running, interrupted)" for p in value["running"]]
        return ", ".join(done) or "-"

    _report_missing(result.not_found, as_json)
    _emit(
        result.answers,
        as_json,
        _action_table("cancelled", describe),
        extra={"not_found": list(result.not_found)},
    )
    if result.not_found:
        raise SystemExit(1)


def _report_missing(not_found: Sequence[str], as_json: bool) -> None:
    if not_found and not as_json:
        click.secho(
            f"not queued or running on any server: {', '.join(not_found)}", fg="yellow", err=True
        )


@click.command()
@servers_option
@json_option
def clear(servers: Sequence[str], as_json: bool) -> None:
    """Remove every pending prompt from every server's queue (running ones go on)."""
    from ..fleetops import clear_queues

    table = _action_table("cleared", lambda v: _plural(len(v["cleared"]), "pending prompt"))
    _emit(_ask(servers, clear_queues), as_json, table)


@click.command()
@servers_option
@json_option
@click.option("--cache", "drop_cache", is_flag=True, help="Drop the node cache too.")
def free(servers: Sequence[str], as_json: bool, drop_cache: bool) -> None:
    """Unload models from every server's VRAM (POST /free)."""
    from ..fleetops import free_memory

    table = _action_table("freed", lambda v: "models and cache" if v["cache_dropped"] else "models")
    _emit(_ask(servers, lambda s: free_memory(s, drop_cache=drop_cache)), as_json, table)


COMMANDS = (status, queue, history, interrupt, cancel, clear, free)
