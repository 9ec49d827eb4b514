"""Which servers to watch: ``--server`` flags, ``COMFYFLEET_SERVERS``, ``servers.yaml``.

Precedence, highest first (the first source that names any server wins whole;
sources are not merged, so a flag never silently adds to a file's list):

1. ``--server URL`` flags, given as ``cli``;
2. the ``COMFYFLEET_SERVERS`` environment variable: URLs separated by commas or
   whitespace, each optionally ``name=URL``;
3. the servers file, :func:`sweeps.locations.servers_file`
   (``~/.config/comfyfleet/servers.yaml``);
4. ``http://127.0.0.1:8188``, ComfyUI's default address.

``sweep`` and ``plan`` put a spec's own ``servers:`` between 1 and 2
(:func:`sweeps.runner.sweep_servers`).

The servers file::

    servers:
      - name: gpu1
        url: http://gpu1:8188
        headers:
          Authorization: Bearer ${COMFY_TOKEN}   # secrets come from the environment
      - http://gpu2:8188                          # a bare URL is fine too

A top-level list works as well as the ``servers:`` key. Every mistake is a
:class:`~sweeps.errors.SpecError` naming the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from . import locations
from .config import ServerConfig, expand_env
from .errors import SpecError
from .user_files import read_user_file
from .yaml_lines import (
    DepthLimitedLoader,
    TooDeep,
    check_node_graph,
    describe_yaml_error,
    too_deep,
)

__all__ = [
    "DEFAULT_SERVER",
    "ENV_VAR",
    "discover_servers",
    "load_servers_file",
    "parse_server_list",
]

DEFAULT_SERVER = "http://127.0.0.1:8188"
ENV_VAR = "COMFYFLEET_SERVERS"

_KEYS = {"name", "url", "headers"}


def parse_server_list(text: str, *, where: str = ENV_VAR) -> list[ServerConfig]:
    """``"gpu1=http://a:8188, http://b:8188"`` as server configs."""
    servers = []
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        name, sep, url = token.partition("=")
        if not sep or any(c in name for c in ":/@"):  # an "=" inside the URL itself
            name, url = "", token
        try:
            servers.append(ServerConfig(url, name=name))
        except SpecError as exc:
            raise SpecError(exc.reason, path=where) from None
    return servers


def load_servers_file(path: Path, *, env: Mapping[str, str] | None = None) -> list[ServerConfig]:
    """Parse a servers file. A missing file is an error here; discovery checks first."""
    where = str(path)
    text = read_user_file(
        path, what="servers file", expected="a servers.yaml file", utf8_fix="save it as UTF-8"
    )
    try:
        root = yaml.compose(text, Loader=DepthLimitedLoader)
    except TooDeep as exc:
        raise too_deep(exc, where) from None
    except yaml.YAMLError as exc:
        problem, at = describe_yaml_error(exc)
        raise SpecError(f"not valid YAML: {problem}", path=where, line=at) from None
    check_node_graph(root, where)
    if root is None:
        return []
    items = root
    if isinstance(root, yaml.MappingNode):
        _check_unique(root, where)
        found = {key.value: value for key, value in root.value}
        unknown = set(found) - {"servers"}
        if unknown:
            key = next(k for k, _ in root.value if k.value in unknown)
            raise SpecError(
                f"unknown key {key.value!r}: the file holds a 'servers:' list",
                path=where,
                line=_line(key),
            )
        if "servers" not in found:
            raise SpecError("expected a 'servers:' list", path=where, line=_line(root))
        items = found["servers"]
    if not isinstance(items, yaml.SequenceNode) or _is_null(items):
        raise SpecError(
            "'servers' must be a list of URLs or mappings, e.g. '- http://gpu1:8188'",
            path=where,
            line=_line(items),
        )
    return [_server(node, where, env) for node in items.value]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node) -> bool:
    return node.tag == "tag:yaml.org,2002:null"


def _check_unique(node: yaml.MappingNode, where: str) -> None:
    """Refuse a key given twice: YAML loaders silently keep the last one."""
    first: dict[object, int] = {}
    for key, _ in node.value:
        if key.value in first:
            raise SpecError(
                f"duplicate key {key.value!r} (first at line {first[key.value]}); "
                "give each key once",
                path=where,
                line=_line(key),
            )
        first[key.value] = _line(key)


def _scalar(node: yaml.Node, what: str, where: str, env: Mapping[str, str] | None) -> str:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        got = "nothing" if _is_null(node) else "a list or mapping"
        raise SpecError(f"{what} must be a string, got {got}", path=where, line=_line(node))
    if node.tag not in (
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    ):
        raise SpecError(
            f"{what} must be a string, got {node.value!r} (quote it to make it text)",
            path=where,
            line=_line(node),
        )
    try:
        return expand_env(str(node.value), env=env)
    except SpecError as exc:
        hint = "; export it, or write the value in the file"
        raise SpecError(f"{exc.reason} (in {what}){hint}", path=where, line=_line(node)) from None


def _server(node: yaml.Node, where: str, env: Mapping[str, str] | None) -> ServerConfig:
    line = _line(node)
    if isinstance(node, yaml.ScalarNode):
        return _config(_scalar(node, "a server", where, env), "", {}, where, line)
    if not isinstance(node, yaml.MappingNode):
        raise SpecError("a server is a URL or a mapping with 'url'", path=where, line=line)
    _check_unique(node, where)
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if key.value not in _KEYS:
            expected = ", ".join(sorted(_KEYS))
            raise SpecError(
                f"unknown key {key.value!r} in a server (expected {expected})",
                path=where,
                line=_line(key),
            )
        fields[key.value] = value
    if "url" not in fields:
        raise SpecError("this server has no 'url'", path=where, line=line)
    url = _scalar(fields["url"], "'url'", where, env)
    name = _scalar(fields["name"], "'name'", where, env) if "name" in fields else ""
    headers: dict[str, str] = {}
    if "headers" in fields:
        hnode = fields["headers"]
        if not isinstance(hnode, yaml.MappingNode):
            raise SpecError(
                "'headers' must be a mapping of name: value, e.g. Authorization: Bearer ${TOKEN}",
                path=where,
                line=_line(hnode),
            )
        _check_unique(hnode, where)
        for key, value in hnode.value:
            headers[str(key.value)] = _scalar(value, f"header {key.value!r}", where, env)
    return _config(url, name, headers, where, _line(fields["url"]))


def _config(url: str, name: str, headers: dict[str, str], where: str, line: int) -> ServerConfig:
    try:
        return ServerConfig(url, name=name, headers=headers)
    except SpecError as exc:
        raise SpecError(exc.reason, path=where, line=line) from None


def discover_servers(
    cli: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> list[ServerConfig]:
    """The servers to watch, by the precedence in this module's docstring.

    ``env`` defaults to ``os.environ`` and ``path`` to the XDG servers file; tests
    pass both. Duplicate URLs are dropped, first one kept.
    """
    source = os.environ if env is None else env
    servers: list[ServerConfig] = []
    if cli:
        for value in cli:
            servers.extend(parse_server_list(value, where="--server"))
    if not servers and source.get(ENV_VAR, "").strip():
        servers = parse_server_list(source[ENV_VAR])
    if not servers:
        file = path if path is not None else locations.servers_file()
        if file.is_file():
            servers = load_servers_file(file, env=source)
    if not servers:
        servers = [ServerConfig(DEFAULT_SERVER)]
    unique: dict[str, ServerConfig] = {}
    for server in servers:
        unique.setdefault(server.url, server)
    return list(unique.values())
