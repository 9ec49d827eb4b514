"""One-shot operations across a fleet: what each server says, or why it said nothing.

These back the scripting commands (``comfyfleet status``, ``queue``, ``history``,
``interrupt``, ``cancel``, ``clear``, ``free``). Every server is asked at once, and
one dead server never hides the others' answers: each gets an :class:`Answer`
that holds either its value or the reason it has none. Values are plain,
JSON-ready dicts, because their readers are scripts (``--json``) and tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import ComfyClient
from .config import ServerConfig
from .errors import FleetError, first_error
from .models import HistoryEntry, QueueItem, QueueState, SystemStats

__all__ = [
    "Answer",
    "Cancelled",
    "ask_all",
    "cancel_prompts",
    "clear_queues",
    "fleet_history",
    "fleet_queue",
    "fleet_status",
    "free_memory",
    "interrupt_running",
]

JSON = dict[str, Any]
Ask = Callable[[ComfyClient], Awaitable[JSON]]
"""What is asked of each server: a coroutine on its client, giving its answer."""


@dataclass(frozen=True)
class Answer:
    """One server's answer to a fleet operation: ``value``, or the ``error`` it gave."""

    server: ServerConfig
    value: JSON = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> JSON:
        """Flat, so ``jq '.[] | select(.ok) | .queue_pending'`` reads naturally."""
        return {
            "server": self.server.name,
            "url": self.server.url,
            "ok": self.ok,
            "error": self.error,
            **self.value,
        }


async def ask_all(servers: Sequence[ServerConfig], ask: Ask) -> list[Answer]:
    """``ask`` every server at once; answers in the order the servers were given."""

    async def one(server: ServerConfig) -> Answer:
        try:
            async with ComfyClient(server) as client:
                return Answer(server, await ask(client))
        except FleetError as exc:
            return Answer(server, error=str(exc))

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(server)) for server in servers]
    return [task.result() for task in tasks]


def _stats_json(stats: SystemStats) -> JSON:
    system = stats.system
    return {
        "comfyui_version": system.comfyui_version,
        "python_version": system.python_version,
        "pytorch_version": system.pytorch_version,
        "os": system.os,
        "ram_total": system.ram_total,
        "ram_free": system.ram_free,
        "devices": [
            {
                "name": d.name,
                "label": d.label,
                "type": d.type,
                "index": d.index,
                "vram_total": d.vram_total,
                "vram_free": d.vram_free,
            }
            for d in stats.devices
        ],
    }


def _item_json(item: QueueItem) -> JSON:
    return {"prompt_id": item.prompt_id, "number": item.number, "client_id": item.client_id}


def _queue_json(queue: QueueState) -> JSON:
    return {
        "running": [_item_json(i) for i in queue.running],
        "pending": [_item_json(i) for i in queue.pending],
    }


async def fleet_status(servers: Sequence[ServerConfig]) -> list[Answer]:
    """Versions, devices, memory and queue depth of every server."""

    async def ask(client: ComfyClient) -> JSON:
        async with asyncio.TaskGroup() as group:
            stats = group.create_task(client.system_stats())
            queue = group.create_task(client.get_queue())
        return {
            **_stats_json(stats.result()),
            "queue_running": len(queue.result().running),
            "queue_pending": len(queue.result().pending),
        }

    return await ask_all(servers, _unwrapped(ask))


async def fleet_queue(servers: Sequence[ServerConfig]) -> list[Answer]:
    """The running and pending prompts of every server, pending in execution order."""

    async def ask(client: ComfyClient) -> JSON:
        return _queue_json(await client.get_queue())

    return await ask_all(servers, ask)


def _entry_json(entry: HistoryEntry) -> JSON:
    started, finished = entry.started_ms, entry.finished_ms
    return {
        "prompt_id": entry.prompt_id,
        "number": entry.number,
        "outcome": entry.outcome,
        "started_ms": started,
        "finished_ms": finished,
        "seconds": (finished - started) / 1000 if started and finished else None,
        "cached_nodes": len(entry.cached_nodes),
        "files": [
            {"filename": f.filename, "subfolder": f.subfolder, "type": f.type} for f in entry.files
        ],
    }


async def fleet_history(servers: Sequence[ServerConfig], last: int) -> list[Answer]:
    """The ``last`` finished prompts of every server, newest first."""

    async def ask(client: ComfyClient) -> JSON:
        entries = await client.get_history(max_items=last)
        newest_first = sorted(entries, key=lambda e: e.number, reverse=True)
        return {"history": [_entry_json(e) for e in newest_first[:last]]}

    return await ask_all(servers, ask)


async def interrupt_running(servers: Sequence[ServerConfig]) -> list[Answer]:
    """Interrupt whatever runs on each server; says which prompt that was."""

    async def ask(client: ComfyClient) -> JSON:
        running = (await client.get_queue()).running
        if not running:
            return {"interrupted": None}
        # Naming the prompt makes this a no-op if it finished in the meantime, so a
        # prompt queued after it is never hit by mistake.
        await client.interrupt(running[0].prompt_id)
        return {"interrupted": running[0].prompt_id}

    return await ask_all(servers, ask)


async def clear_queues(servers: Sequence[ServerConfig]) -> list[Answer]:
    """Remove every pending prompt (never the running one); says how many there were."""

    async def ask(client: ComfyClient) -> JSON:
        pending = (await client.get_queue()).pending
        await client.clear_queue()
        return {"cleared": [i.prompt_id for i in pending]}

    return await ask_all(servers, ask)


async def free_memory(servers: Sequence[ServerConfig], *, drop_cache: bool) -> list[Answer]:
    """Unload models (POST /free); with ``drop_cache``, the node cache goes too."""

    async def ask(client: ComfyClient) -> JSON:
        await client.free(unload_models=True, free_memory=drop_cache)
        return {"freed": True, "cache_dropped": drop_cache}

    return await ask_all(servers, ask)


@dataclass(frozen=True)
class Cancelled:
    """What ``cancel`` did: each prompt id, where it was found, and how it stood."""

    answers: list[Answer]
    not_found: tuple[str, ...]


async def cancel_prompts(servers: Sequence[ServerConfig], prompt_ids: Sequence[str]) -> Cancelled:
    """Cancel prompts wherever they are: pending ones leave the queue, a running one
    is interrupted. Prompt ids no server holds are named in ``not_found``."""
    wanted = list(dict.fromkeys(prompt_ids))

    async def ask(client: ComfyClient) -> JSON:
        queue = await client.get_queue()
        pending = [i.prompt_id for i in queue.pending if i.prompt_id in wanted]
        running = [i.prompt_id for i in queue.running if i.prompt_id in wanted]
        if pending or running:
            # Race-free through /api/jobs where the server has it (0.26+); else a
            # /queue delete, then interrupts that name their prompt.
            await client.cancel([*pending, *running])
        return {"pending": pending, "running": running}

    answers = await ask_all(servers, ask)
    found = {p for a in answers for key in ("pending", "running") for p in a.value.get(key, ())}
    return Cancelled(answers, tuple(p for p in wanted if p not in found))


def _unwrapped(ask: Ask) -> Ask:
    """Let a TaskGroup inside ``ask`` fail with its first error, not an ExceptionGroup."""

    async def run(client: ComfyClient) -> JSON:
        try:
            return await ask(client)
        except* FleetError as group:
            raise first_error(group) from None

    return run
