"""A YAML loader whose mappings and lists remember the line each key, value and item started on.

PyYAML's composed nodes carry marks (where in the text each node begins), but
``safe_load`` drops them when it builds plain dicts and lists. We keep them on
the values instead, as :class:`LineMap` and :class:`LineSeq`, so every error
found later, however deep in a spec, can name ``file:line``. The loader also
reports duplicate keys (``safe_load`` silently keeps the last) and leaves
dates as text (a ``2024-01-01`` in a prompt is text, not a ``date``).

>>> data = load_yaml_with_lines("grid:\\n  KSampler.cfg: [5, 7]\\n", "spec.yaml")
>>> line_of(data, "grid"), data["grid"]["KSampler.cfg"].item_lines
(2, [2, 2])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sweeps.errors import SpecError

__all__ = [
    "LineMap",
    "LineSeq",
    "describe_yaml_error",
    "kind_of",
    "line_of",
    "load_yaml_with_lines",
]


class LineMap(dict[Any, Any]):
    """A YAML mapping: ``line`` it starts on, and per key its ``key_lines`` and ``value_lines``."""

    line = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class LineSeq(list[Any]):
    """A YAML list: ``line`` it starts on, and ``item_lines[i]`` where item ``i`` starts."""

    line = 0
    item_lines: list[int]


def load_yaml_with_lines(text: str, path: str | Path) -> object:
    """Parse one YAML document into plain values, with LineMap and LineSeq for its containers.

    ``path`` only names the file in errors. Bad YAML, a duplicate key and a
    key that is not text all raise :class:`~sweeps.errors.SpecError` at their line.
    """
    try:
        loader = _Loader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        problem, line = describe_yaml_error(exc)
        raise SpecError(f"invalid YAML: {problem}", path=str(path), line=line) from None


def describe_yaml_error(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """PyYAML's complaint as one sentence with its column, and the 1-based line it is on.

    PyYAML reports an unclosed bracket at the end of the file; the context
    (where the bracket opened) is added so the reader finds it.
    """
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc), None
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = exc.problem or exc.context or "cannot parse"
    if mark is not None:
        problem = f"{problem} (column {mark.column + 1})"
    context = exc.context_mark
    if exc.context and context is not None and exc.problem and context.line + 1 != line:
        problem = f"{problem}, {exc.context} started at line {context.line + 1}"
    if "'\\t'" in problem:
        problem += "; YAML indents with spaces, not tabs"
    if exc.problem and "another document" in exc.problem:
        problem = "a second YAML document starts here ('---'); a file holds one: remove it"
    return problem, line


def line_of(data: LineMap, key: str) -> int:
    """The line of ``data[key]``'s value, or of the mapping itself when ``key`` is absent."""
    return data.value_lines.get(key, data.line)


def kind_of(value: object) -> str:
    """Say what a loaded value is, for an error message: "a mapping", "an empty list", "int 3"."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, (LineMap, dict)):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"


class _Loader(yaml.SafeLoader):
    """SafeLoader whose maps and lists carry 1-based lines, and which keeps dates as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = LineMap()
    data.line, data.key_lines, data.value_lines = node.start_mark.line + 1, {}, {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)):
            raise SpecError(f"a key must be text, got {key!r}", path=loader.name, line=line)
        if key in data:
            raise SpecError(
                f"duplicate key {key!r} (first at line {data.key_lines[key]}); "
                "each key may appear once in a mapping",
                path=loader.name,
                line=line,
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key], data.value_lines[key] = line, value_node.start_mark.line + 1


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data = LineSeq()
    data.line, data.item_lines = node.start_mark.line + 1, []
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
