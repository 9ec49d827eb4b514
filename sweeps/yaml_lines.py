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

import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from sweeps.errors import SpecError

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "DepthLimitedLoader",
    "LineMap",
    "LineSeq",
    "check_node_graph",
    "describe_yaml_error",
    "kind_of",
    "line_of",
    "TooDeep",
    "load_yaml_with_lines",
    "too_deep",
]

MAX_NODES = 100_000
"""Values a document may hold once its aliases are expanded. A large spec holds a
few thousand; an alias bomb ("billion laughs") holds a billion in a few lines, and
anything that walks it (checking a grid, writing a prompt) would never end."""
MAX_DEPTH = 64
"""Levels of nesting a document may have: a spec needs five or six."""


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
            node = loader.get_single_node()
            check_node_graph(node, str(path))
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except TooDeep as exc:
        raise too_deep(exc, str(path)) from None
    except yaml.YAMLError as exc:
        problem, line = describe_yaml_error(exc)
        raise SpecError(f"invalid YAML: {problem}", path=str(path), line=line) from None


def check_node_graph(root: yaml.Node | None, path: str) -> None:
    """Refuse a composed document too large once its aliases expand, nested too
    deep, or holding itself (``&a [*a]``), naming the line where that happens.

    Composition is linear in the text: aliases are shared nodes. Sizes are
    summed bottom-up, each node once, so the check is linear too, whatever the
    document would expand to.
    """
    if root is None:
        return
    sizes: dict[int, int] = {}
    started: set[int] = set()  # nodes whose children are being counted: the path here
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        key = id(node)
        if children_done:
            started.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_NODES:
                raise SpecError(
                    f"this value holds more than {MAX_NODES:,} items once its YAML aliases "
                    "(*name) are expanded, which no sweep needs (an alias bomb?); "
                    "write the values out, or use fewer aliases",
                    path=path,
                    line=node.start_mark.line + 1,
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _deep(path, node.start_mark.line + 1)
        started.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in started:
                raise SpecError(
                    "a YAML alias (*name) here refers to a value that contains it, which "
                    "would never end; write the value out instead",
                    path=path,
                    line=child.start_mark.line + 1,
                )
            stack.append((child, depth + 1, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class TooDeep(yaml.YAMLError):
    """Raised while composing, at the node that passes :data:`MAX_DEPTH`."""

    def __init__(self, line: int | None) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels at line {line}")
        self.line = line


class DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past :data:`MAX_DEPTH` levels of nesting.

    PyYAML composes recursively: a document nested a few thousand deep would
    raise RecursionError, after a second of unwinding, and name no line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise TooDeep(mark.line + 1 if mark else None)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def too_deep(exc: TooDeep, path: str) -> SpecError:
    """The error for a document nested too deep, at its line."""
    return _deep(path, exc.line)


def _deep(path: str, line: int | None) -> SpecError:
    return SpecError(
        f"lists or mappings nested more than {MAX_DEPTH} levels deep here; "
        "no spec or servers file needs that: flatten it",
        path=path,
        line=line,
    )


def describe_yaml_error(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """PyYAML's complaint in plain words with its column, and the 1-based line it is on.

    The common mistakes (an over-indented line, a missing ':', an unclosed
    bracket or quote, a tab) are put in the words of what to fix; anything else
    keeps PyYAML's own wording. An unclosed bracket or quote is reported where
    it opened, since that is where the fix goes.
    """
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc), None
    if exc.problem and "another document" in exc.problem:
        second = exc.problem_mark
        line = second.line + 1 if second else None
        return "a second YAML document starts here ('---'); a file holds one: remove it", line
    plain = _plain_words(exc)
    if plain is not None:
        problem, spot = plain
        return f"{problem} (column {spot.column + 1})", spot.line + 1
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = exc.problem or exc.context or "cannot parse"
    if mark is not None:
        problem = f"{problem} (column {mark.column + 1})"
    context = exc.context_mark
    if exc.context and context is not None and exc.problem and context.line + 1 != line:
        problem = f"{problem}, {exc.context} started at line {context.line + 1}"
    return problem, line


class _Spot(NamedTuple):
    """A 0-based place in the text, like a ``yaml.Mark`` without the buffer."""

    line: int
    column: int


def _plain_words(exc: yaml.MarkedYAMLError) -> tuple[str, yaml.Mark | _Spot] | None:
    """(what to fix, where) for the PyYAML errors people make most, or None."""
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    if mark is None:
        return None
    lines = _text(mark).split("\n")
    here = lines[mark.line] if mark.line < len(lines) else ""
    if "'\\t'" in problem:
        return "a tab here; YAML indents with spaces, not tabs", mark
    if "found unexpected end of stream" in problem and "quoted scalar" in context and opened:
        return "this quote is never closed; end the text with the same quote", opened
    if problem.startswith(("expected ',' or ']'", "expected ',' or '}'")) and opened:
        bracket = "[" if "]" in problem.split(",")[1] else "{"
        close = "]" if bracket == "[" else "}"
        return (
            f"unclosed {bracket}: close it with {close!r} (items inside are separated by ',')",
            opened,
        )
    if "<stream end>" in problem and "flow" in context:
        unclosed = _unclosed_bracket(lines, mark)
        if unclosed is not None:
            bracket, at = unclosed
            close = "]" if bracket == "[" else "}"
            return f"unclosed {bracket}: close it with {close!r}", at
        return "the file ends inside an unclosed [ or {; close it", mark
    if problem == "expected the node content, but found ','":
        return "a value is missing before this ','", mark
    if problem in (
        "expected the node content, but found ']'",
        "expected <block end>, but found ']'",
    ):
        return "a ']' with no '[' before it", mark
    if problem in (
        "expected the node content, but found '}'",
        "expected <block end>, but found '}'",
    ):
        return "a '}' with no '{' before it", mark
    if problem == "could not find expected ':'" and opened is not None:
        return "this line has no ':' after its key; each line of a mapping is 'key: value'", opened
    if problem == "sequence entries are not allowed here":
        return (
            "a '- ' item cannot follow a key on its line; put each item on its own line "
            "under the key, or write the list as [a, b]",
            mark,
        )
    if problem == "mapping values are not allowed here":
        before = here[: mark.column]
        if ": " in before.lstrip(" -"):
            return "a second ': ' on one line; quote a value that holds ': ' (e.g. 'a: b')", mark
        glued = _glued_colon(lines, mark)
        if glued is not None:
            return "a ':' with no space after it; write 'key: value'", glued
        return _indent_words(lines, mark)
    if problem.startswith("expected <block end>, but found"):
        found = problem.rsplit("found ", 1)[1]
        if found == "'<scalar>'" and here[: mark.column].rstrip()[-1:] in ("'", '"'):
            return "text after a closing quote; put the whole value inside the quotes", mark
        if found == "'?'":
            return (
                "a 'key: value' line among '- ' list items; a list and a mapping cannot "
                "share one level",
                mark,
            )
        if found == "'<block sequence start>'":
            return (
                "this '- ' item is not lined up with the items above it, or follows a key "
                "that already has a value; items of one list start in the same column",
                mark,
            )
        return _indent_words(lines, mark)
    token = re.search(r"found character '(.)' that cannot start any token", problem)
    if token:
        char = token.group(1)
        return f"a value cannot start with {char!r}; quote it (e.g. '{char}...')", mark
    escape = re.search(r"found unknown escape character '(.)'", problem)
    if escape:
        return (
            f"'\\{escape.group(1)}' is not an escape inside double quotes; use single quotes, "
            "or write \\\\ for a backslash",
            mark,
        )
    alias = re.search(r"found undefined alias '([^']*)'", problem)
    if alias:
        return (
            f"'*{alias.group(1)}' reads as a YAML alias; quote a value that starts with '*'",
            mark,
        )
    return None


def _indent_words(lines: list[str], mark: yaml.Mark) -> tuple[str, yaml.Mark | _Spot]:
    """Say how the line at ``mark`` is mis-indented against the line above it."""
    here = lines[mark.line] if mark.line < len(lines) else ""
    indent = len(here) - len(here.lstrip(" "))
    above = next(
        (
            (n, text)
            for n, text in reversed(list(enumerate(lines[: mark.line])))
            if text.strip() and not text.lstrip().startswith("#")
        ),
        None,
    )
    if above is not None:
        number, text = above
        above_indent = len(text) - len(text.lstrip(" "))
        if indent > above_indent:
            return (
                f"this line is indented more than the key above it expects: line {number + 1} "
                "already has its value, so nothing can nest under it; indent this line like "
                f"line {number + 1}, or put it under a key that ends with ':'",
                mark,
            )
    return (
        "this line's indentation matches none of the keys above it; keys of one mapping "
        "start in the same column",
        mark,
    )


def _glued_colon(lines: list[str], mark: yaml.Mark) -> _Spot | None:
    """Where a ``key:value`` (no space) on this line or the one above starts, if there is one.

    PyYAML reads ``workflow:a.json`` as text and trips over the next line's key.
    """
    for number in range(mark.line, -1, -1):
        text = lines[number] if number < len(lines) else ""
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        glued = re.match(r"\s*(- )?[\w.-]+:[^\s:/]", text)
        if glued and ": " not in text:
            return _Spot(number, glued.end() - 2)
        if number < mark.line:
            return None
    return None


def _text(mark: yaml.Mark) -> str:
    """The document text a mark points into ('' when PyYAML read from a stream)."""
    buffer = getattr(mark, "buffer", None)
    return buffer.rstrip("\0") if isinstance(buffer, str) else ""


def _unclosed_bracket(lines: list[str], end: yaml.Mark) -> tuple[str, _Spot] | None:
    """The last [ or { before ``end`` that nothing closes, skipping quotes and comments."""
    stack: list[tuple[str, int, int]] = []
    for number, text in enumerate(lines[: end.line + 1]):
        quote = ""
        for column, char in enumerate(text):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"" and (column == 0 or text[column - 1] in " \t[{,:"):
                quote = char
            elif char == "#" and (column == 0 or text[column - 1] in " \t"):
                break
            elif char in "[{":
                stack.append((char, number, column))
            elif char in "]}" and stack:
                stack.pop()
    if not stack:
        return None
    bracket, number, column = stack[-1]
    return bracket, _Spot(number, column)


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


class _Loader(DepthLimitedLoader):
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
