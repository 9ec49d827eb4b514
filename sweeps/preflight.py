"""Check a sweep against each server's /object_info before any GPU time is spent.

Each distinct swept value is checked once per server, with the same rules the
server applies on POST /prompt (:func:`sweeps.validation.validate_prompt`), so
"not in the list", "out of range" and "wrong type" are caught here, with the
node and input named, rather than run by run on the GPU. A value one server
lacks (a checkpoint, a LoRA) only keeps that server away from those runs; a
value no server accepts is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import NodeIssues, SpecError
from .grid import DecimalRange, Grid
from .models import parse_node_errors, with_combo_options
from .schema import NodeSchema
from .validation import validate_prompt

if TYPE_CHECKING:
    from .scheduler import RunLike

__all__ = ["Preflight", "ValueProblem", "check_grid"]


@dataclass(frozen=True)
class ValueProblem:
    """One swept value one server refuses."""

    workflow: str
    address: str
    value: Any
    server: str
    reason: str


@dataclass(frozen=True)
class Preflight:
    """What each server can run. ``eligible`` is what the scheduler asks."""

    servers: tuple[str, ...]
    problems: tuple[ValueProblem, ...] = ()
    unusable: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(workflow, server) -> why that server cannot run that workflow at all."""
    _bad: dict[tuple[str, str, str], set[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """(workflow, server, address) -> the refused values' keys; built from ``problems``."""

    def __post_init__(self) -> None:
        bad: dict[tuple[str, str, str], set[str]] = {}
        for p in self.problems:
            bad.setdefault((p.workflow, p.server, p.address), set()).add(_key(p.value))
        object.__setattr__(self, "_bad", bad)

    def eligible(self, run: RunLike, server: str) -> bool:
        if (run.workflow_name, server) in self.unusable:
            return False
        for address, value in run.params.items():
            refused = self._bad.get((run.workflow_name, server, address))
            if refused and _key(value) in refused:
                return False
        return True

    def errors(self) -> list[str]:
        """Problems that leave some runs with no server at all."""
        messages: list[str] = []
        workflows = {w for w, _ in self.unusable} | {p.workflow for p in self.problems}
        for workflow in sorted(workflows):
            usable = [s for s in self.servers if (workflow, s) not in self.unusable]
            if not usable:
                reasons = {self.unusable[(workflow, s)] for s in self.servers}
                messages.append(f"no server can run workflow {workflow!r}: " + "; ".join(reasons))
                continue
            by_value: dict[tuple[str, str], list[ValueProblem]] = {}
            for p in self.problems:
                if p.workflow == workflow and p.server in usable:
                    by_value.setdefault((p.address, _key(p.value)), []).append(p)
            for found in by_value.values():
                if {p.server for p in found} == set(usable):
                    first = found[0]
                    where = "the server" if len(usable) == 1 else f"all {len(usable)} servers"
                    messages.append(
                        f"{first.address} = {first.value!r} is refused by {where}: {first.reason}"
                    )
        return messages

    def warnings(self) -> list[str]:
        """Problems some servers have but others cover."""
        errors = set(self.errors())
        out = []
        for p in self.problems:
            line = f"{p.server} cannot take {p.address} = {p.value!r}: {p.reason}"
            if not any(p.address in e and repr(p.value) in e for e in errors):
                out.append(line)
        for (workflow, server), reason in self.unusable.items():
            out.append(f"{server} cannot run workflow {workflow!r}: {reason}")
        return out

    def raise_for_errors(self, path: str | None = None) -> None:
        errors = self.errors()
        if errors:
            raise SpecError("\n  ".join(["the sweep cannot run as written:", *errors]), path=path)


def _key(value: Any) -> str:
    return repr(value)


def _reasons(issues: Sequence[NodeIssues], node_id: str | None = None) -> list[str]:
    lines = []
    for node in issues:
        if node_id is None or node.node_id == node_id:
            lines.extend(node.lines())
    return lines


def _probe_values(values: Sequence[Any]) -> Sequence[Any]:
    """Ranges are checked at their ends: bounds are all a range can violate."""
    if isinstance(values, range | DecimalRange) and len(values) > 2:
        return [values[0], values[len(values) - 1]]
    return values


def check_grid(grid: Grid, schemas_by_server: Mapping[str, Mapping[str, NodeSchema]]) -> Preflight:
    """Check every workflow and swept value of ``grid`` against each server's schemas."""
    problems: list[ValueProblem] = []
    unusable: dict[tuple[str, str], str] = {}
    for name, workflow in grid.workflows.items():
        values = grid.values_by_address(name)
        base_params = {a: _first(v) for a, v in values.items()}
        swept_refs = {workflow.resolve(a) for a in values}
        base = workflow.apply(base_params)
        for server, schemas in schemas_by_server.items():
            result = validate_prompt(base, schemas)
            if result.error is not None and result.error.get("type") != (
                "prompt_outputs_failed_validation"
            ):
                unusable[(name, server)] = str(result.error.get("message"))
                continue
            issues = with_combo_options(parse_node_errors(result.node_errors), schemas)
            fixed = [
                line
                for node in issues
                for issue, line in zip(node.errors, node.lines(), strict=True)
                if (node.node_id, issue.input_name) not in swept_refs
            ]
            if fixed:
                unusable[(name, server)] = "; ".join(fixed)
                continue
            for address, column in values.items():
                ref = workflow.resolve(address)
                for value in _probe_values(column):
                    probe = workflow.apply({**base_params, address: value})
                    found = with_combo_options(
                        parse_node_errors(validate_prompt(probe, schemas).node_errors), schemas
                    )
                    reasons = [
                        line
                        for node in found
                        for issue, line in zip(node.errors, node.lines(), strict=True)
                        if node.node_id == ref.node_id and issue.input_name == ref.input_name
                    ]
                    if reasons:
                        problems.append(
                            ValueProblem(name, address, value, server, "; ".join(reasons))
                        )
    return Preflight(tuple(schemas_by_server), tuple(problems), unusable)


def _first(values: Sequence[Any]) -> Any:
    return values[0]
