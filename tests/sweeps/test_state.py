"""The fleet state fold, replayed from recorded ComfyUI traces and hand-made events."""

from __future__ import annotations

from dataclasses import replace

from sweeps.events import (
    CrystoolsMonitor,
    Executing,
    ExecutionStart,
    GpuReading,
    PreviewImage,
    Progress,
    SocketClosed,
    SocketOpened,
    parse_message,
)
from sweeps.models import QueueState, SystemStats
from sweeps.state import (
    HISTORY_POINTS,
    HISTORY_WINDOW,
    FleetSnapshot,
    Series,
    ServerSnapshot,
    apply_action_error,
    apply_event,
    apply_poll_error,
    apply_queue,
    apply_stats,
    new_server,
)
from tests.traces import load_trace

URL = "http://gpu1:8188"


def replay(name: str, s: ServerSnapshot | None = None, *, stop_at: str | None = None):
    """Fold a trace's socket-A text messages; ``now`` is the trace's own clock."""
    trace = load_trace(name)
    s = s or new_server(URL, "gpu1", 0.0)
    s = apply_event(s, SocketOpened("sid"), 0.0)
    for event in trace.ws_events("A"):
        if event.kind != "ws_text":
            continue
        if stop_at is not None and event.type == stop_at:
            break
        s = apply_event(s, parse_message(event.data), event.ms / 1000)
    return s


def queue_of(graph: dict, prompt_id: str = "p1", *, running: bool = True) -> QueueState:
    item = [0, prompt_id, graph, {"client_id": "c"}, ["3"]]
    body = {"queue_running": [item] if running else [], "queue_pending": [] if running else [item]}
    return QueueState.from_json(body)


GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {}, "_meta": {"title": "Blank"}},
    "2": {"class_type": "KSampler", "inputs": {}, "_meta": {"title": "Sampler"}},
    "3": {"class_type": "SaveImage", "inputs": {}},
}


def test_new_server_is_connecting():
    s = new_server(URL, "gpu1", 5.0)
    assert s.link == "connecting" and s.since == 5.0
    assert s.running is None and s.queue_running == 0 and s.queue_pending == 0


def test_link_up_then_reconnecting_then_down_keeps_since_of_the_drop():
    s = apply_event(new_server(URL, "gpu1", 0.0), SocketOpened("sid"), 1.0)
    assert (s.link, s.since) == ("up", 1.0)
    s = apply_event(s, SocketClosed("connection lost", retry_in=0.25), 10.0)
    assert (s.link, s.since) == ("reconnecting", 10.0)
    assert s.last_error is not None and s.last_error.kind == "connection"
    s = apply_event(s, SocketClosed("refused", retry_in=0.5), 11.0)
    assert (s.link, s.since) == ("down", 10.0)
    assert s.link_reason == "refused"
    s = apply_event(s, SocketOpened("sid2"), 20.0)
    assert (s.link, s.since) == ("up", 20.0)
    assert [line.text.split(":")[0] for line in s.log] == [
        "link up",
        "link reconnecting",
        "link down",
        "link up",
    ]


def test_never_connected_server_goes_down():
    s = apply_event(new_server(URL, "gpu1", 0.0), SocketClosed("refused", retry_in=0.3), 2.0)
    assert (s.link, s.since) == ("down", 2.0)


def test_recorded_error_run_leaves_last_error_and_no_running_prompt():
    s = replay("run_execution_error")
    assert s.running is None
    assert s.finished == 1
    assert s.last_error is not None and s.last_error.kind == "execution"
    assert "RuntimeError" in s.last_error.message
    assert s.last_error.node_type == "ProbeFail"
    assert all(span.seconds is not None for span in s.timeline)


