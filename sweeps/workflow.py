"""API-format workflows and the addresses a sweep uses to reach their inputs.

A workflow here is what ComfyUI's "Export (API)" writes and what ``POST /prompt``
takes as ``prompt``: ``{node_id: {"class_type": ..., "inputs": {...}, "_meta": {...}}}``.
An input value is a constant or a link ``[source_node_id, output_slot]``.

A sweep names an input by an *address*, ``NODE.INPUT``, where NODE is a node id
(``3``), a ``_meta.title`` (``Positive``) or a class_type found once in the graph
(``KSampler``). Titles may contain dots, so the address splits on its last dot.
Resolution is strict because a typo that silently set nothing would waste a
whole sweep: unknown and ambiguous names are errors listing what would work.

Errors are :class:`~sweeps.errors.SpecError`. Those from :meth:`Workflow.resolve`
carry no path or line: the spec loader re-raises them at the spec line that
used the address.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from sweeps.errors import SpecError
from sweeps.user_files import read_user_file

__all__ = ["InputRef", "Node", "Workflow", "is_link", "load_workflow", "wrap_value"]


class InputRef(NamedTuple):
    """Where an address lands: ``node_id, input_name = workflow.resolve("KSampler.seed")``."""

    node_id: str
    input_name: str

    def __str__(self) -> str:
        return f"{self.node_id}.{self.input_name}"


def is_link(value: object) -> bool:
    """True for ``[source_node_id, output_slot]``, ComfyUI's encoding of an edge."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


@dataclass(frozen=True)
class Node:
    """One node of the graph, read-only. ``inputs`` still holds links as lists."""

    node_id: str
    class_type: str
    title: str | None
    inputs: Mapping[str, Any]

    def label(self) -> str:
        """``6 CLIPTextEncode 'Positive'``: how error messages name a node."""
        title = f" {self.title!r}" if self.title and self.title != self.class_type else ""
        return f"{self.node_id} {self.class_type}{title}"

    def settable_inputs(self) -> list[str]:
        """Inputs holding constants: the ones a sweep may set."""
        return [name for name, value in self.inputs.items() if not is_link(value)]


