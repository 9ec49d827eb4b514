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
from typing import TYPE_CHECKING, Any, Literal

from .errors import NodeIssues, SpecError
from .grid import DecimalRange, Grid
from .models import parse_node_errors, with_combo_options
from .schema import InputSpec, NodeSchema
from .validation import validate_prompt
from .workflow import Workflow, is_link

if TYPE_CHECKING:
    from .identity import RunLike

__all__ = ["Preflight", "ValueProblem", "check_grid"]


@dataclass(frozen=True)
class ValueProblem:
    """One swept value one server refuses."""

    workflow: str
    address: str
    value: Any
    server: str
    reason: str
    where: str = ""
    """``spec.yaml:LINE`` that gives this value, when known."""
    kind: Literal["refused", "coerced"] = "refused"
    """``refused``: the server's own rules say no. ``coerced``: the server would take it
    but convert it (7.5 to 7), so comfyfleet refuses it to keep runs distinct."""


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

    def differences(self) -> list[tuple[str, str | None, frozenset[str]]]:
        """What sets the servers apart: ``(workflow, (address, value) or None, servers
        lacking it)`` for each workflow or swept value some servers can run and others
        cannot (a node class or model one ComfyUI has and another lacks). Empty when
        every server can run the same runs. What no server can run is an error instead.
        """
        lacking: dict[tuple[str, str | None], set[str]] = {}
        for workflow, server in self.unusable:
            lacking.setdefault((workflow, None), set()).add(server)
        for p in self.problems:
            if (p.workflow, p.server) not in self.unusable:
                lacking.setdefault((p.workflow, f"{p.address}={p.value}"), set()).add(p.server)
        everyone = set(self.servers)
        return [
            (workflow, what, frozenset(servers))
            for (workflow, what), servers in lacking.items()
            if servers != everyone
        ]

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
                    who = "the server" if len(usable) == 1 else f"all {len(usable)} servers"
                    at = f"{first.where}: " if first.where else ""
                    said = (
                        f"is refused by {who}"
                        if first.kind == "refused"
                        else "would not run as written"
                    )
                    messages.append(f"{at}{first.address} = {first.value!r} {said}: {first.reason}")
        return messages

    def warnings(self) -> list[str]:
        """Problems some servers have but others cover."""
        errors = set(self.errors())
        out = []
        for p in self.problems:
            line = f"{p.server} cannot take {p.address} = {p.value!r}: {p.reason}"
            if p.kind == "coerced":
                line = (
                    f"{p.address} = {p.value!r} would not run as written on {p.server}: {p.reason}"
                )
            if not any(p.address in e and repr(p.value) in e for e in errors):
                out.append(line)
        for (workflow, server), reason in self.unusable.items():
            out.append(f"{server} cannot run workflow {workflow!r}: {reason}")
        return out

    def raise_for_errors(self, path: str | None = None) -> None:
        """Raise one :class:`SpecError` listing every error, at the first one's spec line.

        Errors that carry ``path:LINE:`` are listed by line, since the message
        already names the file.
        """
        errors = self.errors()
        if not errors:
            return
        lines: list[int | None] = []
        shown = []
        for error in errors:
            line = None
            if path and error.startswith(f"{path}:"):
                number, _, rest = error[len(path) + 1 :].partition(": ")
                if number.isdigit():
                    line, error = int(number), rest
            lines.append(line)
            shown.append(error)
        if len(shown) == 1:
            raise SpecError(shown[0], path=path, line=lines[0])
        listed = [
            f"line {n}: {e}" if n is not None else e for n, e in zip(lines, shown, strict=True)
        ]
        first = next((n for n in lines if n is not None), None)
        head = f"the sweep cannot run as written ({len(shown)} problems):"
        raise SpecError("\n  ".join([head, *listed]), path=path, line=first)


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


def _where(grid: Grid, address: str, value: Any) -> str:
    spec = grid.spec
    line = spec.line_for(address, value)
    return f"{spec.path}:{line}" if line is not None else ""


