"""Prompt validation exactly as ComfyUI 0.8.0 does it (``execution.validate_prompt``).

Two users need the same answer: the sweep engine, which checks every grid point
before sending it so that a typo fails the plan instead of the fleet, and the
simulator, whose ``POST /prompt`` must answer byte for byte what the real server
answers (``prompt_validation_errors.json`` in the traces). So this module copies
ComfyUI's algorithm, quirks included:

* a node's inputs are coerced with ``int()``, ``float()``, ``str()``, ``bool()``
  (``"16"`` is accepted, ``16.7`` becomes 16, ``"false"`` becomes True);
* a link to a missing node raises *outside* the try block that guards the
  recursive call, so the error is reported on the node holding the dangling
  link, with the input name and ``linked_node`` of the node *below* it;
* a dependency cycle ends with every reason overwritten while the recursion
  unwinds: a 400 whose ``node_errors`` is empty;
* ``dependent_outputs`` collects every failed output seen so far, whether or not
  it depends on the node;
* a 200 can carry ``node_errors`` when only some outputs failed.

ComfyUI iterates Python sets where order is random; we use prompt order and the
declared input order, which is one of the orders the real server can produce.

Example::

    result = validate_prompt(prompt, schemas)
    if not result.ok:
        raise PromptRejected(result.error, result.node_errors)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeps.schema import InputSpec, NodeSchema

__all__ = [
    "CUSTOM_VALIDATORS",
    "FileExists",
    "PromptValidation",
    "validate_node_input",
    "validate_prompt",
]

#: Answers whether an (optionally annotated, ``"x.png [output]"``) file exists on
#: the server. ``None`` means "unknown": checks that need it are skipped.
FileExists = Callable[[str], bool]


@dataclass(frozen=True)
class PromptValidation:
    """The outcome of validating one prompt, in ComfyUI's own JSON shapes.

    ``error`` and ``node_errors`` are what ``POST /prompt`` puts in its body;
    ``prompt`` is a copy of the graph with constants coerced the way ComfyUI
    coerces them in place (this is what the real server queues and records).
    """

    ok: bool
    error: dict[str, Any] | None
    node_errors: dict[str, Any]
    outputs_to_execute: list[str]
    prompt: dict[str, Any] = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 400

    def response_body(self, prompt_id: str, number: int | float) -> dict[str, Any]:
        """The JSON body ComfyUI's ``POST /prompt`` sends for this outcome."""
        if self.ok:
            return {"prompt_id": prompt_id, "number": number, "node_errors": self.node_errors}
        return {"error": self.error, "node_errors": self.node_errors}


def _load_image_check(value: Any, file_exists: FileExists) -> bool | str:
    if file_exists(str(value)):
        return True
    return f"Invalid image file: {value}"


#: Classes whose ``VALIDATE_INPUTS`` replaces the range and combo checks of the
#: inputs it names. Each entry maps input name to a check that returns True or
#: the message ComfyUI reports after ``"<input> - "``.
CUSTOM_VALIDATORS: Mapping[str, Mapping[str, Callable[[Any, FileExists], bool | str]]] = {
    "LoadImage": {"image": _load_image_check},
    "LoadImageMask": {"image": _load_image_check},
}


def validate_node_input(received_type: Any, input_type: Any, strict: bool = False) -> bool:
    """Whether an output of ``received_type`` may feed an input of ``input_type``.

    Port of ``comfy_execution/validation.validate_node_input``: equal types, a
    ``*`` on either side, or overlapping comma-separated unions.
    """
    if not received_type != input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in wanted:
        return True
    if received == wanted:
        return True
    if strict:
        return received.issubset(wanted)
    return len(received & wanted) > 0


def _full_type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


