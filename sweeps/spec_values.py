"""Reading the values a spec gives, each checked where it is written.

A grid key's values are a list, ``{range: [start, stop, step]}`` (lazy; exact
decimal steps when a float is involved) or ``{random: N}`` (N distinct seeds
drawn reproducibly from the spec's ``seed``); a zip group pairs several such
lists by position. :class:`ValueReader` turns each into a column, or fails with
a :class:`~sweeps.errors.SpecError` naming the spec file, the line to fix and
what would be valid there. The spec reader in :mod:`sweeps.spec` builds on it
for blocks, workflows and servers.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sweeps.errors import SpecError
from sweeps.grid import DecimalRange, DrawStream, draw_distinct
from sweeps.yaml_lines import LineMap, LineSeq, kind_of, line_of

__all__ = ["RANDOM_LIMIT", "RANDOM_MAX", "SEED_MAX", "ValueReader", "value_key"]

RANDOM_MAX = 2**32 - 1
RANDOM_LIMIT = 100_000
SEED_MAX = 2**64 - 1  # the largest seed ComfyUI's samplers take
RANGE_LIMIT = sys.maxsize  # a longer range has no len() in Python


def value_key(address: str, value: object) -> str:
    """Key of ``SweepSpec.lines`` for the line that gives ``value`` to ``address``."""
    return f"{address}={json.dumps(value, sort_keys=True)}"


class ValueReader:
    """Checks values in a line-annotated spec, raising at the first problem.

    ``seed`` feeds ``{random: N}``; the spec reader sets it before reading blocks.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seed = 0
        self.lines: dict[str, int] = {}
        """What :attr:`SweepSpec.lines` holds: where each address and value is written."""

    def note(
        self, address: str, line: int, value: object = None, *, has_value: bool = True
    ) -> None:
        """Remember where ``address`` (and, if given, ``value`` for it) first appears."""
        self.lines.setdefault(address, line)
        if has_value:
            self.lines.setdefault(value_key(address, value), line)

    def fail(self, message: str, line: int | None) -> SpecError:
        return SpecError(message, path=str(self.path), line=line)

    # -- small readers ---------------------------------------------------------

    def check_keys(self, data: LineMap, valid: Sequence[str], where: str) -> None:
        for key in data:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(
                    f"unknown key {key!r} {where}{guess or '.'} Valid keys: {', '.join(valid)}",
                    data.key_lines[key],
                )

    def check_top_keys(self, data: LineMap, valid: Sequence[str], kind: str) -> None:
        """Like :meth:`check_keys`, but an input address at the top says to indent it.

        ``KSampler.seed:`` at column 1 below ``grid:`` is a key of the spec, not
        of grid; the closest top-level key ('sample') would be the wrong hint.
        """
        where = f"at the top of a spec {kind}".rstrip()
        unknown = next((k for k in data if k not in valid), None)
        if isinstance(unknown, str) and "." in unknown.strip("."):
            sections = [k for k in ("set", "grid", "zip") if k in valid]
            under = ", ".join(f"{k}:" for k in sections[:-1]) + f" or {sections[-1]}:"
            if len(sections) == 1:
                under = f"{sections[0]}: (or a block's grid:, set: or zip:)"
            empty = [k for k in sections if k in data and data[k] is None]
            hint = (
                f"; {empty[0]}: at line {data.key_lines[empty[0]]} has nothing under it: "
                "indent this key (and the ones after it) by two spaces"
                if empty
                else ""
            )
            raise self.fail(
                f"unknown key {unknown!r} {where}: it looks like an input address "
                f"(NODE.INPUT), which belongs indented under {under}{hint}",
                data.key_lines[unknown],
            )
        self.check_keys(data, valid, where)

    def integer(
        self, data: LineMap, key: str, default: Any, *, minimum: int, maximum: int | None = None
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        bad = isinstance(value, bool) or not isinstance(value, int) or value < minimum
        if bad or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise self.fail(
                f"{key} must be a whole number {bounds}, got {kind_of(value)}",
                line_of(data, key),
            )
        return value

    def mapping(self, data: LineMap, key: str) -> LineMap:
        value = data[key]
        if not isinstance(value, LineMap) or not value:
            raise self.fail(
                f"{key} must be a non-empty mapping of ADDRESS: value (ADDRESS is NODE.INPUT, "
                f"e.g. KSampler.steps), got {kind_of(value)}",
                line_of(data, key),
            )
        return value

    def sequence(self, data: LineMap, key: str, expected: str) -> LineSeq:
        value = data[key]
        if not isinstance(value, LineSeq) or not value:
            raise self.fail(f"{key} must be {expected}, got {kind_of(value)}", line_of(data, key))
        return value

    # -- values ----------------------------------------------------------------

    def value(self, value: object, line: int, where: str, *, allow_list: bool = True) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"{where}: {value} is not a number ComfyUI accepts", line)
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, list) and allow_list:
            return [self.value(v, line, where) for v in value]
        what = "a literal list value" if isinstance(value, list) else kind_of(value)
        raise self.fail(
            f"{where}: {what} is not allowed here; use a number, text or true/false", line
        )

    def column(self, address: str, raw: object, line: int, where: str) -> Sequence[Any]:
        if isinstance(raw, LineSeq):
            if not raw:
                raise self.fail(
                    f"{where}: {address} has an empty list; give at least one value", line
                )
            values = tuple(
                self.value(v, vl, f"{where}: {address}")
                for v, vl in zip(raw, raw.item_lines, strict=True)
            )
            self.note(address, line, has_value=False)
            for v, vl in zip(values, raw.item_lines, strict=True):
                self.note(address, vl, v)
            if where == "grid":
                self.check_unique(address, values, raw.item_lines)
            return values
        if isinstance(raw, LineMap) and "range" in raw:
            self.check_keys(raw, ("range",), f"in {address}'s range")
            self.note(address, line_of(raw, "range"), has_value=False)
            return self.number_range(address, raw["range"], line_of(raw, "range"))
        if isinstance(raw, LineMap) and "random" in raw:
            self.check_keys(raw, ("random", "min", "max"), f"in {address}'s random")
            self.note(address, line_of(raw, "random"), has_value=False)
            return self.random_seeds(address, raw)
        if isinstance(raw, LineMap):
            self.check_keys(raw, ("range", "random"), f"in {address}'s values")
        raise self.fail(
            f"{where}: {address} must be a list of values, {{range: [start, stop, step]}} or "
            f"{{random: N}}, got {kind_of(raw)}; to give every run one value, put it under set:",
            line,
        )

    def check_unique(self, what: str, values: Sequence[Any], lines: Sequence[int]) -> None:
        """Reject a repeated value: it would give two runs with one set of parameters."""
        first: dict[str, int] = {}
        for i, value in enumerate(values):
            key = json.dumps(value, sort_keys=True)
            if key in first:
                raise self.fail(
                    f"{what} lists {value!r} twice (lines {lines[first[key]]} and {lines[i]}); "
                    "list each value once (repeat: runs every combination again)",
                    lines[i],
                )
            first[key] = i

    def number_range(self, address: str, raw: object, line: int) -> Sequence[Any]:
        numbers = list(raw) if isinstance(raw, list) else None
        usage = (
            "range must be [stop], [start, stop] or [start, stop, step] with numbers, "
            "stop excluded as in Python's range (a float anywhere steps exactly in decimal)"
        )
        if not numbers or len(numbers) > 3 or not all(_is_number(n) for n in numbers):
            raise self.fail(f"{address}: {usage}, got {raw!r}", line)
        if len(numbers) == 1:
            numbers.insert(0, 0)
        if len(numbers) == 2:
            numbers.append(1)
        if numbers[2] == 0:
            raise self.fail(f"{address}: range step must not be 0", line)
        if all(isinstance(n, int) for n in numbers):
            values: Sequence[Any] = range(*numbers)
            count = (abs(numbers[1] - numbers[0]) + abs(numbers[2]) - 1) // abs(numbers[2])
            if (numbers[1] - numbers[0]) * numbers[2] <= 0:
                count = 0
        else:
            values = DecimalRange(*(Decimal(repr(n)) for n in numbers))
            count = len(values)
        if not count:
            raise self.fail(f"{address}: range {raw!r} is empty; {usage}", line)
        if count > RANGE_LIMIT:
            raise self.fail(
                f"{address}: range {raw!r} has {count:,} values, more than a sweep can "
                f"count ({RANGE_LIMIT:,}); use a larger step, or {{random: N}} for seeds",
                line,
            )
        return values

    def random_seeds(self, address: str, raw: LineMap) -> tuple[int, ...]:
        count = self.integer(raw, "random", None, minimum=1)
        low = self.integer(raw, "min", 0, minimum=0, maximum=SEED_MAX)
        default_high = RANDOM_MAX if low <= RANDOM_MAX else SEED_MAX
        high = self.integer(raw, "max", default_high, minimum=low, maximum=SEED_MAX)
        size = high - low + 1
        if count > min(size, RANDOM_LIMIT):
            raise self.fail(
                f"{address}: cannot draw {count} distinct seeds from {low}..{high}; "
                f"random: N must be at most {min(size, RANDOM_LIMIT)} (use range: for more)",
                line_of(raw, "random"),
            )
        stream = DrawStream(self.seed, f"random:{address}")
        return tuple(low + v for v in draw_distinct(count, size, stream))

    def zip_groups(self, raw: LineMap) -> list[tuple[LineMap, int]]:
        if "zip" not in raw:
            return []
        value = raw["zip"]
        if isinstance(value, LineMap):
            value = LineSeq([value])
            value.line, value.item_lines = value[0].line, [value[0].line]
        if not isinstance(value, LineSeq) or not value:
            raise self.fail(
                "zip must be a list of groups, each a mapping of ADDRESS: [values] of one length, "
                "e.g. [{Positive.text: [a, b], Negative.text: [c, d]}]; got " + kind_of(value),
                line_of(raw, "zip"),
            )
        out = []
        for group, line in zip(value, value.item_lines, strict=True):
            if not isinstance(group, LineMap) or not group:
                raise self.fail(
                    f"zip group at line {line} must be a mapping of ADDRESS: [values]", line
                )
            out.append((group, line))
        return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
