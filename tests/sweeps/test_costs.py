"""The cost model: signatures, speeds, load-like classes, and the file it is kept in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sweeps.costs import COSTS_NAME, CostModel, node_signatures
from sweeps.locations import data_dir


def _prompt(ckpt: str = "a.safetensors", seed: int = 0) -> dict[str, Any]:
    return {
        "1": {"class_type": "FancyModelLoader", "inputs": {"name": ckpt}},
        "2": {"class_type": "Encode", "inputs": {"text": "cat", "clip": ["1", 1]}},
        "3": {"class_type": "Sample", "inputs": {"seed": seed, "model": ["1", 0], "c": ["2", 0]}},
    }


def _observe(model: CostModel, server: str, prompt: dict[str, Any], scale: float, *, load: bool):
    timings = [{"node_id": "3", "seconds": 1.0 * scale}]
    cached = ["1", "2"]
    if load:
        timings += [
            {"node_id": "1", "seconds": 10.0 * scale},
            {"node_id": "2", "seconds": 0.1 * scale},
        ]
        cached = []
    exec_s = sum(t["seconds"] for t in timings)
    model.observe(server, prompt, timings, cached, exec_s)


def test_signatures_follow_inputs_and_upstream_not_node_ids() -> None:
    renumbered = {
        "9": {"class_type": "FancyModelLoader", "inputs": {"name": "a.safetensors"}},
        "8": {"class_type": "Encode", "inputs": {"text": "cat", "clip": ["9", 1]}},
    }
    a, b = node_signatures(_prompt()), node_signatures(renumbered)
    assert a["1"] == b["9"] and a["2"] == b["8"]
    other = node_signatures(_prompt(ckpt="b.safetensors"))
    assert other["1"] != a["1"]
    assert other["2"] != a["2"]  # same text, another model upstream
    assert node_signatures(_prompt(seed=1))["1"] == a["1"]


def _trained() -> CostModel:
    model = CostModel()
    for server, scale in (("http://fast", 0.5), ("http://slow", 2.0)):
        for ckpt in ("a", "b"):
            _observe(model, server, _prompt(ckpt), scale, load=True)
            for seed in range(1, 5):
                _observe(model, server, _prompt(ckpt, seed), scale, load=False)
    return model


def test_speeds_are_relative_to_the_fleet() -> None:
    model = _trained()
    assert abs(model.speed("http://fast") / model.speed("http://slow") - 4.0) < 1e-6
    assert model.speed("http://never-seen") == 1.0
    assert model.knows("http://fast") and not model.knows("http://never-seen")


def test_a_costly_class_kept_between_runs_is_load_like_whatever_its_name() -> None:
    model = _trained()
    assert model.load_like("FancyModelLoader")
    assert not model.load_like("Encode")  # kept, but cheap
    assert not model.load_like("Sample")  # costly, never kept
    assert model.group_nodes(_prompt()) == ["1"]


def test_a_cold_model_groups_by_loader_classes() -> None:
    prompt = {**_prompt(), "4": {"class_type": "LoraLoader", "inputs": {"lora": "x"}}}
    prompt["1"] = {"class_type": "Checkpoint", "inputs": {}}
    assert CostModel().group_nodes(prompt) == ["4"]


def test_costs_of_a_prompt_skip_what_is_kept() -> None:
    model = _trained()
    prompt = _prompt("a", 99)
    sigs = node_signatures(prompt)
    whole = model.prompt_cost(prompt, sigs, set())
    kept = model.prompt_cost(prompt, sigs, {sigs["1"], sigs["2"]})
    assert whole is not None and kept is not None
    assert abs(kept - 1.0) < 1e-6  # the sampler, on a speed-1 server
    assert abs(whole - 11.1) < 1e-6
    unseen = {"1": {"class_type": "Never", "inputs": {}}}
    assert model.prompt_cost(unseen, node_signatures(unseen), set()) is None


def test_the_model_is_kept_in_the_data_dir_and_read_back() -> None:
    model = _trained()
    path = model.save()
    assert path == data_dir() / COSTS_NAME
    assert [p.name for p in path.parent.iterdir()] == [COSTS_NAME]  # no temporary left
    again = CostModel.load()
    assert again.to_json() == model.to_json()
    assert again.speed("http://fast") == model.speed("http://fast")


def test_a_corrupt_file_is_set_aside_and_the_model_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / COSTS_NAME
    for damage in ("{not json", json.dumps({"version": 1}), json.dumps({"version": 99})):
        path.write_text(damage)
        assert CostModel.load(path).to_json() == CostModel().to_json()
        assert not path.exists()
        assert (tmp_path / f"{COSTS_NAME}.corrupt").read_text() == damage
    assert CostModel.load(tmp_path / "missing.json").run.count == 0


def test_node_times_are_scaled_to_the_servers_own_run_time() -> None:
    model = CostModel()
    timings = [{"node_id": "1", "seconds": 3.0}, {"node_id": "3", "seconds": 1.0}]
    model.observe("http://a", _prompt(), timings, [], 2.0)  # events arrived late: 4 s seen
    sigs = node_signatures(_prompt())
    assert model.node_cost("FancyModelLoader", sigs["1"]) == 1.5
    assert model.node_cost("Sample", sigs["3"]) == 0.5


def test_a_node_standing_for_many_runs_costs_its_class_mean() -> None:
    model = CostModel()
    for seed, seconds in ((1, 3.0), (2, 1.0)):  # seed 1 ran while the server warmed up
        timings = [{"node_id": "3", "seconds": seconds}]
        model.observe("http://a", _prompt(seed=seed), timings, ["1", "2"], seconds)
    prompt = _prompt(seed=1)
    sigs = node_signatures(prompt)
    kept = {sigs["1"], sigs["2"]}
    assert model.prompt_cost(prompt, sigs, kept) == 3.0
    assert model.prompt_cost(prompt, sigs, kept, typical={sigs["3"]}) == 2.0


def test_a_class_seen_only_on_a_slow_server_costs_what_it_would_at_speed_1() -> None:
    model = _trained()  # fast is 2x, slow 0.5x the fleet's typical server
    prompt = {"9": {"class_type": "Upscale", "inputs": {"factor": 2}}}
    model.observe("http://slow", prompt, [{"node_id": "9", "seconds": 8.0}], [], 8.0)
    other = {"9": {"class_type": "Upscale", "inputs": {"factor": 3}}}
    assert model.node_cost("Upscale", node_signatures(other)["9"]) == 4.0