_INNER_CALL = (
    '  File "ComfyUI/execution.py", line 838, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_LOOKUP_FRAMES = {
    "class": (
        '  File "ComfyUI/execution.py", line 818, in validate_inputs\n'
        "    o_class_type = prompt[o_id]['class_type']\n"
        "                   ~~~~~~^^^^^^\n"
    ),
    "slot": (
        '  File "ComfyUI/execution.py", line 820, in validate_inputs\n'
        "    received_type = r[val[1]]\n"
        "                    ~^^^^^^^^\n"
    ),
    "recursion": (
        '  File "ComfyUI/execution.py", line 838, in validate_inputs\n'
        "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ),
}


class _LinkLookupError(Exception):
    """Carries a real lookup exception and which statement raised it (for the traceback)."""

    def __init__(self, exc: BaseException, where: str) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.where = where

    def traceback(self, inner: bool) -> list[str]:
        frames = [_LOOKUP_FRAMES[self.where]]
        return [_INNER_CALL, *frames] if inner else frames


_Result = tuple[bool, list[dict[str, Any]], str]


class _Validator:
    """One ``validate_prompt`` call: the shared ``validated`` memo and the recursion stack."""

    def __init__(
        self,
        prompt: dict[str, Any],
        schemas: Mapping[str, NodeSchema],
        file_exists: FileExists | None,
    ) -> None:
        self.prompt = prompt
        self.schemas = schemas
        self.file_exists = file_exists
        self.validated: dict[str, _Result] = {}
        self._stack: list[str] = []

    def _lookup_link(self, val: list[Any]) -> Any:
        try:
            linked = self.prompt[val[0]]
            class_type = linked["class_type"]
        except Exception as exc:
            raise _LinkLookupError(exc, "class") from exc
        try:
            outputs = tuple((self.schemas[class_type].raw or {}).get("output") or ())
            return outputs[val[1]]
        except Exception as exc:
            raise _LinkLookupError(exc, "slot") from exc

    def validate(self, unique_id: str) -> _Result:
        if unique_id in self.validated:
            return self.validated[unique_id]
        if unique_id in self._stack:
            # Real ComfyUI recurses until RecursionError; the outcome is the same.
            raise _LinkLookupError(RecursionError("maximum recursion depth exceeded"), "recursion")
        self._stack.append(unique_id)
        try:
            result = self._validate(unique_id)
        finally:
            self._stack.pop()
        self.validated[unique_id] = result
        return result

    def _validate(self, unique_id: str) -> _Result:
        node = self.prompt[unique_id]
        inputs = node.setdefault("inputs", {})
        schema = self.schemas[node["class_type"]]
        custom = CUSTOM_VALIDATORS.get(schema.name, {})
        errors: list[dict[str, Any]] = []
        valid = True
        for spec in schema.visible_inputs:
            x = spec.name
            if x not in inputs:
                if spec.required:
                    errors.append(_error("required_input_missing", x, {"input_name": x}))
                continue
            info = [spec.declared_type, dict(spec.extra)]
            val = inputs[x]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        _error(
                            "bad_linked_input",
                            x,
                            {"input_name": x, "input_config": info, "received_value": val},
                        )
                    )
                    continue
                received_type = self._lookup_link(val)
                if not validate_node_input(received_type, spec.declared_type):
                    details = (
                        f"{x}, received_type({received_type}) "
                        f"mismatch input_type({spec.declared_type})"
                    )
                    errors.append(
                        _error(
                            "return_type_mismatch",
                            details,
                            {
                                "input_name": x,
                                "input_config": info,
                                "received_type": received_type,
                                "linked_node": val,
                            },
                        )
                    )
                    continue
                try:
                    if self.validate(val[0])[0] is False:
                        valid = False
                except _LinkLookupError as exc:
                    valid = False
                    message = str(exc.exc)
                    self.validated[val[0]] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": message,
                                "extra_info": {
                                    "input_name": x,
                                    "input_config": info,
                                    "exception_message": message,
                                    "exception_type": _full_type_name(exc.exc),
                                    "traceback": exc.traceback(inner=True),
                                    "linked_node": val,
                                },
                            }
                        ],
                        val[0],
                    )
                continue
            error = _check_constant(spec, info, val, inputs, checked=x not in custom)
            if error is not None:
                errors.append(error)
        for x, check in custom.items():
            if self.file_exists is None or x not in inputs or isinstance(inputs[x], list):
                continue
            verdict = check(inputs[x], self.file_exists)
            if verdict is not True:
                details = x if verdict is False else f"{x} - {verdict}"
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": details,
                        "extra_info": {"input_name": x},
                    }
                )
        if errors or valid is not True:
            return (False, errors, unique_id)
        return (True, [], unique_id)


def _error(type_: str, details: str, extra: dict[str, Any]) -> dict[str, Any]:
    messages = {
        "required_input_missing": "Required input is missing",
        "bad_linked_input": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
        "return_type_mismatch": "Return type mismatch between linked nodes",
        "value_not_in_list": "Value not in list",
    }
    return {"type": type_, "message": messages[type_], "details": details, "extra_info": extra}


_CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    "INT": int,
    "FLOAT": float,
    "STRING": str,
    "BOOLEAN": bool,
}


