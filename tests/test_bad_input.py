"""Bad input, as a user types it: every case exits 2 with a message that says where
(file:line, or node and input, or the flag), and no prompt reaches a server.

Each case is one row of :data:`CASES`, so the suite is easy to count and extend.
The CLI runs in this process (click's runner) against one simulator per test
process, started as a subprocess because the CLI runs its own event loop.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from sweeps.cli import main

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = (REPO / "sample_workflows" / "model_free.json").read_text()
GOOD = "name: bad\nworkflow: model_free.json\noutput: out\ngrid:\n  Noise.seed: [1, 2]\n"


def _bomb(levels: int = 9) -> str:
    """A billion laughs in one flow list: 9 aliases, each nine of the one before."""
    parts = ["&a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _json_nested(depth: int) -> str:
    return '{"1": {"class_type": "X", "inputs": {"v": ' + _nested(depth) + "}}}"


@dataclass(frozen=True)
class Case:
    """One bad input: files to write, CLI arguments, and what the message must say.

    ``expect`` is a regular expression searched in stderr+stdout; ``{spec}`` and
    ``{dir}`` stand for the spec's path and the directory holding it.
    """

    id: str
    expect: str
    spec: str = GOOD
    workflow: str = WORKFLOW
    servers_file: str | None = None
    args: tuple[str, ...] = ()
    command: str = "sweep"
    env: dict[str, str] = field(default_factory=dict)
    use_sim: bool = True
    """Point ``--server`` at the simulator (unless the case names its own servers)."""
    spec_path: str = "{dir}/spec.yaml"


HEAD = "name: bad\nworkflow: model_free.json\noutput: out\n"


def grid(body: str) -> str:
    """A spec whose grid (from line 5) is ``body``."""
    return f"{HEAD}grid:\n{body}"


SPEC_CASES = [
    Case(
        "alias-bomb-in-grid", r"{spec}:5: .*YAML aliases", spec=grid(f"  Noise.seed: {_bomb()}\n")
    ),
    Case(
        "alias-bomb-in-set",
        r"{spec}:5: .*YAML aliases",
        spec=f"{HEAD}set:\n  Noise.strength: {_bomb()}\n" + "grid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "alias-bomb-in-description",
        r"{spec}:4: .*YAML aliases",
        spec=f"{HEAD}description: {_bomb()}\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "alias-that-holds-itself",
        r"{spec}:5: a YAML alias .* contains it",
        spec=grid("  Noise.seed: &a [1, *a]\n"),
    ),
    Case(
        "nested-5000-deep",
        r"{spec}:5: .*nested more than 64 levels",
        spec=grid(f"  Noise.seed: {_nested(5000)}\n"),
    ),
    Case(
        "nested-70-deep",
        r"{spec}:5: .*nested more than 64 levels",
        spec=grid(f"  Noise.seed: {_nested(70)}\n"),
    ),
    Case("tab-indent", r"{spec}:5: .*tab", spec=grid("\tNoise.seed: [1]\n")),
    Case(
        "unclosed-bracket",
        r"{spec}:5: .*unclosed \[",
        spec=grid("  Noise.seed: [1, 2\n  Blur.blur_radius: [1]\n"),
    ),
    Case(
        "unclosed-quote",
        r"{spec}:6: .*quote is never closed",
        spec=grid("  Noise.seed: [1]\ndescription: 'never closed\n"),
    ),
    Case(
        "duplicate-key",
        r"{spec}:6: duplicate key 'Noise.seed'",
        spec=grid("  Noise.seed: [1]\n  Noise.seed: [2]\n"),
    ),
    Case(
        "unknown-top-key",
        r"{spec}:4: unknown key 'gird'.*did you mean 'grid'",
        spec=f"{HEAD}gird:\n  Noise.seed: [1]\n",
    ),
    Case("empty-file", r"{spec}:1: the file is empty", spec=""),
    Case("top-level-list", r"{spec}:1: it holds a list", spec="- a\n- b\n"),
    Case(
        "grid-not-a-mapping",
        r"{spec}:5: grid must be a non-empty mapping",
        spec=grid("  - Noise.seed\n"),
    ),
    Case(
        "grid-value-empty-list",
        r"{spec}:5: grid: Noise.seed has an empty list",
        spec=grid("  Noise.seed: []\n"),
    ),
    Case(
        "address-without-input",
        r"{spec}:5: address 'Noise' must be NODE.INPUT",
        spec=grid("  Noise: [1]\n"),
    ),
    Case(
        "unknown-node",
        r"{spec}:5: no node 'Nois'.*Did you mean 'Noise'",
        spec=grid("  Nois.seed: [1]\n"),
    ),
    Case(
        "unknown-input",
        r"{spec}:5: .*has no input 'sead'.*Did you mean 'seed'",
        spec=grid("  Noise.sead: [1]\n"),
    ),
    Case(
        "range-step-zero",
        r"{spec}:5: Noise.strength: range step must not be 0",
        spec=grid("  Noise.strength: {range: [0, 1, 0]}\n"),
    ),
    Case(
        "range-too-many",
        r"{spec}:5: Noise.seed: range .*larger step",
        spec=grid("  Noise.seed: {range: [0, 100000000000000000000]}\n"),
    ),
    Case(
        "range-four-numbers",
        r"{spec}:5: Noise.seed: range must be \[stop\]",
        spec=grid("  Noise.seed: {range: [1, 2, 3, 4]}\n"),
    ),
    Case(
        "text-for-a-number",
        r"{spec}:5: Noise.seed = 'abc' is refused.*input seed",
        spec=grid("  Noise.seed: [abc]\n"),
    ),
    Case(
        "above-the-maximum",
        r"{spec}:5: Blur.blur_radius = 99 .*1..31",
        spec=grid("  Blur.blur_radius: [1, 99]\n"),
    ),
    Case(
        "fraction-for-a-whole-number",
        r"{spec}:5: Noise.seed = 1.5 .*not a whole number",
        spec=grid("  Noise.seed: [1, 1.5]\n"),
    ),
    Case(
        "zip-lengths-differ",
        r"{spec}:5: zip group .* same length",
        spec=f"{HEAD}zip:\n  Noise.seed: [1, 2]\n  Blur.blur_radius: [1]\n",
    ),
    Case(
        "exclude-unknown-address",
        r"{spec}:7: exclude names 'Blur.sigmaa'",
        spec=grid("  Noise.seed: [1, 2]\nexclude:\n  - {Blur.sigmaa: 1}\n"),
    ),
    Case(
        "repeat-zero",
        r"{spec}:4: repeat must be a whole number >= 1",
        spec=f"{HEAD}repeat: 0\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "repeat-text",
        r"{spec}:4: repeat must be a whole number >= 1",
        spec=f"{HEAD}repeat: many\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "sample-negative",
        r"{spec}:4: sample must be a whole number >= 1",
        spec=f"{HEAD}sample: -3\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "seed-text",
        r"{spec}:4: seed must be a whole number >= 0",
        spec=f"{HEAD}seed: abc\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "name-a-list",
        r"{spec}:1: name must be a short text",
        spec="name: [a]\nworkflow: model_free.json\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "workflow-missing-file",
        r"{spec}:2: workflow 'nowhere.json' not found",
        spec="name: bad\nworkflow: nowhere.json\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "workflow-key-missing",
        r"{spec}:1: the spec has no workflow: key",
        spec="name: bad\ngrid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "servers-env-unset",
        r"{spec}:5: environment variable UNSET_TOKEN is not set",
        spec=f"{HEAD}servers:\n  - url: http://h:1\n"
        "    headers: {Authorization: 'Bearer ${UNSET_TOKEN}'}\n"
        "grid:\n  Noise.seed: [1]\n",
        use_sim=False,
    ),
    Case(
        "servers-bad-url",
        r"{spec}:4: server URL 'http://h:99999' is not valid: the port",
        spec=f"{HEAD}servers: ['http://h:99999']\ngrid:\n  Noise.seed: [1]\n",
        use_sim=False,
    ),
    Case(
        "second-document",
        r"{spec}:6: .*second YAML document",
        spec=grid("  Noise.seed: [1]\n---\nname: again\n"),
    ),
    Case("key-not-text", r"{spec}:5: a key must be text", spec=grid("  [a, b]: [1]\n")),
    Case(
        "not-utf8",
        r"{spec}:6: .*not UTF-8 text \(byte 0xe9\)",
        spec=grid("  Noise.seed: [1]\n") + "# caf\udce9\n",
    ),
    Case(
        "glued-colon",
        r"{spec}:5: .*':' with no space after it",
        spec=grid("  Noise.seed:[1]\n  Blur.blur_radius: [1]\n"),
    ),
    Case(
        "output-is-a-file",
        r"{spec}:3: output .* is a file",
        spec=HEAD.replace("output: out", "output: model_free.json") + "grid:\n  Noise.seed: [1]\n",
    ),
    Case(
        "plot-unknown-axis",
        r"{spec}:7: plot x: 'Blur.sigma'",
        spec=grid("  Noise.seed: [1, 2]\nplot:\n  x: Blur.sigma\n"),
    ),
    Case(
        "value-a-mapping",
        r"{spec}:5: grid: Noise.seed: a mapping is not allowed",
        spec=grid("  Noise.seed: [{a: 1}]\n"),
    ),
]


def edited(case_id: str, expect: str, old: str, new: str) -> Case:
    """The sample workflow with its first ``old`` replaced by ``new``."""
    assert old in WORKFLOW, old
    return Case(case_id, expect, workflow=WORKFLOW.replace(old, new, 1))


WORKFLOW_CASES = [
    Case("workflow-not-json", r"{dir}/model_free.json:1: invalid JSON", workflow="{not json"),
    Case(
        "workflow-nested-200000-deep",
        r"{dir}/model_free.json:1: .*too deeply",
        workflow=_json_nested(200_000),
    ),
    Case(
        "workflow-duplicate-node-id",
        r"{dir}/model_free.json:1: .*key '1' twice",
        workflow='{"1": {"class_type": "EmptyImage", "inputs": {}},'
        ' "1": {"class_type": "SaveImage", "inputs": {}}}',
    ),
    Case("workflow-empty-object", r"{dir}/model_free.json:1: .*has no nodes", workflow="{}"),
    Case("workflow-a-list", r"{dir}/model_free.json:1: .*holds a JSON list", workflow="[1, 2]"),
    edited(
        "workflow-node-without-class",
        r"{dir}/model_free.json:28: node '3' has no class_type",
        '"class_type": "ImageBlur",',
        "",
    ),
    edited(
        "workflow-unknown-class",
        r"{spec}: no server can run workflow 'model_free.json': .*ImageBlurr",
        '"ImageBlur"',
        '"ImageBlurr"',
    ),
    edited(
        "workflow-link-to-missing-node",
        r"{dir}/model_free.json:28: node '3' \(ImageBlur\) input 'image' links to node '99'",
        '"2",\n        0',
        '"99",\n        0',
    ),
    edited(
        "workflow-missing-required-input",
        r"node 3 \(ImageBlur\) input blur_radius: is required",
        '"blur_radius": 1,',
        "",
    ),
    edited("workflow-not-utf8", r"{dir}/model_free.json:\d+: .*not UTF-8", "Canvas", "Canv\udce9s"),
    edited(
        "workflow-link-to-missing-output",
        r"node 3 \(ImageBlur\) input image links to output 7 of node 2",
        '"2",\n        0',
        '"2",\n        7',
    ),
    edited(
        "workflow-input-text-for-number",
        r"node 3 \(ImageBlur\) input sigma: 'soft' cannot be converted",
        '"sigma": 1.0',
        '"sigma": "soft"',
    ),
]

SERVERS_FILE_CASES = [
    Case(
        "servers-file-alias-bomb",
        r"servers.yaml:1: .*YAML aliases",
        servers_file=f"servers: {_bomb()}\n",
    ),
    Case(
        "servers-file-alias-holds-itself",
        r"servers.yaml:1: a YAML alias .* contains it",
        servers_file="servers: &a [*a]\n",
    ),
    Case(
        "servers-file-nested-5000-deep",
        r"servers.yaml:1: .*nested more than 64 levels",
        servers_file=f"servers: {_nested(5000)}\n",
    ),
    Case(
        "servers-file-unknown-key",
        r"servers.yaml:3: unknown key 'token'",
        servers_file="servers:\n  - url: http://h:1\n    token: x\n",
    ),
    Case(
        "servers-file-bad-url",
        r"servers.yaml:2: server URL 'htp://h:1' .*did you mean 'http://h:1'",
        servers_file="servers:\n  - htp://h:1\n",
    ),
    Case(
        "servers-file-header-line-break",
        r"servers.yaml:2: header X-A holds a line break",
        servers_file='servers:\n  - url: http://h:1\n    headers: {X-A: "a\\nb"}\n',
    ),
    Case(
        "servers-file-headers-a-list",
        r"servers.yaml:3: 'headers' must be a mapping",
        servers_file="servers:\n  - url: http://h:1\n    headers: [a]\n",
    ),
    Case(
        "servers-file-env-unset",
        r"servers.yaml:3: environment variable UNSET_TOKEN",
        servers_file="servers:\n  - url: http://h:1\n"
        "    headers: {Authorization: 'Bearer ${UNSET_TOKEN}'}\n",
    ),
    Case(
        "servers-file-duplicate-key",
        r"servers.yaml:3: duplicate key 'url' \(first at line 2\)",
        servers_file="servers:\n  - url: http://h:1\n    url: http://h:2\n",
    ),
    Case(
        "servers-file-no-url",
        r"servers.yaml:2: this server has no 'url'",
        servers_file="servers:\n  - name: gpu\n",
    ),
    Case(
        "servers-file-bad-yaml",
        r"servers.yaml:1: not valid YAML: unclosed \[",
        servers_file="servers: [http://h:1\n",
    ),
    Case(
        "servers-file-port-zero",
        r"servers.yaml:1: server URL 'http://h:0' .*the port",
        servers_file="servers: ['http://h:0']\n",
    ),
]


def server_flag(case_id: str, expect: str, url: str) -> Case:
    """A ``--server`` value that is refused before anything is asked of any server."""
    return Case(case_id, f"--server: server URL .*{expect}", args=("--server", url), use_sim=False)


FLAG_CASES = [
    server_flag("flag-server-port-text", r"the port", "http://127.0.0.1:abc"),
    server_flag("flag-server-port-too-big", r"the port", "http://127.0.0.1:99999"),
    server_flag("flag-server-no-host", r"there is no host", "http://:8188"),
    server_flag(
        "flag-server-scheme-typo", r"did you mean 'http://127.0.0.1:8188'", "htp://127.0.0.1:8188"
    ),
    server_flag("flag-server-websocket-url", r"http\(s\) address", "ws://127.0.0.1:8188"),
    server_flag("flag-server-query", r"query or fragment", "http://127.0.0.1:8188/?token=x"),
    Case("flag-depth-zero", r"Invalid value for '--depth': 0", args=("--depth", "0")),
    Case("flag-depth-text", r"Invalid value for '--depth': 'deep'", args=("--depth", "deep")),
    Case(
        "flag-out-is-a-file",
        r"Invalid value for '--out': .* is a file",
        args=("--out", "{dir}/model_free.json"),
    ),
    Case(
        "flag-unknown-option",
        r"No such option '--servre'. Did you mean '--server'",
        args=("--servre", "http://h:1"),
    ),
    Case("flag-spec-missing", r"{dir}/none.yaml: spec file not found", spec_path="{dir}/none.yaml"),
    Case(
        "flag-spec-is-a-directory",
        r"Invalid value for 'SPEC': .* is a directory",
        spec_path="{dir}",
    ),
    Case(
        "env-servers-bad-url",
        r"COMFYFLEET_SERVERS: server URL 'http://h:99999'",
        env={"COMFYFLEET_SERVERS": "http://h:99999"},
        use_sim=False,
    ),
    Case(
        "plan-preview-negative",
        r"Invalid value for '--preview': -1",
        command="plan",
        args=("--preview", "-1"),
    ),
    Case(
        "plan-alias-bomb",
        r"{spec}:5: .*YAML aliases",
        command="plan",
        spec=grid(f"  Noise.seed: {_bomb()}\n"),
    ),
]

CASES = SPEC_CASES + WORKFLOW_CASES + SERVERS_FILE_CASES + FLAG_CASES


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """A simulator in its own process: the CLI under test runs its own event loop here."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeps.cli", "sim", "--port", str(port), "--speed", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(transport=httpx.HTTPTransport(retries=8)) as http:
            http.get(f"{url}/system_stats", timeout=30).raise_for_status()
        yield url
    finally:
        process.terminate()
        process.wait(10)


