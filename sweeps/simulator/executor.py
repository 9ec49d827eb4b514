"""The worker: takes prompts off the queue, runs them, and emits ComfyUI's events.

Port of ``main.prompt_worker`` and ``PromptExecutor.execute_async``. The order of
what a client receives is the point of this module (PROTOCOL 2.3)::

    execution_start, execution_cached
    per node:   progress_state(running), executing, [progress_state, progress]*,
                executed (only with UI), progress_state(finished)
    cached output nodes: executed (old UI), progress_state(finished); no executing
    execution_success | execution_error | execution_interrupted
    status (history written), executing {node: null}

Lifecycle events go only to the prompt's ``client_id`` and vanish without one;
progress goes to everyone when there is no client id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from PIL import Image

from sweeps.simulator.cache import CachedOutput, OutputCache, signatures
from sweeps.simulator.catalog import Catalog
from sweeps.simulator.config import SimConfig
from sweeps.simulator.faults import Faults
from sweeps.simulator.files import FileStore
from sweeps.simulator.memory import ModelMemory
from sweeps.simulator.nodes import behaviour_for
from sweeps.simulator.ordering import ExecutionList, is_link
from sweeps.simulator.progress import ProgressRegistry
from sweeps.simulator.prompt_queue import PromptQueue, QueueItem
from sweeps.simulator.sockets import SocketHub, encode_text_frame

__all__ = ["Executor", "Interrupted"]

_TEMP_LETTERS = "abcdefghijklmnopqrstupvxyz"  # sic: ComfyUI's PreviewImage alphabet


class Interrupted(Exception):
    """``InterruptProcessingException``: raised at the next check after ``/interrupt``."""


def now_ms() -> int:
    return int(time.time() * 1000)


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, dict):
        return value
    return str(value)


def _traceback(class_type: str, module: str, exc: BaseException) -> list[str]:
    """A traceback shaped like the recorded one (execution.py frames, then the node)."""
    where = module.replace(".", "/") + ("/__init__.py" if module.startswith("custom") else ".py")
    return [
        '  File "ComfyUI/execution.py", line 518, in execute\n'
        "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data("
        "prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, "
        "pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n",
        '  File "ComfyUI/execution.py", line 329, in get_output_data\n'
        "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, "
        "input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb="
        "execution_block_cb, pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n",
        '  File "ComfyUI/execution.py", line 303, in _async_map_node_over_list\n'
        "    await process_inputs(input_dict, i)\n",
        '  File "ComfyUI/execution.py", line 291, in process_inputs\n'
        "    result = f(**inputs)\n             ^^^^^^^^^^^\n",
        f'  File "ComfyUI/{where}", line 54, in run\n'
        f"    raise {type(exc).__name__}(message)  # {class_type}\n",
    ]


class _Run:
    """One prompt being executed: everything ``execute_async`` keeps in locals."""

    def __init__(self, item: QueueItem, hub: SocketHub, preview_size: int) -> None:
        self.item = item
        self.prompt_id = item.prompt_id
        self.prompt = item.prompt
        self.extra_data = {**item.extra_data, **item.sensitive}
        client_id = self.extra_data.get("client_id")
        self.client_id: str | None = client_id if client_id is not None else None
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.ui_outputs: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, CachedOutput] = {}
        self.progress = ProgressRegistry(self.prompt_id, self.client_id, hub, preview_size)
        self.success = True


class _NodeContext:
    """The :class:`~sweeps.simulator.nodes.NodeContext` the executor gives a behaviour."""

    def __init__(self, executor: Executor, run: _Run, node_id: str, class_type: str) -> None:
        self._executor = executor
        self._run = run
        self.node_id = node_id
        self.class_type = class_type
        # Read-only views: the NodeContext protocol hands behaviours Mappings.
        self.prompt: Mapping[str, Any] = run.prompt
        self.extra_data: Mapping[str, Any] = run.extra_data
        self.config = executor.config
        self.files = executor.files
        self.memory = executor.memory
        self.schema = executor.catalog.schemas[class_type]
        self.previews = executor.previews_enabled(run.extra_data)
        self.temp_prefix = executor.temp_prefix(node_id)

    async def spend(self, ms: float) -> None:
        seconds = self.config.scaled_seconds(ms)
        await asyncio.sleep(seconds)

    async def progress(
        self,
        value: int,
        total: int,
        preview: Image.Image | None = None,
        preview_format: Literal["JPEG", "PNG"] = "JPEG",
    ) -> None:
        self._executor.check_interrupt()
        self._run.progress.update(self.node_id, value, total, preview, preview_format)

    def send_text(self, text: str) -> None:
        self._executor.hub.send_bytes(encode_text_frame(self.node_id, text), None)


class Executor:
    """Runs queued prompts one at a time, forever; owns the output cache."""

    def __init__(
        self,
        config: SimConfig,
        catalog: Catalog,
        queue: PromptQueue,
        hub: SocketHub,
        files: FileStore,
        memory: ModelMemory,
        faults: Faults,
        on_die: Callable[[], None],
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.queue = queue
        self.hub = hub
        self.files = files
        self.memory = memory
        self.faults = faults
        self._on_die = on_die
        self.cache = OutputCache(config.cache_mode)
        self.rng = random.Random(config.seed)
        self.client_id: str | None = None
        """``server.client_id``: the running prompt's client, for reconnect resumes."""
        self.last_node_id: str | None = None
        self._interrupt = False
        self._temp_prefixes: dict[str, str] = {}
        self._is_changed_counter = 0
        self.prompts_run = 0

    # ----- controls used by the routes

    def interrupt(self) -> None:
        """``nodes.interrupt_processing()``: noticed at the next progress update or node start."""
        self._interrupt = True

    def check_interrupt(self) -> None:
        if self._interrupt:
            self._interrupt = False
            raise Interrupted("Processing interrupted")

    def previews_enabled(self, extra_data: dict[str, Any]) -> bool:
        method = extra_data.get("preview_method")
        if method == "none":
            return False
        if method in ("auto", "latent2rgb", "taesd"):
            return True
        return self.config.previews

    def temp_prefix(self, node_id: str) -> str:
        if node_id not in self._temp_prefixes:
            letters = "".join(self.rng.choice(_TEMP_LETTERS) for _ in range(5))
            self._temp_prefixes[node_id] = "_temp_" + letters
        return self._temp_prefixes[node_id]

    # ----- the worker loop

    async def run_forever(self) -> None:
        while True:
            await self.queue.wait_for_work()
            got = self.queue.get()
            if got is not None:
                item, task_id = got
                await self._run_item(item, task_id)
            flags = self.queue.take_flags()
            free_memory = bool(flags.get("free_memory", False))
            if flags.get("unload_models", free_memory):
                self.memory.unload_all()
            if free_memory:
                self.cache.clear()
            await asyncio.sleep(0)

    async def _run_item(self, item: QueueItem, task_id: int) -> None:
        run = _Run(item, self.hub, self.config.preview_size)
        await self._execute(run)
        status = {
            "status_str": "success" if run.success else "error",
            "completed": run.success,
            "messages": run.messages,
        }
        history_result = {
            "outputs": {n: v["output"] for n, v in run.ui_outputs.items()},
            "meta": {n: v["meta"] for n, v in run.ui_outputs.items()},
        }
        self.queue.task_done(task_id, history_result, status)
        self.prompts_run += 1
        if run.client_id is not None:
            self.hub.send("executing", {"node": None, "prompt_id": run.prompt_id}, run.client_id)

    def _add_message(self, run: _Run, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": now_ms()}
        run.messages.append([event, data])
        if run.client_id is not None or broadcast:
            self.hub.send(event, data, run.client_id)

    def _is_changed(self, class_type: str, inputs: Mapping[str, Any]) -> object:
        if class_type in ("LoadImage", "LoadImageMask") and isinstance(inputs.get("image"), str):
            path = self.files.annotated_path(inputs["image"])
            return path.stat().st_mtime_ns if path.is_file() else None
        if class_type == "SaveImageWebsocket":
            self._is_changed_counter += 1
            return ("always", self._is_changed_counter)
        return None

    async def _execute(self, run: _Run) -> None:
        self._interrupt = False
        self.client_id = run.client_id
        self._add_message(run, "execution_start", {"prompt_id": run.prompt_id}, False)
        schemas = self.catalog.schemas
        self.cache.set_prompt(signatures(run.prompt, schemas, self._is_changed))
        cached_nodes = [n for n in run.prompt if self.cache.get(n) is not None]
        self._add_message(
            run, "execution_cached", {"nodes": cached_nodes, "prompt_id": run.prompt_id}, False
        )
        current_outputs = self.cache.node_ids()
        order = ExecutionList(
            run.prompt,
            is_cached=lambda n: self.cache.get(n) is not None or n in run.outputs,
            is_output=lambda n: schemas[run.prompt[n]["class_type"]].output_node,
        )
        for output_id in run.item.outputs_to_execute:
            order.add_node(output_id)
        try:
            while not order.is_empty():
                staged = order.stage()
                if staged is None:
                    raise _NodeFailure(
                        next(iter(order.pending)), RuntimeError("Dependency cycle detected"), {}
                    )
                await self._execute_node(run, staged)
                order.complete()
        except Interrupted:
            run.success = False
            node_id = order.staged or ""
            data = {
                "prompt_id": run.prompt_id,
                "node_id": node_id,
                "node_type": run.prompt.get(node_id, {}).get("class_type"),
                "executed": list(run.executed),
            }
            self._add_message(run, "execution_interrupted", data, True)
        except _NodeFailure as failure:
            run.success = False
            class_type = run.prompt[failure.node_id]["class_type"]
            module = schemas[class_type].python_module or "nodes"
            data = {
                "prompt_id": run.prompt_id,
                "node_id": failure.node_id,
                "node_type": class_type,
                "executed": list(run.executed),
                "exception_message": f"{failure.exc}\n",
                "exception_type": _exception_type(failure.exc),
                "traceback": _traceback(class_type, module, failure.exc),
                "current_inputs": failure.inputs,
                "current_outputs": list(current_outputs),
            }
            self._add_message(run, "execution_error", data, False)
        else:
            self._add_message(run, "execution_success", {"prompt_id": run.prompt_id}, False)
        finally:
            self.memory.busy = False
        self.last_node_id = None

    def _meta(self, node_id: str) -> dict[str, Any]:
        return {
            "node_id": node_id,
            "display_node": node_id,
            "parent_node": None,
            "real_node_id": node_id,
        }

    def _input_values(self, run: _Run, node_id: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in run.prompt[node_id].get("inputs", {}).items():
            if is_link(value):
                source = run.outputs.get(value[0]) or self.cache.get(value[0])
                slot = int(value[1])
                if source is not None and slot < len(source.outputs):
                    values[name] = source.outputs[slot]
            else:
                values[name] = value
        return values

    async def _execute_node(self, run: _Run, node_id: str) -> None:
        class_type = run.prompt[node_id]["class_type"]
        cached = self.cache.get(node_id)
        if cached is not None:
            if run.client_id is not None:
                data = {
                    "node": node_id,
                    "display_node": node_id,
                    "output": cached.ui,
                    "prompt_id": run.prompt_id,
                }
                self.hub.send("executed", data, run.client_id)
                if cached.ui is not None:
                    run.ui_outputs[node_id] = {"meta": self._meta(node_id), "output": cached.ui}
            run.progress.finish(node_id)
            run.outputs[node_id] = cached
            return
        run.progress.start(node_id)
        inputs = self._input_values(run, node_id)
        if run.client_id is not None:
            self.last_node_id = node_id
            self.hub.send(
                "executing",
                {"node": node_id, "display_node": node_id, "prompt_id": run.prompt_id},
                run.client_id,
            )
        await self.faults.wait_worker()
        if self.faults.die_on_class == class_type:
            self._on_die()
            await asyncio.Event().wait()  # the simulator cancels this task
        self.check_interrupt()
        self.memory.busy = True
        try:
            if self.faults.should_fail(class_type):
                raise RuntimeError(f"{self.faults.fail_message} in {class_type}")
            result = await behaviour_for(class_type)(
                _NodeContext(self, run, node_id, class_type), inputs
            )
        except (Interrupted, asyncio.CancelledError):
            raise
        except Exception as exc:
            formatted = {k: [_format_value(v)] for k, v in inputs.items()}
            raise _NodeFailure(node_id, exc, formatted) from exc
        finally:
            self.memory.busy = False
        ui = result.ui or None
        if ui:
            run.ui_outputs[node_id] = {"meta": self._meta(node_id), "output": ui}
            if run.client_id is not None:
                data = {"node": node_id, "display_node": node_id, "output": ui}
                self.hub.send("executed", {**data, "prompt_id": run.prompt_id}, run.client_id)
        entry = CachedOutput(result.outputs, ui)
        self.cache.set(node_id, entry)
        run.outputs[node_id] = entry
        run.progress.finish(node_id)
        run.executed.append(node_id)


class _NodeFailure(Exception):
    def __init__(self, node_id: str, exc: BaseException, inputs: dict[str, Any]) -> None:
        super().__init__(str(exc))
        self.node_id = node_id
        self.exc = exc
        self.inputs = inputs


def _exception_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
