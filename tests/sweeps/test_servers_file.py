"""Server discovery: flags > COMFYFLEET_SERVERS > servers.yaml > the default address."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps import locations
from sweeps.errors import SpecError
from sweeps.servers_file import (
    DEFAULT_SERVER,
    discover_servers,
    load_servers_file,
    parse_server_list,
)


@pytest.fixture
def servers_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "servers.yaml"
    path.write_text(
        "servers:\n"
        "  - name: gpu1\n"
        "    url: http://gpu1:8188\n"
        "    headers:\n"
        "      Authorization: Bearer ${TOKEN}\n"
        "  - gpu2:8188\n"
    )
    return path


def test_file_with_names_headers_and_env_secrets(servers_yaml: Path):
    servers = load_servers_file(servers_yaml, env={"TOKEN": "s3cret"})
    assert [(s.name, s.url) for s in servers] == [
        ("gpu1", "http://gpu1:8188"),
        ("gpu2:8188", "http://gpu2:8188"),
    ]
    assert servers[0].headers == {"Authorization": "Bearer s3cret"}


def test_unset_env_var_names_the_variable_and_the_line(servers_yaml: Path):
    with pytest.raises(SpecError) as err:
        load_servers_file(servers_yaml, env={})
    assert "TOKEN" in str(err.value) and f"{servers_yaml}:5" in str(err.value)


def test_top_level_list(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("- http://a:1\n- http://b:2\n")
    assert [s.url for s in load_servers_file(path, env={})] == ["http://a:1", "http://b:2"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("servers:\n  - name: x\n", 2, "no 'url'"),
        ("servers:\n  - url: http://a\n    colour: red\n", 3, "unknown key 'colour'"),
        ("hosts: []\n", 1, "unknown key 'hosts'"),
        ("servers: 3\n", 1, "must be a list"),
        ("servers:\n  - url: ftp://a\n", 2, "not valid"),
        ("servers:\n  - url: [1\n", 2, "not valid YAML: unclosed [: close it with ']'"),
        (
            "servers:\n  - url: http://a\n      name: x\n",
            3,
            "not valid YAML: this line is indented more than the key above it expects",
        ),
        ("servers:\n  - url: http//gpu1:8188\n", 2, "did you mean 'http://gpu1:8188'?"),
        ("servers:\n  - url: http://a\n    headers: [1]\n", 3, "'headers' must be a mapping"),
        ("servers:\n  - http://a\nservers:\n  - http://b\n", 3, "duplicate key 'servers'"),
        ("servers:\n  - url: http://a\n    url: http://b\n", 3, "duplicate key 'url'"),
        ("servers:\n  - url: http://a\n    headers: {A: }\n", 3, "header 'A' must be a string"),
        ("servers:\n  - url: http://a\n    headers: {A: {b: c}}\n", 3, "must be a string"),
        ("servers:\n  - url: http://a\n    headers: {'a b': c}\n", 2, "header name 'a b'"),
        ("servers:\n  - url: true\n", 2, "quote it"),
        ("servers:\n  - http://a:99999\n", 2, "port must be a number from 1 to 65535"),
        ("servers:\n  - http://a:abc\n", 2, "port must be a number from 1 to 65535"),
        ("servers:\n\t- http://a\n", 2, "spaces, not tabs"),
        ("servers:\n", 1, "must be a list"),
        ("servers:\n  - http://${NOPE}:1\n", 2, "environment variable NOPE is not set"),
    ],
)
def test_mistakes_point_at_file_and_line(tmp_path: Path, text: str, line: int, words: str):
    path = tmp_path / "servers.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_servers_file(path, env={})
    assert err.value.path == str(path)
    assert err.value.line == line
    assert words in str(err.value)


def test_empty_file_means_no_servers(tmp_path: Path):
    path = tmp_path / "servers.yaml"
    path.write_text("")
    assert load_servers_file(path, env={}) == []


def test_env_list_with_names():
    servers = parse_server_list("gpu1=http://a:8188, http://b:8188  c:1")
    assert [(s.name, s.url) for s in servers] == [
        ("gpu1", "http://a:8188"),
        ("b:8188", "http://b:8188"),
        ("c:1", "http://c:1"),
    ]


def test_precedence_flag_env_file_default(servers_yaml: Path, tmp_path: Path):
    env = {"COMFYFLEET_SERVERS": "http://env:1", "TOKEN": "t"}
    assert [s.url for s in discover_servers(["http://flag:1"], env=env, path=servers_yaml)] == [
        "http://flag:1"
    ]
    assert [s.url for s in discover_servers([], env=env, path=servers_yaml)] == ["http://env:1"]
    assert [s.name for s in discover_servers([], env={"TOKEN": "t"}, path=servers_yaml)] == [
        "gpu1",
        "gpu2:8188",
    ]
    missing = tmp_path / "none.yaml"
    assert [s.url for s in discover_servers([], env={}, path=missing)] == [DEFAULT_SERVER]


def test_duplicates_are_dropped():
    servers = discover_servers(["http://a:1", "a:1,http://b:2"], env={})
    assert [s.url for s in servers] == ["http://a:1", "http://b:2"]


def test_a_flag_missing_the_colon_of_http_suggests_the_url_meant():
    """``http//host`` must not become ``http://http//host`` and fail on DNS."""
    with pytest.raises(SpecError, match=r"did you mean 'http://127.0.0.1:8301'\?") as err:
        discover_servers(["http//127.0.0.1:8301"], env={})
    assert err.value.path == "--server"