def run_case(case: Case, where: Path, sim_url: str) -> tuple[int, str, Path]:
    """Write the case's files under ``where``, run the CLI; (exit code, output, spec path)."""
    where.mkdir()
    (where / "model_free.json").write_bytes(case.workflow.encode("utf-8", "surrogateescape"))
    (where / "spec.yaml").write_bytes(case.spec.encode("utf-8", "surrogateescape"))
    if case.servers_file is not None:
        from sweeps import locations

        locations.servers_file().parent.mkdir(parents=True, exist_ok=True)
        locations.servers_file().write_text(case.servers_file)
    spec = Path(case.spec_path.format(dir=where))
    args = [case.command, str(spec), *(a.format(dir=where) for a in case.args)]
    if case.use_sim and case.servers_file is None:
        args += ["--server", sim_url]
    result = CliRunner().invoke(main, args, env=case.env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output, spec


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_exits_2_with_a_located_message_and_sends_nothing(
    case: Case, tmp_path: Path, sim_url: str
) -> None:
    started = time.monotonic()
    code, output, spec = run_case(case, tmp_path / "case", sim_url)
    assert time.monotonic() - started < 20  # bounded: a bomb answers at once
    assert code == 2, output
    assert "Traceback" not in output
    expect = case.expect.format(spec=re.escape(str(spec)), dir=re.escape(str(spec.parent)))
    assert re.search(expect, output), output
    with httpx.Client() as http:
        assert http.get(f"{sim_url}/history").json() == {}
        queue = http.get(f"{sim_url}/queue").json()
    assert queue == {"queue_running": [], "queue_pending": []}