def test_recorded_progress_run_mid_prompt_has_node_and_progress():
    trace = load_trace("run_progress_preview_metadata")
    s = new_server(URL, "gpu1", 0.0)
    progress_seen = 0
    for event in trace.ws_events("A"):
        if event.kind != "ws_text":
            continue
        s = apply_event(s, parse_message(event.data), event.ms / 1000)
        if event.type == "progress":
            progress_seen += 1
            if progress_seen == 2:
                break
    assert s.running is not None
    assert s.running.node_id is not None
    assert s.running.max > 0 and 0 < s.running.value <= s.running.max
    assert s.running.fraction is not None and 0 < s.running.fraction <= 1
    assert s.timeline[-1].seconds is None  # the executing node is still open


def test_recorded_cached_rerun_counts_cached_nodes():
    s = replay("run_basic_then_cached")
    assert s.running is None
    assert s.finished == 2
    assert any("finished" in line.text for line in s.log)


def test_recorded_txt2img_timeline_covers_executed_nodes():
    s = replay("run_txt2img_random_sd15")
    assert s.running is None
    assert s.timeline, "the last prompt's timeline stays after it ends"
    assert all(span.seconds is not None and span.seconds >= 0 for span in s.timeline)


def test_interrupt_trace_records_interrupted_error():
    s = replay("run_interrupt")
    assert s.last_error is not None and s.last_error.kind == "interrupted"


def test_queue_gives_node_names_to_the_executing_node():
    s = apply_event(new_server(URL, "gpu1", 0.0), ExecutionStart("p1"), 1.0)
    s = apply_queue(s, queue_of(GRAPH), 1.1)
    s = apply_event(s, Executing("p1", "2"), 1.2)
    assert s.running is not None and s.running.node is not None
    assert s.running.node.label() == "KSampler «Sampler»"
    assert s.running.nodes_total == 3
    s = apply_event(s, Progress("p1", "2", 5, 20), 2.0)
    assert (s.running.value, s.running.max) == (5, 20)
    s = apply_event(s, Executing("p1", "3"), 3.0)
    assert s.running.nodes_done == 1 and (s.running.value, s.running.max) == (0, 0)
    assert [round(span.seconds or 0, 3) for span in s.timeline[:-1]] == [1.8]
    assert s.timeline[-1].name is not None and s.timeline[-1].name.label() == "SaveImage"


def test_names_arrive_after_the_node_started():
    s = apply_event(new_server(URL, "gpu1", 0.0), ExecutionStart("p1"), 1.0)
    s = apply_event(s, Executing("p1", "1"), 1.1)
    assert s.running is not None and s.running.node is None
    s = apply_queue(s, queue_of(GRAPH), 1.2)
    assert s.running.node is not None and s.running.node.title == "Blank"
    assert s.timeline[0].name is not None


def test_queue_running_someone_elses_prompt():
    s = apply_queue(new_server(URL, "gpu1", 0.0), queue_of(GRAPH, "other"), 4.0)
    assert s.running is not None and s.running.prompt_id == "other"
    assert s.running.ours is False and s.running.started == 4.0
    assert s.queue_running == 1 and s.queue_pending == 0


def test_queue_without_our_running_prompt_ends_it():
    s = apply_event(new_server(URL, "gpu1", 0.0), ExecutionStart("p1"), 1.0)
    s = apply_queue(s, QueueState((), ()), 9.0)
    assert s.running is None and s.finished == 1


def test_pending_count_from_status_before_any_queue_poll():
    from sweeps.events import Status

    s = apply_event(new_server(URL, "gpu1", 0.0), Status(3), 1.0)
    assert s.queue_pending == 3
    s = apply_event(s, ExecutionStart("p1"), 1.0)
    assert (s.queue_running, s.queue_pending) == (1, 2)