def _link_problems(workflow: Workflow, schemas: Mapping[str, NodeSchema]) -> list[str]:
    """Links to an output the source node's class does not have on this server.

    ComfyUI reports these as an exception on the wrong node; say which link is wrong.
    """
    out = []
    for node in workflow.nodes.values():
        for input_name, value in node.inputs.items():
            if not is_link(value):
                continue
            source = workflow.nodes.get(value[0])
            schema = schemas.get(source.class_type) if source else None
            if source is None or schema is None or value[1] < len(schema.outputs):
                continue
            have = ", ".join(f"{i} {t}" for i, t in enumerate(schema.outputs)) or "none"
            out.append(
                f"node {node.node_id} ({node.class_type}) input {input_name} links to output "
                f"{value[1]} of node {source.node_id} ({source.class_type}), which has outputs: "
                f"{have}; fix the link in the workflow"
            )
    return out


def _type_problem(spec: InputSpec | None, value: Any) -> str | None:
    """A value ComfyUI would coerce into something else than was meant, or None.

    ComfyUI converts with ``int()``, ``float()``, ``bool()``: 7.5 becomes 7 for an
    INT, ``"false"`` becomes true for a BOOLEAN, and ``yes`` (true to YAML) becomes
    ``"True"`` for text. Runs that differ only in such a value would repeat each other.
    """
    if spec is None:
        return None
    kind = spec.type
    if kind in ("INT", "FLOAT"):
        whole = kind == "INT"
        noun = "a whole number" if whole else "a number"
        if isinstance(value, bool):
            return f"{str(value).lower()} is not {noun} (write 1 or 0)"
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return None  # ComfyUI refuses it too, in its own words
            return f"{value!r} is text; write the number without quotes"
        if whole and isinstance(value, float) and not value.is_integer():
            return (
                f"{value!r} is not a whole number: ComfyUI would silently cut it to "
                f"{int(value)}, so runs could repeat; give whole numbers"
            )
    elif kind == "BOOLEAN" and not isinstance(value, bool):
        return f"{value!r} is not true or false (ComfyUI reads any non-empty text as true)"
    elif kind == "STRING" and isinstance(value, bool):
        return (
            f"{str(value).lower()} is true/false, not text; quote it (YAML reads yes, no, "
            "on, off, true and false unquoted as true/false)"
        )
    return None


def _type_probes(values: Sequence[Any]) -> Sequence[Any]:
    """Values whose types stand for a whole column: a range's first two and its last."""
    if isinstance(values, range | DecimalRange) and len(values) > 3:
        return [values[0], values[1], values[len(values) - 1]]
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
            links = _link_problems(workflow, schemas)
            if links:
                unusable[(name, server)] = "; ".join(links)
                continue
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
                class_type = workflow.nodes[ref.node_id].class_type
                label = f"node {ref.node_id} ({class_type}) input {ref.input_name}"
                schema = schemas.get(class_type)
                spec = schema.inputs.get(ref.input_name) if schema else None
                if schema is not None and (spec is None or spec.hidden):
                    known = ", ".join(i.name for i in schema.visible_inputs) or "none"
                    at = _where(grid, address, None)
                    unusable[(name, server)] = (
                        f"{at + ': ' if at else ''}{address} is {label}, but {class_type} has "
                        f"no input {ref.input_name!r} on this server, so the value would be "
                        f"ignored; its inputs: {known}"
                    )
                    break
                typed = False
                for value in _type_probes(column):
                    problem = _type_problem(spec, value)
                    if problem:
                        where = _where(grid, address, value)
                        reason = f"{label}: {problem}"
                        problems.append(
                            ValueProblem(name, address, value, server, reason, where, "coerced")
                        )
                        typed = True
                if typed:
                    continue
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
                        where = _where(grid, address, value)
                        problems.append(
                            ValueProblem(name, address, value, server, "; ".join(reasons), where)
                        )
    return Preflight(tuple(schemas_by_server), tuple(problems), unusable)


def _first(values: Sequence[Any]) -> Any:
    return values[0]
