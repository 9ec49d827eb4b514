"""A prompt's outcome assembled from recorded events, then reconciled with /history."""

from __future__ import annotations

import itertools

import pytest

from sweeps.events import parse_message
from sweeps.models import HistoryEntry, OutputFile
from sweeps.tracking import PromptTracker
from tests.traces import load_trace


def _track(trace_name: str, prompt_id: str, prompt: dict) -> tuple[PromptTracker, list[str]]:
    """Feed socket A's messages in order; return the tracker and the types seen after done."""
    ticks = itertools.count()
    tracker = PromptTracker(prompt_id, server="s", prompt=prompt, clock=lambda: next(ticks) * 0.5)
    after_done = []
    for message in load_trace(trace_name).ws_messages("A"):
        if tracker.done:
            after_done.append(message["type"])
        tracker.feed(parse_message(message))
    return tracker, after_done


def _submissions(trace_name: str):
    trace = load_trace(trace_name)
    for post in trace.http("POST", "/prompt"):
        if post.status != 200:
            continue
        prompt_id = post.response["prompt_id"]
        history = next(
            (h.response for h in trace.http("GET", f"/history/{prompt_id}") if h.response), None
        )
        entry = HistoryEntry.from_json(prompt_id, history[prompt_id]) if history else None
        yield post.request["prompt"], prompt_id, entry


@pytest.mark.parametrize(
    ("trace_name", "statuses"),
    [
        ("run_basic_then_cached", ["success", "success"]),
        ("run_execution_error", ["failed"]),
        ("run_interrupt", ["interrupted"]),
        ("run_progress_preview_legacy", ["success"]),
        ("run_progress_preview_metadata", ["success"]),
        ("run_txt2img_random_sd15", ["success", "success", "success"]),
    ],
)
def test_outcome_from_events_matches_history(trace_name: str, statuses: list[str]) -> None:
    seen = []
    for prompt, prompt_id, entry in _submissions(trace_name):
        tracker, _ = _track(trace_name, prompt_id, prompt)
        assert tracker.done, "executing{node: null} ends every prompt"
        from_events = tracker.outcome()
        seen.append(from_events.status)
        assert entry is not None
        assert from_events.status == entry.outcome
        assert set(from_events.outputs) == set(entry.files)
        assert from_events.cached_nodes == entry.cached_nodes
        reconciled = tracker.outcome(entry)
        assert reconciled.status == entry.outcome
        assert reconciled.started_at is not None and reconciled.finished_at is not None
        assert reconciled.finished_at >= reconciled.started_at
    assert seen == statuses


def test_success_is_not_completion() -> None:
    """execution_success comes before history is written; only executing{null} ends it."""
    prompt, prompt_id, _ = next(_submissions("run_basic_then_cached"))
    tracker = PromptTracker(prompt_id)
    for message in load_trace("run_basic_then_cached").ws_messages("A"):
        tracker.feed(parse_message(message))
        if message["type"] == "execution_success" and message["data"]["prompt_id"] == prompt_id:
            assert tracker.status == "success"
            assert not tracker.done
            break


def test_cached_rerun_reports_cached_nodes_and_old_outputs() -> None:
    runs = list(_submissions("run_basic_then_cached"))
    prompt, prompt_id, entry = runs[1]
    tracker, _ = _track("run_basic_then_cached", prompt_id, prompt)
    outcome = tracker.outcome(entry)
    assert outcome.cached_nodes == ("1", "2", "3")
    assert outcome.outputs == (OutputFile("trace_00004_.png", "", "output", node_id="3"),)
    # Nothing executed: every node is listed as answered from the cache, at no cost.
    assert [(t.node_id, t.cached, t.seconds) for t in outcome.node_timings] == [
        ("1", True, 0.0),
        ("2", True, 0.0),
        ("3", True, 0.0),
    ]
    assert outcome.node_timings[2].class_type == prompt["3"]["class_type"]