def stats(vram_free: int, ram_free: int = 8) -> SystemStats:
    return SystemStats.from_json(
        {
            "system": {
                "os": "linux",
                "ram_total": 16,
                "ram_free": ram_free,
                "comfyui_version": "0.8.0",
                "pytorch_version": "2.14.1",
            },
            "devices": [
                {
                    "name": "cuda:0 RTX",
                    "type": "cuda",
                    "index": 0,
                    "vram_total": 100,
                    "vram_free": vram_free,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }
    )


def test_stats_add_vram_and_ram_samples():
    s = apply_stats(new_server(URL, "gpu1", 0.0), stats(75), 1.0)
    s = apply_stats(s, stats(25, ram_free=4), 2.0)
    assert s.vram.values == (0.25, 0.75)
    assert s.ram.values == (0.5, 0.75)
    assert s.stats is not None and s.stats.system.comfyui_version == "0.8.0"


def test_series_is_bounded_by_window_and_points():
    series = Series()
    for i in range(HISTORY_POINTS + 50):
        series = series.add(float(i), float(i))
    assert len(series.values) == HISTORY_POINTS
    series = series.add(series.times[-1] + HISTORY_WINDOW + 1, 1.0)
    assert series.values == (1.0,)


def test_poll_error_clears_on_next_good_poll():
    s = apply_event(new_server(URL, "gpu1", 0.0), SocketOpened("x"), 0.0)
    s = apply_poll_error(s, "timed out", 1.0)
    assert s.last_error is not None and s.last_error.kind == "poll"
    s = apply_stats(s, stats(50), 2.0)
    assert s.last_error is None


def test_action_error_is_logged():
    s = apply_action_error(new_server(URL, "gpu1", 0.0), "interrupt failed: refused", 1.0)
    assert s.last_error is not None and s.last_error.kind == "action"
    assert s.log[-1].level == "error"


def test_crystools_and_preview_are_kept():
    reading = CrystoolsMonitor(12.0, 16, 8, 50.0, (GpuReading(97.0, 71.0, 100, 60, 60.0),))
    s = apply_event(new_server(URL, "gpu1", 0.0), reading, 1.0)
    assert s.crystools is reading
    s = apply_event(s, ExecutionStart("p1"), 1.0)
    s = apply_event(s, PreviewImage(1, "image/jpeg", b"jpeg"), 2.0)
    assert s.preview is not None and s.preview.prompt_id == "p1" and s.preview.image == b"jpeg"


def test_log_is_bounded():
    s = new_server(URL, "gpu1", 0.0)
    for i in range(500):
        s = apply_event(s, SocketOpened("x") if i % 2 else SocketClosed("x", 1.0), float(i))
    assert len(s.log) == 200


def test_fleet_snapshot_summaries():
    a = apply_event(new_server("http://a", "a", 0.0), SocketOpened("x"), 0.0)
    b = replace(new_server("http://b", "b", 0.0), queue_remaining=4)
    b = apply_event(b, ExecutionStart("p"), 1.0)
    fleet = FleetSnapshot((a, b), frozenset({"http://a"}))
    assert (fleet.up, fleet.busy, fleet.pending) == (1, 1, 3)
    assert fleet.get("http://b") is b and fleet.get("http://c") is None


def test_a_progress_state_with_no_news_leaves_the_snapshot_alone():
    """ComfyUI re-sends progress_state with every step; a card repaints only on news."""
    from sweeps.events import NodeProgress, ProgressState

    s = apply_event(new_server(URL, "gpu1", 0.0), SocketOpened("sid"), 0.0)
    s = apply_event(s, ExecutionStart("p1"), 1.0)
    one_done = (NodeProgress("1", 1, 1, "finished"), NodeProgress("2", 3, 20, "running"))
    s = apply_event(s, ProgressState("p1", one_done), 2.0)
    assert s.running is not None and s.running.nodes_done == 1
    step = (NodeProgress("1", 1, 1, "finished"), NodeProgress("2", 4, 20, "running"))
    assert apply_event(s, ProgressState("p1", step), 3.0) is s
    two_done = (NodeProgress("1", 1, 1, "finished"), NodeProgress("2", 20, 20, "finished"))
    after = apply_event(s, ProgressState("p1", two_done), 4.0)
    assert after.running is not None and after.running.nodes_done == 2
