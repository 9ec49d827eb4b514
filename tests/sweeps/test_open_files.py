"""The open-file budget: raised where allowed, refused clearly where not."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from sweeps.errors import SpecError
from sweeps.open_files import check_open_files, files_needed


@pytest.fixture
def restored_limit() -> Iterator[tuple[int, int]]:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield limits
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def test_the_soft_limit_is_raised_toward_the_hard_one(restored_limit: tuple[int, int]) -> None:
    _, hard = restored_limit
    # A fleet as large as this machine's hard limit allows (1,000 servers where it can),
    # starting from a soft limit well below what that fleet needs.
    if hard == resource.RLIM_INFINITY:
        servers, soft = 1000, 256
    else:
        servers, soft = min(1000, (hard - files_needed(0, 2)) // 4), min(256, hard // 2)
    needed = files_needed(servers, 2)
    assert soft < needed and (hard == resource.RLIM_INFINITY or needed <= hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert check_open_files(servers) >= needed
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed


def test_a_hard_limit_too_low_is_said_before_anything_runs() -> None:
    # Lowering the hard limit cannot be undone without privilege: do it in a child.
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))\n"
        "from sweeps.open_files import check_open_files\n"
        "check_open_files(100)\n"
        "try:\n"
        "    check_open_files(1000)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert said.stdout.startswith(SpecError.__name__)
    assert "1000 servers need about 4,064 open files" in said.stdout
    assert "only 1,024" in said.stdout and "ulimit -n 4064" in said.stdout


def test_running_out_of_files_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import errno

    from sweeps.cli.commands import _run

    async def out_of_files() -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    with pytest.raises(SystemExit) as exited:
        _run(out_of_files)
    assert exited.value.code == 1
    assert "Too many open files: raise the limit (ulimit -n)" in capsys.readouterr().err