@dataclass(frozen=True)
class Workflow:
    """An API-format graph with its node index, never mutated after loading.

    >>> wf = Workflow.from_prompt({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    >>> wf.resolve("KSampler.seed")
    InputRef(node_id='3', input_name='seed')
    >>> wf.apply({"KSampler.seed": 7})["3"]["inputs"]["seed"]
    7
    """

    name: str
    nodes: Mapping[str, Node] = field(hash=False)
    path: Path | None = None
    _prompt: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _resolved: dict[str, InputRef] = field(default_factory=dict, repr=False, compare=False)
    _text: str = field(default="", repr=False, compare=False)
    """``_prompt`` as JSON: decoding it is a deep copy several times cheaper than
    :func:`copy.deepcopy`, and a sweep copies the graph for every prompt it builds."""

    def __post_init__(self) -> None:
        if not self._text:
            object.__setattr__(self, "_text", json.dumps(self._prompt))

    @classmethod
    def from_prompt(
        cls, prompt: Mapping[str, Any], *, name: str = "workflow", path: Path | None = None
    ) -> Workflow:
        """Check the graph's shape and index it. ``prompt`` is deep-copied."""
        where = str(path) if path else name
        if not isinstance(prompt, Mapping) or not prompt:
            raise SpecError(
                f"workflow {where} has no nodes; expected an API-format object "
                '{"<node id>": {"class_type": ..., "inputs": {...}}, ...}',
                path=str(path) if path else None,
                line=1 if path else None,
            )
        own = copy.deepcopy(dict(prompt))
        nodes: dict[str, Node] = {}
        for node_id, body in own.items():
            problem = _node_problem(body)
            if problem:
                raise SpecError(
                    f"node {node_id!r} in workflow {where} {problem}; every node must be "
                    '{"class_type": "<name>", "inputs": {...}}',
                    path=str(path) if path else None,
                    line=1 if path else None,
                )
            meta = body.get("_meta")
            title = meta.get("title") if isinstance(meta, dict) else None
            nodes[str(node_id)] = Node(
                node_id=str(node_id),
                class_type=body["class_type"],
                title=title if isinstance(title, str) and title else None,
                inputs=MappingProxyType(body["inputs"]),
            )
        return cls(name=name, nodes=MappingProxyType(nodes), path=path, _prompt=own)

    def to_prompt(self) -> dict[str, Any]:
        """A fresh deep copy of the graph, safe for the caller to change."""
        return copy.deepcopy(self._prompt)

    def resolve(self, address: str) -> InputRef:
        """Turn ``NODE.INPUT`` into ``(node_id, input_name)``, or say what would work.

        Raises :class:`SpecError` (without path or line) for a malformed address,
        an unknown or ambiguous NODE, an INPUT the node does not have, and an
        input that is a link (setting it would cut the graph).
        """
        cached = self._resolved.get(address)
        if cached is not None:
            return cached
        if not isinstance(address, str) or "." not in address.strip(".") or address[-1] == ".":
            raise SpecError(
                f"address {address!r} must be NODE.INPUT, where NODE is a node id, a title "
                f"or a class_type found once in {self.name}, e.g. {self._example()}"
            )
        node_ref, input_name = address.rsplit(".", 1)
        node = self._find_node(node_ref, address)
        if input_name not in node.inputs:
            raise SpecError(self._unknown_input(node, input_name, address))
        value = node.inputs[input_name]
        if is_link(value):
            source = self.nodes.get(value[0])
            source_label = source.label() if source else f"{value[0]} (missing)"
            hint = ""
            if source and source.settable_inputs():
                hint = f"; to vary it, sweep an input of node {source.node_id} instead: " + (
                    ", ".join(f"{source.node_id}.{n}" for n in source.settable_inputs())
                )
            raise SpecError(
                f"{address} is a link from node {source_label} output {value[1]} in "
                f"{self.name}; setting a value would cut that connection{hint}"
            )
        ref = InputRef(node.node_id, input_name)
        self._resolved[address] = ref
        return ref

    def apply(self, params: Mapping[str, object]) -> dict[str, Any]:
        """A new prompt with ``params`` (address -> value) set; this workflow is untouched.

        List values are wrapped as ``{"__value__": [...]}``, because ComfyUI would
        otherwise read a two-item list as a link (PROTOCOL 1.2).
        """
        prompt: dict[str, Any] = json.loads(self._text)
        seen: dict[InputRef, str] = {}
        for address, value in params.items():
            ref = self.resolve(address)
            if ref in seen:
                raise SpecError(f"{seen[ref]} and {address} both set input {ref} of {self.name}")
            seen[ref] = address
            prompt[ref.node_id]["inputs"][ref.input_name] = wrap_value(value)
        return prompt

    def _find_node(self, node_ref: str, address: str) -> Node:
        if node_ref in self.nodes:
            return self.nodes[node_ref]
        titled = [n for n in self.nodes.values() if n.title == node_ref]
        if len(titled) == 1:
            return titled[0]
        if titled:
            raise SpecError(self._ambiguous(node_ref, titled, address, "title"))
        typed = [n for n in self.nodes.values() if n.class_type == node_ref]
        if len(typed) == 1:
            return typed[0]
        if typed:
            raise SpecError(self._ambiguous(node_ref, typed, address, "class_type"))
        names = self._node_names()
        close = difflib.get_close_matches(node_ref, names, n=3, cutoff=0.6)
        close += [n for n in names if n.lower() == node_ref.lower() and n not in close]
        guess = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(n.label() for n in self.nodes.values())
        raise SpecError(
            f"no node {node_ref!r} in {self.name} (address {address}).{guess} "
            f"NODE may be a node id, a title or a class_type found once; nodes: {listing}"
        )

    def _ambiguous(self, node_ref: str, matches: list[Node], address: str, kind: str) -> str:
        input_name = address.rsplit(".", 1)[1]
        choices = []
        for node in matches:
            choices.append(f"{node.node_id}.{input_name}")
            title_unique = node.title and sum(n.title == node.title for n in matches) == 1
            if title_unique and node.title not in self.nodes:
                choices.append(f"{node.title}.{input_name}")
        labels = ", ".join(n.label() for n in matches)
        return (
            f"{address} is ambiguous: {len(matches)} nodes in {self.name} have {kind} "
            f"{node_ref!r} ({labels}); address one of them by id or unique title: "
            + ", ".join(choices)
        )

    def _unknown_input(self, node: Node, input_name: str, address: str) -> str:
        names = list(node.inputs)
        close = difflib.get_close_matches(input_name, names, n=3, cutoff=0.6)
        guess = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        settable = node.settable_inputs()
        return (
            f"node {node.label()} in {self.name} has no input {input_name!r} "
            f"(address {address}).{guess} Settable inputs: {', '.join(settable) or 'none'}"
        )

    def _node_names(self) -> list[str]:
        names: list[str] = list(self.nodes)
        names += [n.title for n in self.nodes.values() if n.title]
        counts: dict[str, int] = {}
        for node in self.nodes.values():
            counts[node.class_type] = counts.get(node.class_type, 0) + 1
        names += [c for c, k in counts.items() if k == 1]
        return list(dict.fromkeys(names))

    def _example(self) -> str:
        for node in self.nodes.values():
            settable = node.settable_inputs()
            if settable:
                return f"{node.title or node.node_id}.{settable[0]}"
        return "KSampler.seed"


