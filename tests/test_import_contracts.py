"""The architecture, checked: which part of the code may import which.

Read from the source (every import statement, at any depth, TYPE_CHECKING ones
included), not from ``sys.modules``: third-party packages import what they like
(httpx loads Rich for its own command line), and a contract is about our code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("comfyfleet", "sweeps", "tui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")
    }


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module ``module`` names in an import statement, resolved to a full name."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from . import fleetops` names a module, not an attribute.
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in _modules())
    return frozenset(found)


LAZY = {"sweeps", "comfyfleet"}
"""Packages whose ``__init__`` names everything but imports it only on first use."""


def _closure(module: str) -> set[str]:
    """``module`` and every module of ours it imports, directly or not."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in _modules() or (name in LAZY and name != module):
            continue
        seen.add(name)
        todo.extend(_imports(name))
    return seen


def _engine() -> Iterator[str]:
    return (m for m in _modules() if m.startswith("sweeps") and not m.startswith("sweeps.cli"))


def _names(imported: frozenset[str], *prefixes: str) -> list[str]:
    return sorted(m for m in imported if m.split(".")[0] in prefixes)


def test_the_engine_imports_no_ui() -> None:
    """Rich, Textual and the dashboard are the command line's (``sweeps.cli``) alone."""
    offenders = {m: _names(_imports(m), "rich", "textual", "tui", "click") for m in _engine()}
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_engine_never_reaches_the_command_line() -> None:
    offenders = {
        m
        for m in _engine()
        if any(i == "sweeps.cli" or i.startswith("sweeps.cli.") for i in _imports(m))
    }
    assert offenders == set()


CLIENT_SIDE = {
    "sweeps.client",
    "sweeps.connection",
    "sweeps.events",
    "sweeps.jobs",
    "sweeps.models",
    "sweeps.stream",
    "sweeps.tracking",
}


def test_the_simulator_shares_no_parser_with_the_client() -> None:
    """The conformance tests play the client against the simulator: if both read the
    wire with the same code, a misreading in it would agree with itself."""
    simulator = [m for m in _modules() if m.startswith("sweeps.simulator")]
    reached = set().union(*(_closure(m) for m in simulator))
    assert reached & CLIENT_SIDE == set()


@pytest.mark.parametrize("module", ["sweeps.spec", "sweeps.grid"])
def test_specs_and_grids_know_nothing_of_servers_or_dispatch(module: str) -> None:
    forbidden = CLIENT_SIDE | {"sweeps.scheduler", "sweeps.pool", "sweeps.runner"}
    assert _closure(module) & forbidden == set()


def test_the_dashboard_speaks_no_http() -> None:
    """Widgets render what the engine publishes; only the engine talks to servers."""
    offenders = {
        m: _names(_imports(m), "httpx", "websockets", "aiohttp")
        for m in _modules()
        if m.startswith("tui")
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_contract_reader_sees_imports() -> None:
    """The checks above would pass vacuously if nothing were read."""
    assert "sweeps.client" in _closure("sweeps.runner")
    assert "sweeps.cli.console" in _imports("sweeps.cli.commands")
    assert "rich.console" in _imports("sweeps.cli.console")