def test_node_timings_cover_executed_nodes_with_class_types() -> None:
    prompt, prompt_id, entry = next(_submissions("run_txt2img_random_sd15"))
    tracker, _ = _track("run_txt2img_random_sd15", prompt_id, prompt)
    timings = {t.node_id: t for t in tracker.outcome(entry).node_timings}
    assert set(timings) == {"3", "4", "5", "6", "7", "8", "9"}
    assert timings["3"].class_type == "KSampler"
    assert all(t.seconds > 0 for t in timings.values())


def test_execution_error_is_recorded_with_node_and_message() -> None:
    prompt, prompt_id, entry = next(_submissions("run_execution_error"))
    tracker, _ = _track("run_execution_error", prompt_id, prompt)
    outcome = tracker.outcome(entry)
    assert (outcome.status, outcome.error_type, outcome.error_node) == (
        "failed",
        "RuntimeError",
        "2",
    )
    assert outcome.error_message == "boom from probe"
    assert outcome.error_traceback


def test_interrupt_names_the_node() -> None:
    prompt, prompt_id, entry = next(_submissions("run_interrupt"))
    tracker, _ = _track("run_interrupt", prompt_id, prompt)
    outcome = tracker.outcome(entry)
    assert outcome.status == "interrupted"
    assert outcome.error_node == "2"
    assert "ProbeSleep" in (outcome.error_message or "")


def test_history_alone_gives_the_outcome_when_events_were_missed() -> None:
    prompt, prompt_id, entry = next(_submissions("run_execution_error"))
    outcome = PromptTracker(prompt_id, prompt=prompt).outcome(entry)
    assert outcome.status == "failed"
    assert outcome.error_type == "RuntimeError"
    assert outcome.error_node == "2"


def test_other_prompts_events_are_ignored() -> None:
    tracker = PromptTracker("not-in-trace")
    for message in load_trace("run_txt2img_random_sd15").ws_messages("A"):
        assert tracker.feed(parse_message(message)) is False
    assert tracker.status is None


@pytest.mark.parametrize("version", ["0.8.0", "0.33.0"])
@pytest.mark.parametrize(
    "trace_name",
    [
        "run_basic_then_cached",
        "run_execution_error",
        "run_interrupt",
        "run_progress_preview_metadata",
        "run_txt2img_random_sd15",
    ],
)
def test_a_whole_success_on_the_socket_says_what_history_would(
    trace_name: str, version: str
) -> None:
    """Where the events alone are trusted (no /history asked), they must give the
    record /history would have given: every field the report keeps."""
    trace = load_trace(trace_name, version)
    submissions = [p for p in trace.http("POST", "/prompt") if p.status == 200]
    assert submissions
    for post in submissions:
        prompt_id = post.response["prompt_id"]
        tracker = PromptTracker(prompt_id, server="s", prompt=post.request["prompt"])
        for message in trace.ws_messages("A"):
            tracker.feed(parse_message(message))
        history = next(h.response for h in trace.http("GET", f"/history/{prompt_id}") if h.response)
        entry = HistoryEntry.from_json(prompt_id, history[prompt_id])
        assert tracker.whole == (entry.outcome == "success")
        if not tracker.whole:
            continue
        alone, reconciled = tracker.outcome(), tracker.outcome(entry)
        assert alone == reconciled


def test_a_gap_in_the_socket_or_odd_outputs_send_the_waiter_to_history() -> None:
    prompt, prompt_id, _ = next(_submissions("run_txt2img_random_sd15"))
    tracker, _ = _track("run_txt2img_random_sd15", prompt_id, prompt)
    assert tracker.whole
    tracker.missed = True  # the socket closed or reopened while it ran
    assert not tracker.whole

    odd = PromptTracker("p")
    for message in (
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1}},
        {
            "type": "executed",
            "data": {"node": "9", "output": {"images": [{"subfolder": ""}]}, "prompt_id": "p"},
        },
        {"type": "execution_success", "data": {"prompt_id": "p", "timestamp": 2}},
        {"type": "executing", "data": {"node": None, "prompt_id": "p"}},
    ):
        odd.feed(parse_message(message))
    assert odd.done and odd.status == "success"
    assert not odd.whole, "a file entry without a filename: /history decides"
