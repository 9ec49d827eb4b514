"""The simulator's lifecycle: listener, worker, publisher, and the faults that break them.

One event loop, no threads: the aiohttp server, the worker that executes
prompts, the websocket publisher and the optional monitor are tasks in one
``TaskGroup`` owned by the :class:`Simulator`, cancelled when it closes. A
simulator starts and stops in milliseconds, so tests can start one per test.

Example::

    async with Simulator(SimConfig(speed=0.0)) as sim:     # 127.0.0.1, ephemeral port
        httpx.post(f"{sim.url}/prompt", json={...})
        sim.faults.prompt_500 = 1
        await sim.refuse_connections()                     # the port stops answering
        await sim.accept_connections()                     # same port, same state
        await sim.die()                                    # process gone mid-prompt
        await sim.restart()                                # fresh process, same port
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sweeps.simulator.catalog import Catalog
from sweeps.simulator.config import SimConfig
from sweeps.simulator.executor import Executor
from sweeps.simulator.faults import Faults
from sweeps.simulator.files import FileStore
from sweeps.simulator.images import encode_png, gradient
from sweeps.simulator.internal import ServerLog
from sweeps.simulator.memory import ModelMemory
from sweeps.simulator.models import ModelFolders
from sweeps.simulator.monitor import Monitor
from sweeps.simulator.prompt_queue import PromptQueue
from sweeps.simulator.routes import build_app
from sweeps.simulator.sockets import SocketHub
from sweeps.simulator.userdata import UserData

__all__ = ["Simulator", "serve"]


class Simulator:
    """A fake ComfyUI server (``config.comfy_version``) on ``host:port`` (port 0 picks a free one).

    State that a real restart loses (queue, history, cache, resident model,
    websocket clients, the priority counter) lives in per-"process" objects that
    :meth:`restart` recreates; files under input/ and output/ survive, as on disk.
    """

    def __init__(
        self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.faults = Faults(self.config.seed)
        self.files = FileStore(self.config.data_dir)
        self.catalog = Catalog.packaged(self.config.object_info_path, self.config.comfy_version)
        if self.config.extra_checkpoints:
            self.catalog.with_checkpoints(self.config.extra_checkpoints)
        self.models = ModelFolders(self.catalog, self.files.root, self.config.version.model_folders)
        self.userdata = UserData(self.files.user_dir)
        self._stack: contextlib.AsyncExitStack | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._process_tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._alive = False
        self._new_process()

    def _new_process(self) -> None:
        """Everything a real server keeps in memory, fresh."""
        self.number = 0
        """``PromptServer.number``: the priority counter of ``POST /prompt``."""
        self.hub = SocketHub(self.server_features, self._on_connect)
        self.log = ServerLog(self.hub)
        """What the process has printed: ``/internal/logs`` and websocket ``logs`` events."""
        self.queue = PromptQueue(self._queue_changed)
        self.memory = ModelMemory(self.config)
        self.executor = Executor(
            self.config,
            self.catalog,
            self.queue,
            self.hub,
            self.files,
            self.memory,
            self.faults,
            on_die=self._die_soon,
        )
        self.monitor = Monitor(self.config, self.memory, self.hub)

    # ----- addresses

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    @property
    def listening(self) -> bool:
        """False between :meth:`die` or :meth:`refuse_connections` and the next listen."""
        return self._site is not None

    @property
    def alive(self) -> bool:
        """False after :meth:`die`, until :meth:`restart`."""
        return self._alive

    # ----- lifecycle

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Prepare the directories, bind the port and start the worker."""
        self.files.prepare()
        example = self.files.input_dir / "example.png"
        if not example.exists():
            example.write_bytes(encode_png(gradient(64, 64, 0x3366CC, 0xFFCC33)))
        self.refresh_input_files()
        self._stack = contextlib.AsyncExitStack()
        self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._open_listener()
        self._start_process()

    async def close(self) -> None:
        """Stop everything and remove the temporary directories."""
        self.faults.hang_http = False
        self.faults.stall_worker = False
        await self._stop_process(abort=False)
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._tasks = None
        self.files.cleanup()

    def _start_process(self) -> None:
        assert self._tasks is not None
        self.log.write("Starting server")
        self.log.write(f"To see the GUI go to: {self.url}")
        self._process_tasks = [
            self._tasks.create_task(self.hub.publish(), name="sim-publisher"),
            self._tasks.create_task(self.executor.run_forever(), name="sim-worker"),
        ]
        if self.config.crystools:
            self._process_tasks.append(
                self._tasks.create_task(self.monitor.run_forever(), name="sim-monitor")
            )
        self._alive = True

    async def _stop_process(self, abort: bool) -> None:
        self._alive = False
        for task in self._process_tasks:
            task.cancel()
        if self._process_tasks:
            await asyncio.wait(self._process_tasks)
        self._process_tasks = []
        await self.hub.drop_all(abort=abort)

    async def _open_listener(self) -> None:
        assert self._runner is not None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def _close_listener(self, abort: bool, keep_websockets: bool = False) -> None:
        """Stop listening and cut open HTTP connections, as a dead process would.

        Idle keep-alive connections must go too: otherwise a pooled client
        connection keeps reaching a server that is supposed to be unreachable.
        """
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server if self._runner is not None else None
        kept = self.hub.transports() if keep_websockets else set()
        for handler in server.connections if server is not None else []:
            transport = handler.transport
            if transport is None or transport in kept:
                continue
            if abort:
                transport.abort()
            else:
                handler.force_close()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the worker has nothing pending, nothing running and no ``/free`` to apply."""
        async with asyncio.timeout(timeout):
            await self.queue.idle.wait()
        await self.hub.drain()

    # ----- faults that need the event loop

    async def refuse_connections(self, drop_websockets: bool = True) -> None:
        """Close the listening socket (connects are refused) and open HTTP connections.

        Websockets are closed too unless ``drop_websockets=False``.
        """
        if drop_websockets:
            await self.hub.drop_all()
        await self._close_listener(abort=False, keep_websockets=not drop_websockets)

    async def accept_connections(self) -> None:
        """Listen again on the same port; queue and history are untouched."""
        if self._site is None:
            await self._open_listener()

    async def drop_websockets(self, abort: bool = False) -> None:
        """Close every websocket (``abort=True``: reset the TCP connection, no close frame)."""
        await self.hub.drop_all(abort=abort)

    async def die(self) -> None:
        """The process is gone: connections reset, listener closed, in-memory state lost."""
        if not self._alive and self._site is None:
            return
        await self._close_listener(abort=True)
        await self._stop_process(abort=True)

    async def restart(self) -> None:
        """A fresh process on the same port (after :meth:`die`, or as a clean restart)."""
        if self._alive or self._site is not None:
            await self.die()
        self._new_process()
        self.files.prepare()
        await self._open_listener()
        self._start_process()

    def _die_soon(self) -> None:
        """Called by the worker when ``faults.die_on_class`` matches: it cannot cancel itself."""
        assert self._tasks is not None
        self.faults.die_on_class = None
        self._tasks.create_task(self.die(), name="sim-die")

    # ----- hooks used by the routes, the hub and the worker

    def server_features(self) -> dict[str, Any]:
        return self.config.version.features(self.config.max_upload_size)

    def _on_connect(self, sid: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"type": "status", "data": {"status": self.queue.queue_info(), "sid": sid}}
        ]
        if self.executor.client_id == sid and self.executor.last_node_id is not None:
            messages.append({"type": "executing", "data": {"node": self.executor.last_node_id}})
        return messages

    def _queue_changed(self) -> None:
        self.hub.send("status", {"status": self.queue.queue_info()})

    def refresh_input_files(self) -> None:
        self.catalog.with_input_files(self.files.input_images())

    def argv(self) -> list[str]:
        args = ["main.py", "--listen", self.host, "--port", str(self.port)]
        if self.config.device_type == "cpu":
            args.insert(1, "--cpu")
        if self.config.previews:
            args += ["--preview-method", "auto"]
        if self.config.cache_mode == "none":
            args.append("--cache-none")
        return args


async def serve(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8188,
    on_ready: Callable[[Simulator], None] | None = None,
) -> None:
    """Run a simulator until cancelled (``comfyfleet sim``); ``on_ready`` gets it once bound."""
    async with Simulator(config, host=host, port=port) as sim:
        if on_ready is not None:
            on_ready(sim)
        await asyncio.Event().wait()
