"""The engine's public surface, and the promise that it never loads the UI."""

from __future__ import annotations

import subprocess
import sys

import sweeps


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert sweeps.__all__ == sorted(sweeps.__all__)
    for name in sweeps.__all__:
        assert getattr(sweeps, name) is not None, name


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_engine_never_imports_textual() -> None:
    loaded = _modules_after(
        "import sweeps.runner, sweeps.scheduler, sweeps.client, sweeps.simulator, sweeps.cli"
    )
    assert not {m for m in loaded if m == "textual" or m.startswith(("textual.", "tui"))}


def test_help_is_cheap() -> None:
    loaded = _modules_after(
        "from click.testing import CliRunner\n"
        "from sweeps.cli import main\n"
        "CliRunner().invoke(main, ['--help'])"
    )
    assert "textual" not in loaded
    assert "polars" not in loaded
    assert "aiohttp" not in loaded
    assert "httpx" not in loaded  # the fleet one-liners load the client when they run


def test_the_product_is_importable_under_its_own_name() -> None:
    import comfyfleet

    assert comfyfleet.__all__ == sweeps.__all__
    assert comfyfleet.load_report is sweeps.load_report
    assert comfyfleet.ServerConfig("gpu1:8188").url == "http://gpu1:8188"


def test_python_dash_m_comfyfleet_is_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "comfyfleet", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: comfyfleet ")
    assert "status" in result.stdout and "sweep" in result.stdout