def _check_constant(
    spec: InputSpec, info: list[Any], val: Any, inputs: dict[str, Any], checked: bool
) -> dict[str, Any] | None:
    """Coerce one constant in place and range/combo-check it; the error dict or None."""
    x = spec.name
    input_type = spec.declared_type
    try:
        if isinstance(val, dict) and "__value__" in val:
            val = val["__value__"]
            inputs[x] = val
        convert = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
        if convert is not None:
            val = convert(val)
            inputs[x] = val
    except Exception as ex:
        return {
            "type": "invalid_input_type",
            "message": f"Failed to convert an input value to a {input_type} value",
            "details": f"{x}, {val}, {ex}",
            "extra_info": {
                "input_name": x,
                "input_config": info,
                "received_value": val,
                "exception_message": str(ex),
            },
        }
    if not checked:
        return None
    extra = spec.extra
    if "min" in extra and val < extra["min"]:
        return {
            "type": "value_smaller_than_min",
            "message": "Value {} smaller than min of {}".format(val, extra["min"]),
            "details": x,
            "extra_info": {"input_name": x, "input_config": info, "received_value": val},
        }
    if "max" in extra and val > extra["max"]:
        return {
            "type": "value_bigger_than_max",
            "message": "Value {} bigger than max of {}".format(val, extra["max"]),
            "details": x,
            "extra_info": {"input_name": x, "input_config": info, "received_value": val},
        }
    if isinstance(input_type, list) or input_type == "COMBO":
        options = input_type if isinstance(input_type, list) else list(extra.get("options", []))
        if extra.get("multiselect", False) and isinstance(val, list):
            invalid = [v for v in val if v not in options]
        else:
            invalid = [val] if val not in options else []
        if invalid:
            input_config: list[Any] | None = info
            if len(options) > 20:
                list_info = f"(list of length {len(options)})"
                input_config = None
            else:
                list_info = str(options)
            return _error(
                "value_not_in_list",
                f"{x}: '{val}' not in {list_info}",
                {"input_name": x, "input_config": input_config, "received_value": val},
            )
    return None


def validate_prompt(
    prompt: Any,
    schemas: Mapping[str, NodeSchema],
    partial_execution_targets: list[str] | None = None,
    *,
    file_exists: FileExists | None = None,
) -> PromptValidation:
    """Validate an API-format prompt the way ComfyUI 0.8.0's ``POST /prompt`` does.

    ``prompt`` is the value of the body's ``prompt`` key; pass ``None`` (or call
    with a missing key) to get the ``no_prompt`` error. ``file_exists`` backs
    ``LoadImage``'s existence check; without it that check is skipped (the
    sweep engine cannot see the server's input directory).
    """
    if prompt is None:
        error = {
            "type": "no_prompt",
            "message": "No prompt provided",
            "details": "No prompt provided",
            "extra_info": {},
        }
        return PromptValidation(False, error, {}, [])
    graph: dict[str, Any] = copy.deepcopy(prompt)
    outputs: list[str] = []
    for x in graph:
        node = graph[x]
        if "class_type" not in node:
            return _invalid(
                "Cannot execute because a node is missing the class_type property.", x, graph
            )
        class_type = node["class_type"]
        schema = schemas.get(class_type) if isinstance(class_type, str) else None
        if schema is None:
            return _invalid(f"Cannot execute because node {class_type} does not exist.", x, graph)
        if schema.output_node and (
            partial_execution_targets is None or x in partial_execution_targets
        ):
            outputs.append(x)
    if not outputs:
        error = {
            "type": "prompt_no_outputs",
            "message": "Prompt has no outputs",
            "details": "",
            "extra_info": {},
        }
        return PromptValidation(False, error, {}, [], graph)

    validator = _Validator(graph, schemas, file_exists)
    good_outputs: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for o in outputs:
        try:
            valid, reasons, _ = validator.validate(o)
        except Exception as exc:
            valid = False
            cause = exc.exc if isinstance(exc, _LinkLookupError) else exc
            trace = exc.traceback(inner=False) if isinstance(exc, _LinkLookupError) else []
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(cause),
                    "extra_info": {
                        "exception_type": _full_type_name(cause),
                        "traceback": trace,
                    },
                }
            ]
            validator.validated[o] = (False, reasons, o)
        if valid is True:
            good_outputs.append(o)
            continue
        failures.append((o, reasons))
        for node_id, (node_valid, node_reasons, _) in validator.validated.items():
            if node_valid is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": graph[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(o)

    if not good_outputs:
        details = "\n".join(
            f"{reason['message']}: {reason['details']}"
            for _, reasons in failures
            for reason in reasons
        )
        error = {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": details,
            "extra_info": {},
        }
        return PromptValidation(False, error, node_errors, [], graph)
    return PromptValidation(True, None, node_errors, good_outputs, graph)


def _invalid(message: str, node_id: str, graph: dict[str, Any]) -> PromptValidation:
    error = {
        "type": "invalid_prompt",
        "message": message,
        "details": f"Node ID '#{node_id}'",
        "extra_info": {},
    }
    return PromptValidation(False, error, {}, [], graph)
