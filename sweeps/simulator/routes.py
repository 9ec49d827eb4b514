"""The HTTP API of ComfyUI (server.py's ``PromptServer`` routes), served by aiohttp.

The routes are 0.8.0's; where a later release answers differently (its errors,
the jobs cancel routes, ``/system_stats``), the simulator's
:class:`~sweeps.simulator.versions.ComfyVersion` decides.

Every route exists twice, bare and under ``/api``, as on the real server. The
error behaviour is reproduced along with the happy paths, because clients trip
over it: malformed JSON gives aiohttp's plain-text 500; a GET of a POST-only
path is the static web root's empty 404 while other wrong methods get 405;
unknown classes and history ids give ``{}`` with 200. The jobs routes are
declared with their ``/api`` already, so they exist as ``/api/jobs`` and
``/api/api/jobs`` only. Users, settings, ``/internal`` and model listings live
in their own modules (userdata.py, internal.py, models.py, frontend.py).
"""

from __future__ import annotations

import json
import mimetypes
import sys
import uuid
from io import BytesIO
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image

from sweeps.simulator.executor import now_ms
from sweeps.simulator.files import PathRefused
from sweeps.simulator.frontend import frontend_routes
from sweeps.simulator.internal import internal_app
from sweeps.simulator.jobs import JobQueryError, get_job, list_jobs, parse_job_query
from sweeps.simulator.middleware import (
    Handler,
    cache_control,
    error_to_500,
    fault_gate,
    origin_only,
    plain_500,
)
from sweeps.simulator.prompt_queue import QueueItem
from sweeps.simulator.versions import find_cycle, is_canonical_uuid
from sweeps.validation import PromptValidation, validate_prompt

if TYPE_CHECKING:
    from sweeps.simulator.server import Simulator

__all__ = ["build_app"]

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


