"""The ComfyUI releases the simulator can play, and what differs between them.

Each behaviour that changed between the two recorded servers (0.8.0 and 0.33.0,
``tests/data/traces/*/README.md``) is one field of :class:`ComfyVersion`, named
for the behaviour rather than for the release, so code asks "does this server
cancel through /api/jobs?" instead of comparing version numbers. Users run newer
releases than any recording (0.47.1 in December 2026); the simulator plays the
newest recorded behaviour by default and reports that release's own number, not
one it has not been checked against.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sweeps.simulator.ordering import is_link

__all__ = [
    "NEWEST",
    "VERSIONS",
    "ComfyVersion",
    "comfy_version",
    "find_cycle",
    "is_canonical_uuid",
]

_FOLDERS_0_8 = tuple(
    "checkpoints configs loras vae text_encoders diffusion_models clip_vision style_models "
    "embeddings diffusers vae_approx controlnet gligen upscale_models latent_upscale_models "
    "custom_nodes hypernetworks photomaker classifiers model_patches audio_encoders".split()
)
_FOLDERS_0_33 = (
    *_FOLDERS_0_8[: _FOLDERS_0_8.index("custom_nodes") + 1],
    "datasets",
    *_FOLDERS_0_8[_FOLDERS_0_8.index("custom_nodes") + 1 :],
    *"background_removal frame_interpolation geometry_estimation optical_flow detection".split(),
)


@dataclass(frozen=True)
class ComfyVersion:
    """One release's observable behaviour (defaults: 0.8.0's)."""

    number: str
    object_info: str
    """Packaged ``/object_info`` file (under ``sweeps/simulator/data``)."""
    frontend_version: str = "1.35.9"
    templates_version: str = "0.7.67"
    missing_node_type: bool = False
    """An unknown class is ``missing_node_type`` with node id/class/title (0.12+),
    not ``invalid_prompt``."""
    uuid_prompt_ids: bool = False
    """A client-chosen ``prompt_id`` must be a canonical UUID, else 400 (0.25+)."""
    dependency_cycle: bool = False
    """A cycle is a ``dependency_cycle`` node error (0.20+), not an empty 400."""
    jobs_cancel: bool = False
    """``POST /api/jobs/{id}/cancel`` and ``/api/jobs/cancel``; interrupted jobs
    are ``cancelled``; jobs carry ``previewable_outputs_count`` (0.26+)."""
    all_devices: bool = False
    """``/system_stats`` lists every visible device (0.23+), not only the primary."""
    system_extras: bool = False
    """``comfy_package_versions`` and ``deploy_environment`` in ``/system_stats``."""
    feature_extras: bool = False
    """``supports_model_type_tags``, ``node_replacements`` and ``assets`` in the flags."""
    default_cache: Literal["classic", "ram_pressure"] = "classic"
    model_folders: tuple[str, ...] = _FOLDERS_0_8
    """``/models``: ``folder_paths.folder_names_and_paths`` keys, in order."""
    traceback_edits: tuple[tuple[str, str], ...] = ()
    """Text replacements that turn 0.8.0's validation tracebacks into this release's
    (``execution.py`` moved, and the recursion gained a ``visiting`` argument)."""

    def traceback(self, frames: list[str]) -> list[str]:
        """A validation traceback as this release prints it."""
        for old, new in self.traceback_edits:
            frames = [frame.replace(old, new) for frame in frames]
        return frames

    def features(self, max_upload_size: int) -> dict[str, Any]:
        """``GET /features`` and the websocket ``feature_flags`` reply, in the server's order."""
        if not self.feature_extras:
            return {
                "supports_preview_metadata": True,
                "max_upload_size": max_upload_size,
                "extension": {"manager": {"supports_v4": True}},
            }
        return {
            "supports_preview_metadata": True,
            "supports_model_type_tags": True,
            "max_upload_size": max_upload_size,
            "extension": {"manager": {"supports_v4": True}},
            "node_replacements": True,
            "assets": False,
        }

    def package_versions(self) -> list[dict[str, str]]:
        """``system.comfy_package_versions``, as recorded from 0.33.0."""
        pins = (
            ("comfyui-frontend-package", self.frontend_version),
            ("comfyui-workflow-templates", self.templates_version),
            ("comfyui-embedded-docs", "0.5.10"),
            ("comfy-kitchen", "0.2.31"),
            ("comfy-aimdo", "0.4.13"),
        )
        return [{"name": n, "installed": v, "required": v} for n, v in pins]


VERSIONS: Mapping[str, ComfyVersion] = {
    "0.8.0": ComfyVersion("0.8.0", "object_info.json"),
    "0.33.0": ComfyVersion(
        "0.33.0",
        "object_info-0.33.0.json.gz",
        frontend_version="1.49.6",
        templates_version="0.11.44",
        missing_node_type=True,
        uuid_prompt_ids=True,
        dependency_cycle=True,
        jobs_cancel=True,
        all_devices=True,
        system_extras=True,
        feature_extras=True,
        default_cache="ram_pressure",
        model_folders=_FOLDERS_0_33,
        traceback_edits=(
            ("line 838, in", "line 955, in"),
            ("line 818, in", "line 933, in"),
            ("line 820, in", "line 935, in"),
            ("o_id, validated)\n        ^", "o_id, validated, visiting)\n        ^^^^^^^^^^^"),
        ),
    ),
}
NEWEST = "0.33.0"


def comfy_version(number: str) -> ComfyVersion:
    """The behaviour of ``number``; an unknown one is refused with what is known."""
    try:
        return VERSIONS[number]
    except KeyError:
        known = ", ".join(VERSIONS)
        raise ValueError(
            f"the simulator cannot play ComfyUI {number!r}; it knows {known}"
        ) from None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_canonical_uuid(value: Any) -> bool:
    """What 0.25+ accepts as a client-chosen ``prompt_id``: lowercase, hyphenated."""
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


def find_cycle(prompt: Mapping[str, Any], start: str) -> list[str] | None:
    """The node ids of a dependency cycle reachable from ``start`` (first node repeated
    at the end), or None. Links are ``[node_id, slot]`` inputs, as in the API format."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node_id: str) -> list[str] | None:
        if node_id in on_path:
            return [*path[path.index(node_id) :], node_id]
        if node_id in done or node_id not in prompt:
            return None
        path.append(node_id)
        on_path.add(node_id)
        inputs = prompt[node_id].get("inputs", {}) if isinstance(prompt[node_id], dict) else {}
        for value in inputs.values() if isinstance(inputs, dict) else ():
            if is_link(value):
                found = visit(value[0])
                if found is not None:
                    return found
        path.pop()
        on_path.discard(node_id)
        done.add(node_id)
        return None

    return visit(start)