def test_bad_flag_says_where():
    with pytest.raises(SpecError, match="--server"):
        discover_servers(["ftp://x"], env={})


def test_xdg_config_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert locations.servers_file() == tmp_path / "comfyfleet" / "servers.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert locations.config_dir() == Path.home() / ".config" / "comfyfleet"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert locations.data_dir() == tmp_path / "comfyfleet"


def test_discovery_reads_the_xdg_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / "comfyfleet").mkdir()
    (tmp_path / "comfyfleet" / "servers.yaml").write_text("- http://xdg:1\n")
    monkeypatch.setattr(locations, "config_dir", lambda: tmp_path / "comfyfleet")
    assert [s.url for s in discover_servers([], env={})] == ["http://xdg:1"]


def test_non_utf8_servers_file_names_the_line(tmp_path: Path):
    path = tmp_path / "servers.yaml"
    path.write_bytes(b"servers:\n  - http://caf\xe9:1\n")
    with pytest.raises(SpecError, match="not UTF-8") as err:
        load_servers_file(path, env={})
    assert (err.value.path, err.value.line) == (str(path), 2)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("http://a:99999", "the port must be a number from 1 to 65535"),
        ("http://a:x", "the port must be a number from 1 to 65535"),
        ("gpu=http://[::1", "Invalid IPv6 URL"),
        ("a=b=c", "'b=c' is not a host name"),
        ("http://:8188", "there is no host"),
        ("ftp://a", "the scheme is 'ftp'"),
        ("http://a/#top", "query or fragment"),
    ],
)
def test_garbage_in_the_environment_variable_says_where(value: str, words: str):
    with pytest.raises(SpecError) as err:
        discover_servers([], env={"COMFYFLEET_SERVERS": value}, path=Path("/nonexistent"))
    assert err.value.path == "COMFYFLEET_SERVERS"
    assert words in str(err.value) and "expected http(s)://host[:port]" in str(err.value)


def test_a_bad_port_flag_is_an_error_before_any_request():
    with pytest.raises(SpecError, match="--server.*port must be a number"):
        discover_servers(["http://a:abc"], env={})


def test_env_list_an_equals_sign_inside_a_url_is_not_a_name():
    [server] = parse_server_list("http://me:p=w@a:8188/comfy")
    assert (server.name, server.url) == ("a:8188/comfy", "http://a:8188/comfy")
    assert server.headers["Authorization"].startswith("Basic ")