class _Routes:
    """Route handlers bound to one simulator (its queue, files, executor, hub)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # ----- execution

    async def post_prompt(self, request: web.Request) -> web.Response:
        """``post_prompt``, including its reactions to bodies that are not objects.

        Membership tests run on whatever JSON arrived, as upstream's ``in`` does:
        a list or string body without ``"prompt"`` is a 400 ``no_prompt`` (and
        still bumps the counter); ``null`` or a number is a 500.
        """
        sim = self.sim
        if sim.faults.take_prompt_500():
            return plain_500()
        sim.log.write("got prompt")
        body: Any = await request.json()
        if "number" in body:
            number: int | float = float(body["number"])
        else:
            number = sim.number
            if "front" in body and body["front"]:
                number = -number
            sim.number += 1
        if "prompt" not in body:
            return web.json_response(validate_prompt(None, {}).response_body("", 0), status=400)
        prompt = body["prompt"]
        if prompt is None or isinstance(prompt, bool | int | float):
            raise TypeError("validate_prompt iterates the prompt")  # upstream: a plain 500
        version = sim.config.version
        chosen_id = body.get("prompt_id")
        if version.uuid_prompt_ids and chosen_id is not None and not is_canonical_uuid(chosen_id):
            # Type and message as in server.py; no recording has one, so "details" is ours.
            error = {
                "type": "invalid_prompt_id",
                "message": "prompt_id must be a valid UUID",
                "details": f"prompt_id {chosen_id!r} is not a canonical lowercase UUID",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt_id = str(chosen_id if chosen_id is not None else uuid.uuid4())
        result = self._validate(prompt, body.get("partial_execution_targets"))
        extra_data = body.get("extra_data", {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not result.ok:
            return web.json_response(result.response_body(prompt_id, number), status=400)
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        extra_data["create_time"] = now_ms()
        sim.queue.put(
            QueueItem(
                number, prompt_id, result.prompt, extra_data, result.outputs_to_execute, sensitive
            )
        )
        return web.json_response(result.response_body(prompt_id, number))

    def _validate(self, prompt: Any, targets: list[str] | None) -> PromptValidation:
        """``validate_prompt`` with the errors of the version played."""
        sim = self.sim
        version = sim.config.version
        if version.missing_node_type and isinstance(prompt, dict):
            for node_id, node in prompt.items():
                class_type = node.get("class_type") if isinstance(node, dict) else None
                if isinstance(class_type, str) and class_type not in sim.catalog.schemas:
                    title = (node.get("_meta") or {}).get("title") or class_type
                    error = {
                        "type": "missing_node_type",
                        "message": f"Node '{title}' not found. "
                        "The custom node may not be installed.",
                        "details": f"Node ID '#{node_id}'",
                        "extra_info": {
                            "node_id": node_id,
                            "class_type": class_type,
                            "node_title": title,
                        },
                    }
                    return PromptValidation(False, error, {}, [])
        result = validate_prompt(
            prompt, sim.catalog.schemas, targets, file_exists=sim.files.exists_annotated
        )
        for node in result.node_errors.values():
            for reason in node.get("errors", ()):
                extra = reason.get("extra_info") or {}
                if isinstance(extra.get("traceback"), list):
                    extra["traceback"] = version.traceback(extra["traceback"])
        if result.ok or not version.dependency_cycle or not isinstance(prompt, dict):
            return result
        schemas = sim.catalog.schemas
        for output, node in prompt.items():
            schema = schemas.get(str(node.get("class_type"))) if isinstance(node, dict) else None
            cycle = find_cycle(prompt, output) if schema and schema.output_node else None
            if cycle is None:
                continue
            node_id = cycle[0]
            # No recording has a cycle on 0.20+: the type and ``cycle_nodes`` are from
            # ComfyUI's source notes; the message wording is ours.
            reason = {
                "type": "dependency_cycle",
                "message": "Dependency cycle detected",
                "details": " -> ".join(cycle),
                "extra_info": {"cycle_nodes": cycle},
            }
            node_errors = {
                node_id: {
                    "errors": [reason],
                    "dependent_outputs": [output],
                    "class_type": prompt[node_id].get("class_type"),
                }
            }
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": f"{reason['message']}: {reason['details']}",
                "extra_info": {},
            }
            return PromptValidation(False, error, node_errors, [], result.prompt)
        return result

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.queue.queue_info())

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = self.sim.queue.current()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "clear" in body and body["clear"]:
            self.sim.queue.wipe()
        if "delete" in body:
            for prompt_id in body["delete"]:
                self.sim.queue.delete(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if prompt_id:
            if self.sim.queue.is_running(prompt_id):
                self.sim.executor.interrupt()
        else:
            self.sim.executor.interrupt()
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("unload_models", False):
            self.sim.queue.set_flag("unload_models", body["unload_models"])
        if body.get("free_memory", False):
            self.sim.queue.set_flag("free_memory", body["free_memory"])
        return web.Response(status=200)

    # ----- history

    async def get_history(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query.get("offset", -1))
        return web.json_response(self.sim.queue.get_history(max_items=max_items, offset=offset))

    async def get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        return web.json_response(self.sim.queue.get_history(prompt_id=prompt_id))

    async def post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "clear" in body:
            self.sim.queue.wipe_history()
        if "delete" in body:
            for prompt_id in body["delete"]:
                self.sim.queue.delete_history(prompt_id)
        return web.Response(status=200)

    # ----- jobs (comfy_execution/jobs.py)

    async def jobs(self, request: web.Request) -> web.Response:
        cancelled = self.sim.config.version.jobs_cancel
        try:
            query = parse_job_query(request.rel_url.query, cancelled)
        except JobQueryError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        running, pending = self.sim.queue.current()
        history = self.sim.queue.get_history()
        return web.json_response(list_jobs(running, pending, history, query, cancelled))

    async def job_by_id(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        running, pending = self.sim.queue.current()
        history = self.sim.queue.get_history(prompt_id=job_id)
        job = get_job(job_id, running, pending, history, self.sim.config.version.jobs_cancel)
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    def _cancel(self, job_id: str) -> bool:
        """Interrupt it if running, dequeue it if pending; a finished or unknown job is a no-op.

        One step on the event loop, so it cannot race the worker as ``/queue`` plus
        ``/interrupt`` can (the job may start between the two calls)."""
        if self.sim.queue.is_running(job_id):
            self.sim.executor.interrupt()
            return True
        return self.sim.queue.delete(job_id)

    async def cancel_job(self, request: web.Request) -> web.Response:
        return web.json_response({"cancelled": self._cancel(request.match_info["job_id"])})

    async def cancel_jobs(self, request: web.Request) -> web.Response:
        body = await request.json()
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list of job ids"}, status=400)
        invalid = [j for j in job_ids if not isinstance(j, str) or not j]
        if invalid:
            return web.json_response(
                {"error": "Invalid job ids", "invalid_ids": invalid}, status=400
            )
        results = [self._cancel(job_id) for job_id in job_ids]
        return web.json_response({"cancelled": any(results)})

    # ----- files

    async def view(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        try:
            path = self.sim.files.view_path(
                query["filename"], query.get("type", "output"), query.get("subfolder", "")
            )
        except PathRefused as refused:
            return web.Response(status=refused.status)
        preview = query.get("preview")
        channel = query.get("channel", "rgba")
        if preview or channel in ("rgb", "a"):
            return _reencoded(path.read_bytes(), path.name, preview, channel)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type in ("text/html", "application/xhtml+xml", "text/javascript", "text/css"):
            content_type = "application/octet-stream"
        return web.FileResponse(
            path,
            headers={
                "Content-Disposition": f'filename="{path.name}"',
                "Content-Type": content_type,
            },
        )

    async def upload_image(self, request: web.Request) -> web.Response:
        return await self._upload(request, mask=False)

    async def upload_mask(self, request: web.Request) -> web.Response:
        return await self._upload(request, mask=True)

    async def _upload(self, request: web.Request, mask: bool) -> web.Response:
        post = await request.post()
        folder_type = post.get("type") or "input"
        if folder_type not in ("input", "temp", "output"):
            return plain_500()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        data = image.file.read()
        subfolder = str(post.get("subfolder", ""))
        overwrite = str(post.get("overwrite", "")) in ("true", "1")
        if mask:
            data = self._apply_mask(data, post.get("original_ref"))
        try:
            name = self.sim.files.upload(
                data, image.filename, str(folder_type), subfolder, overwrite
            )
        except PathRefused as refused:
            return web.Response(status=refused.status)
        self.sim.refresh_input_files()
        return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})

    def _apply_mask(self, data: bytes, original_ref: Any) -> bytes:
        """The uploaded alpha on the referenced original; errors keep the upload as is."""
        try:
            ref = json.loads(str(original_ref))
            original = self.sim.files.view_path(
                ref["filename"], ref.get("type", "output"), ref.get("subfolder", "")
            )
            with Image.open(original) as base, Image.open(BytesIO(data)) as upload:
                merged = base.convert("RGBA")
                merged.putalpha(upload.convert("RGBA").getchannel("A").resize(merged.size))
                out = BytesIO()
                merged.save(out, format="PNG")
                return out.getvalue()
        except (OSError, ValueError, KeyError, TypeError, PathRefused):
            return data

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        return await self.sim.hub.handle(request)

    # ----- information

    async def object_info(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.sim.catalog.json_body(), content_type="application/json", charset="utf-8"
        )

    async def object_info_class(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        raw = self.sim.catalog.raw
        return web.json_response({name: raw[name]} if name in raw else {})

    async def system_stats(self, request: web.Request) -> web.Response:
        sim = self.sim
        cfg = sim.config
        version = cfg.version
        system: dict[str, Any] = {
            "os": sys.platform,
            "ram_total": cfg.ram_total,
            "ram_free": cfg.ram_total - sim.memory.ram_used,
            "comfyui_version": version.number,
            "required_frontend_version": version.frontend_version,
            "installed_templates_version": version.templates_version,
            "required_templates_version": version.templates_version,
        }
        if version.system_extras:
            system["comfy_package_versions"] = version.package_versions()
        system |= {
            "python_version": sys.version,
            "pytorch_version": "2.14.1+cu130",
            "embedded_python": False,
        }
        if version.system_extras:
            system["deploy_environment"] = "local-git"
        system["argv"] = sim.argv()
        devices = sim.memory.system_stats_devices()
        return web.json_response(
            {"system": system, "devices": devices if version.all_devices else devices[:1]}
        )

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.server_features())


def _reencoded(data: bytes, name: str, preview: str | None, channel: str) -> web.Response:
    """``/view`` with ``preview=`` or ``channel=``: re-encode the stored image."""
    with Image.open(BytesIO(data)) as img:
        img.load()
        out = BytesIO()
        if preview:
            fmt, _, quality = preview.partition(";")
            image_format = fmt if fmt in ("webp", "jpeg") and "a" not in channel else "webp"
            picture = img.convert("RGB") if image_format == "jpeg" or channel == "rgb" else img
            picture.save(out, format=image_format.upper(), quality=int(quality or 90))
            return web.Response(body=out.getvalue(), content_type=f"image/{image_format}")
        if channel == "rgb":
            img.convert("RGB").save(out, format="PNG")
        else:
            rgba = img.convert("RGBA")
            alpha = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
            alpha.putalpha(rgba.getchannel("A"))
            alpha.save(out, format="PNG")
    return web.Response(
        body=out.getvalue(),
        content_type="image/png",
        headers={"Content-Disposition": f'filename="{name}"'},
    )


def build_app(sim: Simulator) -> web.Application:
    """The aiohttp application, registered as upstream's ``PromptServer.add_routes`` does.

    Every API route twice (``/api`` first, then bare) with GET routes also
    answering HEAD; ``/internal`` as a sub-application; last, the catch-all
    that stands in for the static web root.
    """
    handlers = _Routes(sim)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/ws", handlers.websocket),
        *frontend_routes(),
        ("GET", "/view", handlers.view),
        ("POST", "/upload/image", handlers.upload_image),
        ("POST", "/upload/mask", handlers.upload_mask),
        ("GET", "/system_stats", handlers.system_stats),
        ("GET", "/features", handlers.features),
        ("GET", "/prompt", handlers.get_prompt),
        ("GET", "/object_info", handlers.object_info),
        ("GET", "/object_info/{node_class}", handlers.object_info_class),
        ("GET", "/history", handlers.get_history),
        ("GET", "/history/{prompt_id}", handlers.get_history_item),
        ("GET", "/queue", handlers.get_queue),
        ("POST", "/prompt", handlers.post_prompt),
        ("POST", "/queue", handlers.post_queue),
        ("POST", "/interrupt", handlers.post_interrupt),
        ("POST", "/free", handlers.post_free),
        ("POST", "/history", handlers.post_history),
        # Declared as "/api/jobs" upstream, so prefixing gives /api/api/jobs and no /jobs.
        ("GET", "/api/jobs", handlers.jobs),
        ("GET", "/api/jobs/{job_id}", handlers.job_by_id),
        *(
            [
                ("POST", "/api/jobs/cancel", handlers.cancel_jobs),
                ("POST", "/api/jobs/{job_id}/cancel", handlers.cancel_job),
            ]
            if sim.config.version.jobs_cancel
            else []
        ),
        *sim.userdata.routes(),
        *sim.models.routes(),
    ]
    app = web.Application(
        middlewares=[fault_gate(sim), error_to_500, cache_control, origin_only],
        client_max_size=sim.config.max_upload_size,
    )
    app.add_subapp("/internal", internal_app(sim))
    for prefix in ("/api", ""):
        for method, path, handler in table:
            if method == "GET":
                app.router.add_get(prefix + path, handler)
            else:
                app.router.add_route(method, prefix + path, handler)
    # Upstream's `web.static('/', web_root)`: GET/HEAD of anything else is its 404 (empty,
    # application/octet-stream), other methods its 405. aiohttp itself gives the same answers.
    app.router.add_static("/", sim.files.web_dir)
    return app
