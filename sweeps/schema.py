"""Node schemas: ComfyUI's ``GET /object_info`` parsed into typed, frozen values.

``/object_info`` is the only description a server gives of what a prompt may
contain, and its JSON has three historical shapes for one idea (a V1 combo
``[[opts], {...}]``, a V3 combo ``["COMBO", {"options": [...]}]``, a bare
``["IMAGE"]`` with no options dict at all). Everything that checks a value
before it is sent (the sweep engine's pre-flight, :mod:`sweeps.validation`, the
simulator) reads :class:`NodeSchema` instead, so that shape-guessing lives here
and nowhere else.

Example::

    schemas = parse_object_info(httpx.get(f"{url}/object_info").json())
    steps = schemas["KSampler"].inputs["steps"]
    steps.type, steps.min, steps.max        # ("INT", 1, 10000)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONSTANT_TYPES",
    "InputSpec",
    "NodeSchema",
    "parse_node",
    "parse_object_info",
]

#: Input types whose value is a constant in the prompt; every other type is a link.
CONSTANT_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


@dataclass(frozen=True)
class InputSpec:
    """One input of a node class, as declared in ``/object_info``.

    ``type`` is normalised: a combo is always ``"COMBO"`` with its choices in
    ``options``, whichever JSON shape it came in. ``raw`` keeps the declared
    list untouched, because ComfyUI echoes it back verbatim as ``input_config``
    in validation errors.
    """

    name: str
    type: str
    required: bool
    hidden: bool = False
    options: tuple[Any, ...] | None = None
    default: Any = None
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: Any = None

    @property
    def is_link(self) -> bool:
        """True when the value must be a ``[node_id, slot]`` link, never a constant."""
        return not self.hidden and self.type not in CONSTANT_TYPES

    @property
    def declared_type(self) -> Any:
        """The first element of the raw spec: a type name, or the V1 option list.

        ComfyUI's validator reports this (not the normalised ``type``) in
        ``input_config``, so a V1 combo shows its whole list there.
        """
        if isinstance(self.raw, list | tuple) and self.raw:
            return self.raw[0]
        return self.raw

    @property
    def config(self) -> Mapping[str, Any]:
        """The options dict of the raw spec, ``{}`` when it had none."""
        return self.extra


@dataclass(frozen=True)
class NodeSchema:
    """One node class: its inputs in declaration order, and its outputs.

    ``inputs`` holds required, optional and hidden inputs together; use
    ``required_inputs`` / ``optional_inputs`` when the category matters.
    ``raw`` is the class's untouched ``/object_info`` entry, which a simulator
    serves back as it was given.
    """

    name: str
    display_name: str
    category: str
    output_node: bool
    inputs: Mapping[str, InputSpec]
    input_order: tuple[str, ...]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]
    output_is_list: tuple[bool, ...] = ()
    description: str = ""
    python_module: str = ""
    deprecated: bool = False
    experimental: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def required_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(s for s in self.inputs.values() if s.required and not s.hidden)

    @property
    def optional_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(s for s in self.inputs.values() if not s.required and not s.hidden)

    @property
    def visible_inputs(self) -> tuple[InputSpec, ...]:
        """Required then optional inputs: the ones a prompt may set (hidden ones it may not)."""
        return self.required_inputs + self.optional_inputs


def _normalise_type(declared: Any) -> str:
    if isinstance(declared, list | tuple):
        return "COMBO"
    return str(declared)


def _parse_input(name: str, spec: Any, category: str) -> InputSpec:
    """Read one input spec in any of its shapes.

    Hidden inputs are often a bare string (``"PROMPT"``); visible ones are a list
    of one or two items. A V1 combo's first item is the option list itself; a V3
    combo names ``"COMBO"`` and keeps its list under ``options``.
    """
    if isinstance(spec, str):
        spec_list: list[Any] = [spec]
    elif isinstance(spec, list | tuple):
        spec_list = list(spec)
    else:
        spec_list = [spec]
    declared = spec_list[0] if spec_list else "*"
    extra = spec_list[1] if len(spec_list) > 1 and isinstance(spec_list[1], dict) else {}
    type_ = _normalise_type(declared)
    options: tuple[Any, ...] | None = None
    if isinstance(declared, list | tuple):
        options = tuple(declared)
    elif type_ == "COMBO":
        options = tuple(extra.get("options", ()))
    return InputSpec(
        name=name,
        type=type_,
        required=category == "required",
        hidden=category == "hidden",
        options=options,
        default=extra.get("default"),
        min=extra.get("min"),
        max=extra.get("max"),
        step=extra.get("step"),
        extra=dict(extra),
        raw=spec,
    )


def parse_node(name: str, info: Mapping[str, Any]) -> NodeSchema:
    """Parse one ``/object_info`` entry. ``name`` is its key (the class_type)."""
    declared_inputs = info.get("input") or {}
    inputs: dict[str, InputSpec] = {}
    for category in ("required", "optional", "hidden"):
        for input_name, spec in (declared_inputs.get(category) or {}).items():
            inputs[input_name] = _parse_input(input_name, spec, category)
    order_info = info.get("input_order") or {}
    input_order = tuple(
        n for category in ("required", "optional", "hidden") for n in order_info.get(category, ())
    ) or tuple(inputs)
    outputs = tuple(_normalise_type(t) for t in info.get("output") or ())
    return NodeSchema(
        name=name,
        display_name=str(info.get("display_name") or name),
        category=str(info.get("category") or ""),
        output_node=bool(info.get("output_node", False)),
        inputs=inputs,
        input_order=input_order,
        outputs=outputs,
        output_names=tuple(info.get("output_name") or outputs),
        output_is_list=tuple(bool(x) for x in info.get("output_is_list") or ()),
        description=str(info.get("description") or ""),
        python_module=str(info.get("python_module") or ""),
        deprecated=bool(info.get("deprecated", False)),
        experimental=bool(info.get("experimental", False)),
        raw=info,
    )


def parse_object_info(raw: Mapping[str, Any]) -> dict[str, NodeSchema]:
    """Parse a whole ``GET /object_info`` body into ``{class_type: NodeSchema}``.

    A custom node whose schema has a shape we do not know still gets an entry,
    with no inputs to check, rather than failing the whole server: the class
    exists, and ComfyUI ignores inputs a schema does not declare.
    """
    schemas: dict[str, NodeSchema] = {}
    for name, info in raw.items():
        try:
            schemas[name] = parse_node(name, info)
        except (AttributeError, TypeError, ValueError, KeyError):
            output_node = isinstance(info, Mapping) and bool(info.get("output_node", False))
            schemas[name] = parse_node(name, {"output_node": output_node})
    return schemas
