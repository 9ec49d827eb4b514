"""FleetMonitor against simulators: live state, coalescing, faults, actions, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sweeps.config import ServerConfig, Timeouts
from sweeps.errors import FleetError
from sweeps.events import Status
from sweeps.monitor import FleetMonitor
from sweeps.simulator import Simulator
from sweeps.state import FleetSnapshot
from tests.workflows import sd15 as workflow


async def until(
    monitor: FleetMonitor, condition: Callable[[FleetSnapshot], bool], timeout: float = 10.0
) -> FleetSnapshot:
    """Drain the monitor on every change until ``condition`` holds for the fleet."""
    async with asyncio.timeout(timeout):
        while True:
            fleet = monitor.fleet()
            if condition(fleet):
                return fleet
            await monitor.wait_changed()
            monitor.drain()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[FleetMonitor], asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []

    def start(monitor: FleetMonitor) -> asyncio.Task[None]:
        task = asyncio.create_task(monitor.run())
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_live_state_from_a_running_prompt(sim: Simulator, running):
    monitor = FleetMonitor([ServerConfig(sim.url, name="sim")], poll_interval=0.1)
    running(monitor)
    await until(monitor, lambda f: f.servers[0].is_up)
    client = monitor.connection(sim.url).client
    await client.queue_prompt(workflow(1, steps=30))
    fleet = await until(
        monitor,
        lambda f: (r := f.servers[0].running) is not None and r.max > 0 and r.node is not None,
    )
    s = fleet.servers[0]
    assert s.running is not None and s.running.node is not None
    assert s.running.node.class_type == "KSampler"
    fleet = await until(
        monitor, lambda f: f.servers[0].finished >= 1 and f.servers[0].running is None
    )
    s = fleet.servers[0]
    assert [span.name.class_type for span in s.timeline if span.name][-1] == "SaveImage"
    await until(
        monitor, lambda f: f.servers[0].stats is not None and f.servers[0].crystools is not None
    )
    s = monitor.snapshot(sim.url)
    assert s.stats is not None and s.stats.system.comfyui_version
    assert len(s.vram.values) >= 1


async def test_drain_coalesces_many_events_into_one_snapshot(sim: Simulator, running):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=60)
    running(monitor)
    await until(monitor, lambda f: f.servers[0].is_up)
    monitor.drain()
    for i in range(20):
        monitor.feed(sim.url, Status(i))
    fleet = monitor.drain()
    assert fleet is not None and fleet.changed == {sim.url}
    assert fleet.servers[0].queue_remaining == 19
    assert monitor.drain() is None


async def test_cancelling_the_monitor_closes_every_socket(sim: Simulator, sim2: Simulator):
    monitor = FleetMonitor([ServerConfig(sim.url), ServerConfig(sim2.url)], poll_interval=0.1)
    task = asyncio.create_task(monitor.run())
    await until(monitor, lambda f: f.up == 2)
    assert sim.hub.client_count == 1 and sim2.hub.client_count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not monitor.running
    await asyncio.wait_for(sim.hub.drain(), 5)
    for server in (sim, sim2):
        async with asyncio.timeout(5):
            while server.hub.client_count:
                await asyncio.sleep(0.01)
    assert sim.hub.client_count == 0 and sim2.hub.client_count == 0


async def test_stop_returns_cleanly(sim: Simulator):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
    task = asyncio.create_task(monitor.run())
    await until(monitor, lambda f: f.up == 1)
    monitor.stop()
    await asyncio.wait_for(task, 5)


async def test_servers_added_and_removed_at_run_time(sim: Simulator, sim2: Simulator, running):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
    running(monitor)
    await until(monitor, lambda f: f.up == 1)
    assert monitor.add_server(ServerConfig(sim2.url, name="second"))
    assert not monitor.add_server(ServerConfig(sim2.url))
    await until(monitor, lambda f: f.up == 2)
    assert monitor.remove_server(sim.url)
    assert not monitor.remove_server(sim.url)
    fleet = monitor.drain()
    assert fleet is not None and [s.name for s in fleet.servers] == ["second"]
    async with asyncio.timeout(5):
        while sim.hub.client_count:
            await asyncio.sleep(0.01)


async def test_a_dead_server_is_down_and_the_others_keep_going(sim: Simulator, running):
    dead = ServerConfig("http://127.0.0.1:9", timeouts=Timeouts(connect=0.5, read=0.5))
    monitor = FleetMonitor([dead, ServerConfig(sim.url)], poll_interval=0.1)
    running(monitor)
    fleet = await until(monitor, lambda f: f.servers[0].link == "down" and f.servers[1].is_up)
    error = fleet.servers[0].last_error
    assert error is not None and error.kind == "connection"
    with pytest.raises(FleetError):
        await monitor.interrupt(dead.url)
    assert monitor.snapshot(dead.url).last_error.kind == "action"  # type: ignore[union-attr]


async def test_a_hung_server_does_not_stall_another(sim: Simulator, sim2: Simulator, running):
    hung = ServerConfig(sim.url, timeouts=Timeouts(connect=0.5, read=0.3))
    monitor = FleetMonitor([hung, ServerConfig(sim2.url)], poll_interval=0.05)
    running(monitor)
    await until(monitor, lambda f: f.up == 2)
    sim.faults.hang_http = True
    fleet = await until(
        monitor, lambda f: (e := f.servers[0].last_error) is not None and e.kind == "poll"
    )
    before = fleet.servers[1].stats_at
    await until(monitor, lambda f: f.servers[1].stats_at != before)
    sim.faults.hang_http = False


async def test_reconnects_after_the_socket_drops(sim: Simulator, running):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
    running(monitor)
    await until(monitor, lambda f: f.up == 1)
    await sim.refuse_connections()
    await until(monitor, lambda f: f.servers[0].link in ("reconnecting", "down"))
    await sim.accept_connections()
    await until(monitor, lambda f: f.servers[0].is_up)


async def test_a_crashing_listener_is_restarted(sim: Simulator, running, monkeypatch):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
    monitor.restart_delay = 0.01
    connection = monitor.connection(sim.url)
    calls = 0
    listen = connection.listen

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the listener")
        await listen()

    monkeypatch.setattr(connection, "listen", flaky)
    running(monitor)
    await until(monitor, lambda f: f.servers[0].is_up)
    assert any("bug in the listener" in line.text for line in monitor.snapshot(sim.url).log)


async def test_actions_reach_the_server(sim: Simulator, running):
    monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
    running(monitor)
    await until(monitor, lambda f: f.up == 1)
    sim.faults.stall_worker = True
    client = monitor.connection(sim.url).client
    queued = [await client.queue_prompt(workflow(seed)) for seed in range(4)]
    fleet = await until(
        monitor,
        lambda f: (q := f.servers[0].queue) is not None and len(q.running) + len(q.pending) == 4,
    )
    queue = fleet.servers[0].queue
    assert queue is not None
    pending = [item.prompt_id for item in queue.pending]
    await monitor.delete_pending(sim.url, pending[:1])
    await until(monitor, lambda f: f.servers[0].queue_pending == len(pending) - 1)
    await monitor.clear_queue(sim.url)
    await until(monitor, lambda f: f.servers[0].queue_pending == 0)
    await monitor.free_memory(sim.url)
    sim.faults.stall_worker = False
    await monitor.interrupt(sim.url)
    await until(monitor, lambda f: f.servers[0].queue_running == 0)
    history = await monitor.history(sim.url)
    assert history and history[0].prompt_id in {q.prompt_id for q in queued}
    facts = await monitor.facts(sim.url)
    assert facts.models and all(count > 0 for _, count in facts.models)
    texts = [line.text for line in monitor.snapshot(sim.url).log]
    assert "cleared the queue" in texts and "unloaded models" in texts


async def test_a_server_answering_nonsense_stops_only_its_own_poll(
    sim: Simulator, sim2: Simulator, running, monkeypatch
):
    monitor = FleetMonitor([ServerConfig(sim.url), ServerConfig(sim2.url)], poll_interval=0.05)
    monitor.restart_delay = 0.01
    client = monitor.connection(sim.url).client

    async def nonsense() -> None:
        # What a parser bug does with {"system": []}: not a ServerError.
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(client, "system_stats", nonsense)
    task = running(monitor)
    fleet = await until(
        monitor,
        lambda f: (
            (e := f.servers[0].last_error) is not None
            and "stats poll failed" in e.message
            and f.servers[1].stats is not None
        ),
    )
    error = fleet.servers[0].last_error
    assert error is not None and "AttributeError" in error.message
    before = monitor.snapshot(sim2.url).stats_at
    await until(monitor, lambda f: f.servers[1].stats_at != before)  # the other still polls
    assert not task.done()


async def test_facts_of_a_dead_server_raise_the_reason_not_a_group(sim: Simulator):
    monitor = FleetMonitor([ServerConfig(sim.url, timeouts=Timeouts(connect=1, read=1))])
    await sim.die()
    try:
        with pytest.raises(FleetError, match="GET /"):
            await monitor.facts(sim.url)
    finally:
        await monitor.connection(sim.url).client.aclose()


async def test_deleting_a_prompt_that_started_meanwhile_cancels_it(running):
    """The user chose it while it was pending; it started before the confirm. On 0.26+
    the cancel route dequeues or interrupts in one step; older servers get /queue
    delete, then an interrupt naming it, which touches no other prompt."""
    from sweeps.simulator import SimConfig
    from tests.simulator.prompts import sleep_prompt

    for version in ("0.8.0", "0.33.0"):
        async with Simulator(SimConfig(speed=0.1, comfy_version=version)) as sim:
            monitor = FleetMonitor([ServerConfig(sim.url)], poll_interval=0.1)
            task = running(monitor)
            await until(monitor, lambda f: f.up == 1)
            client = monitor.connection(sim.url).client
            chosen = (await client.queue_prompt(sleep_prompt(100, 100))).prompt_id
            await until(monitor, lambda f: f.servers[0].queue_running == 1)  # it started
            await monitor.delete_pending(sim.url, [chosen])
            await until(monitor, lambda f: f.servers[0].queue_running == 0)
            entry = await client.get_history_entry(chosen)
            task.cancel()
        assert entry is not None and entry.status_str == "error", version  # interrupted
