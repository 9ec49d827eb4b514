"""Reading the files a user hands us (specs, workflows, the servers file).

Each way a read can fail becomes a :class:`SpecError` that names the file, and
the line for text that is not UTF-8, and says what to do instead.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SpecError

__all__ = ["read_user_file"]


def read_user_file(path: Path, *, what: str, expected: str, utf8_fix: str) -> str:
    """``path``'s text, or an error like "workflow file not found: /abs/path".

    ``what`` names the file ("spec file"), ``expected`` is what a directory should
    have been ("the spec's YAML file"), ``utf8_fix`` how to make it UTF-8.
    """
    where = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what} not found: {path.resolve()}", path=where) from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a directory; give {expected}", path=where) from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        raise SpecError(
            f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); {utf8_fix}",
            path=where,
            line=raw.count(b"\n", 0, exc.start) + 1,
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read {what} {path}: {exc.strerror or exc}", path=where) from None