def wrap_value(value: object) -> object:
    """ComfyUI's encoding of a constant: lists (and tuples) go inside ``__value__``."""
    if isinstance(value, (list, tuple)):
        return {"__value__": list(value)}
    return value


def load_workflow(path: Path, *, name: str | None = None) -> Workflow:
    """Read an API-format workflow file; errors name the file, the line and the fix.

    Also accepts a saved ``POST /prompt`` body (``{"prompt": {...}, ...}``), which
    is what request logs and the traces hold.
    """
    label = name or path.name
    text = read_user_file(
        path,
        what="workflow file",
        expected="the API-format .json file",
        utf8_fix="ComfyUI writes UTF-8: export it again with Export (API)",
    )
    if not text.strip():
        raise SpecError(
            f"workflow {path} is empty; export the workflow from ComfyUI with Export (API)",
            path=str(path),
            line=1,
        )
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise SpecError(
            f"workflow {path} gives key {exc.key!r} twice in one object; JSON readers keep "
            "only the last, so one of them would be silently lost",
            path=str(path),
            line=_line_of_key(text, exc.key, nth=2),
        ) from None
    except RecursionError:
        raise SpecError(
            f"workflow {path} nests lists or objects too deeply to read; an API-format "
            "export nests three levels: export the workflow again with Export (API)",
            path=str(path),
            line=1,
        ) from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON in workflow at {path}:{exc.lineno}:{exc.colno}: {exc.msg}; "
            "export the workflow from ComfyUI with Export (API)",
            path=str(path),
            line=exc.lineno,
        ) from None
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]
    if isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data:
        raise SpecError(
            f"workflow {path} is in ComfyUI's UI format (it has 'nodes' and 'links' arrays); "
            "a sweep needs the API format: in ComfyUI use Workflow > Export (API) "
            "(enable dev mode options in older versions) and point the spec at that file",
            path=str(path),
            line=1,
        )
    if not isinstance(data, dict):
        raise SpecError(
            f"workflow {path} holds a JSON {type(data).__name__}; expected an API-format "
            'object {"<node id>": {"class_type": ..., "inputs": {...}}}',
            path=str(path),
            line=1,
        )
    for node_id, body in data.items():
        problem = _node_problem(body)
        if problem:
            raise SpecError(
                f"node {node_id!r} {problem}; every node must be "
                '{"class_type": "<name>", "inputs": {...}} (API format)',
                path=str(path),
                line=_line_of_key(text, node_id),
            )
    for node_id, input_name, problem in _graph_problems(data):
        raise SpecError(
            f"node {node_id!r} ({data[node_id]['class_type']}) input {input_name!r} {problem}",
            path=str(path),
            line=_line_of_key(text, node_id),
        )
    return Workflow.from_prompt(data, name=label, path=path)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _graph_problems(prompt: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Links ComfyUI would refuse, found without a server: (node id, input, what is wrong).

    ComfyUI reads every 2-item list input as a link ``["node id", output index]``
    and any other list as a malformed link; a link must name a node of this
    graph, and links must not form a cycle. Its own error for each of these
    names the wrong node (PROTOCOL 1.2), so they are reported here instead.
    """
    problems: list[tuple[str, str, str]] = []
    edges: dict[str, list[tuple[str, str]]] = {}
    constant = 'a list constant must be written {"__value__": [...]}'
    for node_id, body in prompt.items():
        for name, value in body["inputs"].items():
            if not isinstance(value, list):
                continue
            if len(value) != 2:
                problems.append(
                    (
                        node_id,
                        name,
                        f"is a list of {len(value)} items; ComfyUI reads a list "
                        f'as a link ["node id", output index], and {constant}',
                    )
                )
                continue
            source, slot = value
            if not isinstance(source, str) or isinstance(slot, bool) or not isinstance(slot, int):
                problems.append(
                    (
                        node_id,
                        name,
                        f"holds {json.dumps(value)}, which ComfyUI reads as a link "
                        'but is not ["node id", output index] (the id is text, the index a whole '
                        f"number); {constant}",
                    )
                )
            elif source not in prompt:
                known = ", ".join(repr(n) for n in prompt)
                problems.append(
                    (
                        node_id,
                        name,
                        f"links to node {source!r}, which is not in this workflow "
                        f"(nodes: {known}); export the workflow again or fix the link",
                    )
                )
            elif slot < 0:
                problems.append(
                    (
                        node_id,
                        name,
                        f"links to output {slot} of node {source!r}; an output index counts from 0",
                    )
                )
            else:
                edges.setdefault(node_id, []).append((source, name))
    if not problems:
        cycle = _find_cycle(list(prompt), edges)
        if cycle:
            path = " -> ".join(n for n, _ in cycle) + f" -> {cycle[0][0]}"
            node_id, name = cycle[0]
            problems.append(
                (
                    node_id,
                    name,
                    f"is part of a cycle of links ({path}); ComfyUI cannot run "
                    "a graph whose links loop back",
                )
            )
    return problems


def _find_cycle(
    nodes: list[str], edges: Mapping[str, list[tuple[str, str]]]
) -> list[tuple[str, str]] | None:
    """A loop of links as (node, input that links onward) pairs, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in nodes:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[tuple[str, str]] = []
        state[start] = 1
        while stack:
            node, i = stack[-1]
            out = edges.get(node, [])
            if i == len(out):
                stack.pop()
                state[node] = 2
                if trail:
                    trail.pop()
                continue
            stack[-1] = (node, i + 1)
            target, name = out[i]
            if state.get(target) == 1:
                trail.append((node, name))
                first = next(k for k, (n, _) in enumerate(trail) if n == target)
                return trail[first:]
            if not state.get(target):
                trail.append((node, name))
                state[target] = 1
                stack.append((target, 0))
    return None


def _node_problem(body: object) -> str | None:
    if not isinstance(body, dict):
        return f"is a {type(body).__name__}, not an object"
    if "class_type" in body and not isinstance(body["class_type"], str):
        return f"has class_type {json.dumps(body['class_type'])}, which is not text"
    if not isinstance(body.get("class_type"), str) or not body["class_type"]:
        return "has no class_type"
    if not isinstance(body.get("inputs"), dict):
        return "has no inputs object"
    return None


def _line_of_key(text: str, key: str, *, nth: int = 1) -> int:
    """Line of the ``nth`` ``"key":`` in a JSON text: close enough to point a reader at it."""
    pattern = re.compile(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:')
    matches = list(pattern.finditer(text))
    if not matches:
        return 1
    match = matches[min(nth, len(matches)) - 1]
    return text.count("\n", 0, match.start()) + 1
