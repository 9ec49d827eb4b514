"""Per-prompt progress: the ``progress_state`` map, ``progress`` events and previews.

Port of ComfyUI's ``ProgressRegistry`` + ``WebUIProgressHandler`` + the
``hijack_progress`` hook, whose details clients depend on: the map is
cumulative and omits pending nodes; a node starts at ``0.0/1.0`` (floats),
updates carry the node's own ints, finishing sets ``value = max``; a preview is
a type-4 frame *before* ``progress`` for a client that negotiated
``supports_preview_metadata``, and a type-1 frame *after* it otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from PIL import Image

from sweeps.simulator.images import encode_jpeg, encode_png
from sweeps.simulator.sockets import SocketHub, encode_preview

__all__ = ["ProgressRegistry"]


class ProgressRegistry:
    """Progress of one prompt's nodes, sent to its client (or everyone without one)."""

    def __init__(self, prompt_id: str, client_id: str | None, hub: SocketHub, preview_size: int):
        self.prompt_id = prompt_id
        self.client_id = client_id
        self.hub = hub
        self.preview_size = preview_size
        self.nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        if node_id not in self.nodes:
            self.nodes[node_id] = {"state": "pending", "value": 0, "max": 1}
        return self.nodes[node_id]

    def _send_state(self) -> None:
        nodes = {
            node_id: {
                "value": e["value"],
                "max": e["max"],
                "state": e["state"],
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, e in self.nodes.items()
            if e["state"] != "pending"
        }
        self.hub.send(
            "progress_state", {"prompt_id": self.prompt_id, "nodes": nodes}, self.client_id
        )

    def start(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="running", value=0.0, max=1.0)
        self._send_state()

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry["state"] = "finished"
        entry["value"] = entry["max"]
        self._send_state()

    def update(
        self,
        node_id: str,
        value: int,
        total: int,
        preview: Image.Image | None,
        preview_format: Literal["JPEG", "PNG"] = "JPEG",
    ) -> None:
        """One ProgressBar update (the caller has already checked for an interrupt).

        A JPEG preview is a sampler's ``("JPEG", img, preview_size)`` tuple,
        shrunk; a PNG one is ``SaveImageWebsocket``'s ``("PNG", img, None)``, the
        full image, which reaches clients by exactly the same path.
        """
        value = min(value, total)
        entry = self._entry(node_id)
        entry.update(state="running", value=value, max=total)
        self._send_state()
        encoded: bytes | None = None
        if preview is not None:
            if preview_format == "PNG":
                encoded = encode_png(preview, compress_level=1)
            else:
                encoded = encode_jpeg(preview, 95, self.preview_size)
        with_metadata = self.hub.supports_preview_metadata(self.client_id)
        if encoded is not None and with_metadata:
            metadata = {
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
                "image_type": "image/png" if preview_format == "PNG" else "image/jpeg",
            }
            self.hub.send_bytes(encode_preview(encoded, preview_format, metadata), self.client_id)
        self.hub.send(
            "progress",
            {"value": value, "max": total, "prompt_id": self.prompt_id, "node": node_id},
            self.client_id,
        )
        if encoded is not None and not with_metadata:
            self.hub.send_bytes(encode_preview(encoded, preview_format, None), self.client_id)
