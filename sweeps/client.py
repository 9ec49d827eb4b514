"""An async client for one ComfyUI server: every REST route a client uses, and /ws.

Raw JSON and third-party exceptions stop here: routes return the typed values
of :mod:`sweeps.models`, the websocket yields :mod:`sweeps.events`, and every
failure is one of :mod:`sweeps.errors`.

>>> async with ComfyClient("http://127.0.0.1:8188") as client:  # doctest: +SKIP
...     queued = await client.queue_prompt(workflow)
...     async for event in client.events():
...         ...
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import html
import json
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .config import ServerConfig
from .errors import (
    ClientClosed,
    NodeIssues,
    PromptRejected,
    ProtocolError,
    RequestRejected,
    ServerError,
    ServerFailed,
    ServerTimeout,
    ServerUnreachable,
)
from .events import Event
from .jobs import Job, JobPage, jobs_params
from .models import (
    HistoryEntry,
    OutputFile,
    PromptQueued,
    QueueState,
    SystemStats,
    UploadedFile,
    missing_combo_options,
    parse_input_issue,
    parse_node_errors,
    with_combo_options,
)
from .redaction import header_secrets, redact
from .schema import NodeSchema, parse_object_info
from .spool import Spool
from .stream import USER_AGENT
from .stream import events as stream_events

__all__ = ["ComfyClient"]

_T = TypeVar("_T")

_ROUTES_THAT_EXIST = frozenset(
    {"/prompt", "/queue", "/history", "/interrupt", "/free", "/object_info", "/system_stats"}
)
"""Routes every ComfyUI has: a 404 on one means the URL does not point at ComfyUI."""
_PARSED_OBJECT_INFO: dict[bytes, dict[str, NodeSchema]] = {}
"""Parsed /object_info bodies by content hash, oldest first (a few kept)."""
_AUTH_STATUSES = {401: "Unauthorized", 403: "Forbidden", 407: "Proxy Authentication Required"}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


def with_meta(prompt: Mapping[str, Any]) -> dict[str, Any]:
    """``prompt`` with a ``_meta`` title on every node that lacks one (the class name).

    ComfyUI 0.33+ swaps deprecated node classes for their replacements before
    validating, and answers 500 when a replaced node has no ``_meta``; the UI always
    sends one, so we do too. Older servers ignore it.
    """
    out: dict[str, Any] = {}
    for node_id, node in prompt.items():
        if isinstance(node, Mapping) and not isinstance(node.get("_meta"), Mapping):
            node = {**node, "_meta": {"title": str(node.get("class_type", ""))}}
        out[node_id] = node
    return out


class ComfyClient:
    """One ComfyUI server, over httpx (REST) and websockets (/ws).

    ``client_id`` is sent with every prompt and used as the websocket's
    ``clientId``, which is what routes a prompt's events to us (PROTOCOL 2.2).
    It changes only when a reconnect must avoid the same-id pitfall
    (PROTOCOL 6.6); read it at submission time.

    Pass ``http`` to inject an ``httpx.AsyncClient`` (a ``MockTransport`` in tests);
    the client then does not close it.
    """

    def __init__(
        self,
        server: ServerConfig | str,
        *,
        client_id: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.server = server if isinstance(server, ServerConfig) else ServerConfig(server)
        self.client_id = client_id or str(uuid.uuid4())
        t = self.server.timeouts
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT, **self.server.headers},
            timeout=httpx.Timeout(t.read, connect=t.connect),
            # Connection refused is retried by the transport, not by hand.
            transport=httpx.AsyncHTTPTransport(retries=1, verify=_tls_context()),
        )
        self._secrets = header_secrets(self.server.headers)
        """What of this server's headers must never appear in a message."""
        self._state = _State.UNOPENED
        self._schemas: dict[str, NodeSchema] | None = None
        self._api_prefix: bool | None = None
        """Whether routes go under ``/api``: None until the server has shown it.

        ComfyUI serves every route both bare and under ``/api`` (PROTOCOL 1.1). The
        frontend calls ``/api/...``, so a reverse proxy set up for it forwards those
        for sure, while a ComfyUI from before mid-2023 knows only the bare form. So
        ``/api`` comes first, and a 404 there is retried bare once; whichever form
        answers is then used for good.
        """
        self._jobs_cancel: bool | None = None
        """Whether ``POST /api/jobs/cancel`` exists (0.26+): None until tried."""
        self.ws_api_prefix = False
        """True once ``/ws`` answered 404 and ``/api/ws`` did not (set by :mod:`sweeps.stream`)."""

    @property
    def url(self) -> str:
        return self.server.url

    async def __aenter__(self) -> ComfyClient:
        if self._state is not _State.UNOPENED:
            raise ClientClosed("a ComfyClient can be opened only once")
        self._state = _State.OPENED
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._state = _State.CLOSED
        if self._owns_http:
            await self._http.aclose()

    # -- plumbing ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise ClientClosed(f"client for {self.url} used after close")

    def _route(self, path: str) -> str:
        """``path`` as sent: under ``/api`` unless the server lacks it.

        Paths that already start with ``/api/`` (the jobs routes, declared that way
        upstream) are sent as they are.
        """
        if path.startswith("/api/") or self._api_prefix is False:
            return path
        return "/api" + path

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json_body: object = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        self._check_open()
        sent = self._route(path)
        response = await self._send(method, sent, params, json_body, files, data)
        if response.status_code == 404 and sent != path and self._api_prefix is None:
            bare = await self._send(method, path, params, json_body, files, data)
            if bare.status_code != 404 and bare.status_code < 500:
                self._api_prefix = False
                response, sent = bare, path
        elif sent != path and response.status_code < 400:
            self._api_prefix = True
        self._raise_for_status(method, sent, response)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None,
        json_body: object,
        files: Mapping[str, Any] | None,
        data: Mapping[str, str] | None,
    ) -> httpx.Response:
        url = self.server.http_url(path, params)
        deadline = self.server.timeouts.request
        try:
            # httpx's timeouts bound each read; a trickled answer needs a whole deadline.
            async with asyncio.timeout(deadline):
                response = await self._http.request(
                    method,
                    url,
                    json=json_body,
                    files=files,
                    data=data,
                    # Per request too: an injected httpx client does not carry them.
                    headers=self.server.headers,
                    # Proxies redirect (http to https, a missing trailing slash, a login
                    # page); httpx does not follow unless asked.
                    follow_redirects=True,
                )
        except TimeoutError as exc:
            raise ServerTimeout(
                f"{method} {path} on {self.url} got no whole answer within {deadline}s "
                "(timeouts.request)",
                server=self.url,
            ) from exc
        except httpx.HTTPError as exc:
            raise self._transport_error(f"{method} {path}", exc) from exc
        self._check_redirect(method, path, response)
        return response

    def _transport_error(self, what: str, exc: httpx.HTTPError) -> ServerError:
        """httpx's exception for ``what`` as one of ours, naming the server and the deadline."""
        if isinstance(exc, httpx.TimeoutException):
            t = self.server.timeouts
            return ServerTimeout(
                f"{what} on {self.url} timed out ({type(exc).__name__}; "
                f"connect {t.connect}s, read {t.read}s)",
                server=self.url,
            )
        if isinstance(exc, httpx.TooManyRedirects):
            return ProtocolError(
                f"{what} on {self.url} was redirected in a loop: {exc}", server=self.url
            )
        if isinstance(exc, httpx.DecodingError):
            return ProtocolError(
                f"{what} on {self.url} answered a body that cannot be decoded: {exc}",
                server=self.url,
            )
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError) and reason == "All connection attempts failed":
            # anyio's words for a refused connection: say what a user can check.
            reason = "connection refused (is ComfyUI running, on this host and port?)"
        return ServerUnreachable(f"cannot reach {self.url} ({what}): {reason}", server=self.url)

    def _check_redirect(self, method: str, path: str, response: httpx.Response) -> None:
        """Refuse a redirect that turned a POST into a GET: its body would be lost.

        httpx, like browsers, re-sends a POST redirected with 301, 302 or 303 as a
        body-less GET; ComfyUI would answer that with something else entirely.
        """
        if not response.history or response.request.method == method:
            return
        first = response.history[0]
        target = response.history[-1].headers.get("location", str(response.url))
        raise RequestRejected(
            f"{method} {path} on {self.url} was redirected (HTTP {first.status_code}) to "
            f"{target}, which would re-send it as a GET without its body; "
            "use the address it redirects to as the server URL",
            server=self.url,
            status=first.status_code,
            body="",
        )

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        # A proxy's error page may echo the request's credentials back.
        body = redact(response.text[:2000], self._secrets)
        summary = redact(_summarise(response), self._secrets)
        reason = response.reason_phrase or _AUTH_STATUSES.get(status, "")
        head = f"{method} {path} on {self.url}"
        if status >= 500:
            proxy = " (an HTML page: a proxy in front of ComfyUI?)" if _is_html(response) else ""
            raise ServerFailed(
                f"{head} failed with HTTP {status} {reason}".rstrip()
                + proxy
                + (f": {summary}" if summary else ""),
                server=self.url,
                status=status,
                body=body,
            )
        message = f"{head} was rejected with HTTP {status}" + (f": {summary}" if summary else "")
        if status in _AUTH_STATUSES:
            sent = ", ".join(sorted(self.server.headers))
            message = (
                f"authentication failed: {head} was refused with HTTP {status} {reason}".rstrip()
                + (f" ({summary})" if summary else "")
                + ": the server, or a proxy in front of it, wants credentials. "
                + (
                    f"The headers given ({sent}) were not accepted; check their values."
                    if sent
                    else "Give them as this server's headers, e.g. "
                    "'Authorization: Bearer ${TOKEN}' under headers: in servers.yaml."
                )
            )
        elif status == 404 and path.removeprefix("/api") in _ROUTES_THAT_EXIST:
            message += (
                f" ({self.url} has no {path.removeprefix('/api')} route, with or without /api:"
                " is it ComfyUI's address, with the right path prefix?)"
            )
        raise RequestRejected(message, server=self.url, status=status, body=body)

    def _json(self, response: httpx.Response) -> Any:
        what = f"{response.request.method} {response.request.url.path} on {self.url}"
        try:
            return response.json()
        except RecursionError:
            raise ProtocolError(
                f"{what} answered JSON nested too deeply to read",
                server=self.url,
                payload=response.content[:100],
            ) from None
        except ValueError as exc:
            if _is_html(response):
                title = redact(_summarise(response), self._secrets)
                message = (
                    f"{what} answered an HTML page"
                    + (f" ({title})" if title else "")
                    + f" from {response.url.copy_with(query=None)} instead of JSON: a login page"
                    " or a proxy's page? Check the server URL, its path prefix and its headers"
                )
            elif not response.content:
                message = f"{what} answered an empty body instead of JSON"
            else:
                message = f"{what} answered non-JSON"
            payload = redact(response.text[:300], self._secrets)
            raise ProtocolError(message, server=self.url, payload=payload) from exc

    async def _get_json(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        return self._json(await self._request("GET", path, params=params))

    def _parse(self, what: str, parser: Callable[[Any], _T], body: Any) -> _T:
        """``parser(body)``, with a malformed ``body`` reported as :class:`ProtocolError`."""
        try:
            return parser(body)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as exc:
            raise ProtocolError(
                f"unexpected {what} answer: {exc!r}", server=self.url, payload=body
            ) from exc

    # -- execution ----------------------------------------------------------

    async def queue_prompt(
        self,
        prompt: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        front: bool = False,
        number: float | None = None,
        extra_data: Mapping[str, Any] | None = None,
        partial_execution_targets: Sequence[str] | None = None,
    ) -> PromptQueued:
        """POST /prompt. Raises :class:`PromptRejected` when validation fails.

        Pass ``prompt_id`` to know the id before the answer arrives: execution
        can start, and even finish, before it does (PROTOCOL 2.3).
        """
        body: dict[str, Any] = {"prompt": with_meta(prompt), "client_id": self.client_id}
        if prompt_id is not None:
            body["prompt_id"] = prompt_id
        if front:
            body["front"] = True
        if number is not None:
            body["number"] = number
        if extra_data:
            body["extra_data"] = dict(extra_data)
        if partial_execution_targets is not None:
            body["partial_execution_targets"] = list(partial_execution_targets)
        try:
            response = await self._request("POST", "/prompt", json_body=body)
        except RequestRejected as exc:
            if exc.status == 400:
                raise await self._rejection(exc) from None
            raise
        return self._parse("POST /prompt", PromptQueued.from_json, self._json(response))

    async def _rejection(self, exc: RequestRejected) -> PromptRejected | RequestRejected:
        try:
            body = json.loads(exc.body)
            raw_error = body["error"]
        except (ValueError, KeyError, TypeError):
            return exc
        if isinstance(raw_error, str):
            # Older servers and some on-prompt handlers answer {"error": "message"}.
            error = parse_input_issue({"type": "", "message": raw_error})
        elif isinstance(raw_error, Mapping):
            error = parse_input_issue(raw_error)
        else:
            return exc
        node_errors = parse_node_errors(body.get("node_errors"))
        node_errors = await self._with_combo_options(node_errors)
        return PromptRejected(server=self.url, error=error, node_errors=node_errors, body=exc.body)

    async def _with_combo_options(
        self, node_errors: tuple[NodeIssues, ...]
    ) -> tuple[NodeIssues, ...]:
        schemas: dict[str, NodeSchema] = {}
        for class_type in missing_combo_options(node_errors):
            try:
                schemas.update(await self.object_info(class_type))
            except ServerError:
                break  # the message stays as the server gave it
        return with_combo_options(node_errors, schemas) if schemas else node_errors

    async def queue_remaining(self) -> int:
        """GET /prompt: pending plus running prompts."""
        body = await self._get_json("/prompt")
        return int(self._parse("GET /prompt", lambda b: b["exec_info"]["queue_remaining"], body))

    async def get_queue(self) -> QueueState:
        body = await self._get_json("/queue")
        return self._parse("GET /queue", QueueState.from_json, body)

    async def delete_from_queue(self, prompt_ids: Sequence[str]) -> None:
        """Remove pending prompts. A running prompt is untouched: use :meth:`interrupt`."""
        await self._request("POST", "/queue", json_body={"delete": list(prompt_ids)})

    async def clear_queue(self) -> None:
        """Remove every pending prompt (not the running one)."""
        await self._request("POST", "/queue", json_body={"clear": True})

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt the running prompt; with ``prompt_id``, only if that one is running."""
        body = {"prompt_id": prompt_id} if prompt_id else {}
        await self._request("POST", "/interrupt", json_body=body)

    async def cancel(self, prompt_ids: Sequence[str]) -> bool | None:
        """Cancel prompts wherever they are: a pending one leaves the queue, a running
        one is interrupted, a finished one is left alone.

        A server with the jobs API (0.26+) does this in one step, ``POST
        /api/jobs/cancel``, which cannot race its worker. Older ones get ``POST
        /queue`` delete, then ``/interrupt`` with each id: a prompt that left the
        queue between the two is the one running, and an interrupt naming it touches
        no other prompt. Returns whether anything was cancelled, or None when an
        older server cannot say.
        """
        ids = list(prompt_ids)
        if not ids:
            return False
        if self._jobs_cancel is not False:
            try:
                response = await self._request(
                    "POST", "/api/jobs/cancel", json_body={"job_ids": ids}
                )
            except RequestRejected as exc:
                if exc.status not in (404, 405):  # 405: the static web root of older servers
                    raise
                self._jobs_cancel = False
            else:
                self._jobs_cancel = True
                body = self._json(response)
                return self._parse("POST /api/jobs/cancel", lambda b: bool(b["cancelled"]), body)
        await self.delete_from_queue(ids)
        for prompt_id in ids:
            await self.interrupt(prompt_id)
        return None

    async def free(self, *, unload_models: bool = True, free_memory: bool = False) -> None:
        """Unload models (and with ``free_memory``, drop the node cache too)."""
        await self._request(
            "POST",
            "/free",
            json_body={"unload_models": unload_models, "free_memory": free_memory},
        )

    # -- history ------------------------------------------------------------

    async def get_history(
        self, *, max_items: int | None = None, offset: int | None = None
    ) -> list[HistoryEntry]:
        """Finished prompts, oldest first (the last ``max_items`` when given)."""
        body = await self._get_json("/history", {"max_items": max_items, "offset": offset})
        return self._parse(
            "GET /history",
            lambda b: [HistoryEntry.from_json(k, v) for k, v in b.items()],
            body,
        )

    async def get_history_entry(self, prompt_id: str) -> HistoryEntry | None:
        """One prompt's history, or None while it is unknown or not finished."""
        body = await self._get_json(f"/history/{quote(prompt_id, safe='')}")
        if not body:
            return None
        return self._parse(
            "GET /history/{id}", lambda b: HistoryEntry.from_json(prompt_id, b[prompt_id]), body
        )

    async def delete_history(self, prompt_ids: Sequence[str]) -> None:
        await self._request("POST", "/history", json_body={"delete": list(prompt_ids)})

    async def clear_history(self) -> None:
        await self._request("POST", "/history", json_body={"clear": True})

    async def jobs(
        self,
        *,
        status: Sequence[str] | None = None,
        workflow_id: str | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
        limit: int | None = None,
        offset: int | None = None,
    ) -> JobPage:
        """GET /api/jobs: running, pending and finished prompts, filtered and paged.

        A bad parameter is a :class:`RequestRejected` (400) from the server.
        """
        params = jobs_params(status, workflow_id, sort_by, sort_order, limit, offset)
        body = await self._get_json("/api/jobs", params)
        return self._parse("GET /api/jobs", JobPage.from_json, body)

    async def job(self, job_id: str) -> Job | None:
        """GET /api/jobs/{id}, with outputs and the prompt once finished; None if unknown."""
        try:
            body = await self._get_json(f"/api/jobs/{quote(job_id, safe='')}")
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        return self._parse("GET /api/jobs/{id}", Job.from_json, body)

    # -- files --------------------------------------------------------------

    def _view_params(self, file: OutputFile) -> dict[str, object]:
        return {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}

    async def view(self, file: OutputFile) -> bytes:
        """GET /view into memory (previews, small files)."""
        response = await self._request("GET", "/view", params=self._view_params(file))
        return response.content

    async def download(self, file: OutputFile, dest: Path, *, keep_existing: bool = False) -> Path:
        """Stream GET /view into ``dest``; the file appears whole or not at all, and
        the disk is written from a worker thread (:mod:`sweeps.spool`).

        With ``keep_existing`` a file already at ``dest`` stays: the download lands
        beside it as ``stem-2.ext`` (or the next free name), which is returned.
        """
        self._check_open()
        spool = Spool(dest, keep_existing=keep_existing)
        path = self._route("/view")
        may_retry = path != "/view" and self._api_prefix is None
        try:
            if await self._stream_to(path, file, spool, may_retry=may_retry):
                await self._stream_to("/view", file, spool, may_retry=False)
                self._api_prefix = False
            elif may_retry:
                self._api_prefix = True
        except BaseException:
            await asyncio.shield(spool.discard())
            raise
        return await spool.finish()

    async def _stream_to(
        self, path: str, file: OutputFile, spool: Spool, *, may_retry: bool
    ) -> bool:
        """GET ``path`` into ``spool``. True for a 404 worth retrying bare; else raises.

        httpx's timeouts bound each read, so a server trickling bytes would never
        end: ``timeouts.download`` bounds the whole file, ``limits.max_download_bytes``
        its size.
        """
        url = self.server.http_url(path, self._view_params(file))
        t = self.server.timeouts
        try:
            async with asyncio.timeout(t.download):
                async with self._http.stream(
                    "GET",
                    url,
                    timeout=httpx.Timeout(t.read, connect=t.connect),
                    headers=self.server.headers,
                    follow_redirects=True,
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        if response.status_code == 404 and may_retry:
                            return True
                        self._raise_for_status("GET", path, response)
                    await self._save_body(response, file, spool)
        except TimeoutError as exc:
            raise ServerTimeout(
                f"downloading {file.filename} from {self.url} did not finish within "
                f"{t.download}s (timeouts.download)",
                server=self.url,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ServerTimeout(
                f"downloading {file.filename} from {self.url} stalled: no data for "
                f"{t.read}s (timeouts.read)",
                server=self.url,
            ) from exc
        except httpx.HTTPError as exc:
            raise self._transport_error(f"downloading {file.filename}", exc) from exc
        return False

    async def _save_body(self, response: httpx.Response, file: OutputFile, spool: Spool) -> None:
        """Pass the body to ``spool``, refusing one larger than the size cap."""
        cap = self.server.limits.max_download_bytes
        length = response.headers.get("content-length", "")
        if cap is not None and length.isdigit() and int(length) > cap:
            raise self._too_large(file, cap, f" ({length} bytes declared)")
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if cap is not None and size > cap:
                raise self._too_large(file, cap, "")
            await spool.write(chunk)

    def _too_large(self, file: OutputFile, cap: int, declared: str) -> ProtocolError:
        return ProtocolError(
            f"{file.filename} on {self.url} is larger than {cap} bytes{declared}; "
            "raise limits.max_download_bytes if such files are expected",
            server=self.url,
        )

    async def upload_image(
        self,
        image: bytes | Path,
        *,
        filename: str | None = None,
        subfolder: str = "",
        type: str = "input",  # noqa: A002 - ComfyUI's field name
        overwrite: bool = False,
        mask_of: OutputFile | None = None,
    ) -> UploadedFile:
        """POST /upload/image (or /upload/mask with ``mask_of``).

        Without ``overwrite``, a same-named file with other content is renamed
        ``name (1).ext`` by the server; the answer says where it landed.
        """
        if isinstance(image, Path):
            filename = filename or image.name
            content = image.read_bytes()
        else:
            content = image
        if not filename:
            raise ValueError("upload_image needs a filename for raw bytes")
        fields = {"type": type, "subfolder": subfolder}
        if overwrite:
            fields["overwrite"] = "true"
        path = "/upload/image"
        if mask_of is not None:
            path = "/upload/mask"
            fields["original_ref"] = json.dumps(
                {"filename": mask_of.filename, "subfolder": mask_of.subfolder, "type": mask_of.type}
            )
        response = await self._request(
            "POST", path, files={"image": (filename, content, "image/png")}, data=fields
        )
        return self._parse(f"POST {path}", UploadedFile.from_json, self._json(response))

    # -- facts --------------------------------------------------------------

    async def object_info(self, class_type: str | None = None) -> dict[str, NodeSchema]:
        """Node schemas: all of them, or one class (empty when the class is unknown)."""
        # Custom node class names have spaces, brackets, even slashes.
        path = f"/object_info/{quote(class_type, safe='')}" if class_type else "/object_info"
        response = await self._request("GET", path)
        # Most fleets serve byte-identical listings: parse each one once per process.
        digest = hashlib.blake2b(response.content, digest_size=16).digest()
        schemas = _PARSED_OBJECT_INFO.get(digest)
        if schemas is None:
            schemas = self._parse(f"GET {path}", parse_object_info, self._json(response))
            if len(_PARSED_OBJECT_INFO) >= 16:
                _PARSED_OBJECT_INFO.pop(next(iter(_PARSED_OBJECT_INFO)))
            _PARSED_OBJECT_INFO[digest] = schemas
        schemas = dict(schemas)  # callers may add to theirs; NodeSchema itself is frozen
        if class_type is None:
            self._schemas = schemas
        return schemas

    async def system_stats(self) -> SystemStats:
        return self._parse(
            "GET /system_stats", SystemStats.from_json, await self._get_json("/system_stats")
        )

    async def embeddings(self) -> list[str]:
        return [str(e) for e in await self._get_json("/embeddings")]

    async def extensions(self) -> list[str]:
        return [str(e) for e in await self._get_json("/extensions")]

    async def model_folders(self) -> list[str]:
        return [str(m) for m in await self._get_json("/models")]

    async def models(self, folder: str) -> list[str]:
        """Files in one model folder; :class:`RequestRejected` (404) for an unknown folder."""
        return [str(m) for m in await self._get_json(f"/models/{quote(folder, safe='')}")]

    async def features(self) -> dict[str, Any]:
        body = await self._get_json("/features")
        if not isinstance(body, dict):
            raise ProtocolError("GET /features is not an object", server=self.url, payload=body)
        return body

    # -- websocket ----------------------------------------------------------

    def events(self, *, reconnect: bool = True, max_backoff: float = 10.0) -> AsyncIterator[Event]:
        """Every event from /ws, forever, reconnecting with backoff: see
        :func:`sweeps.stream.events`. After an unclean close ``client_id`` changes."""
        self._check_open()
        return stream_events(self, reconnect=reconnect, max_backoff=max_backoff)

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED


def _is_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    if "html" in kind:
        return True
    return response.text[:200].lstrip().lower().startswith(("<!doctype html", "<html"))


def _summarise(response: httpx.Response) -> str:
    """A body in one short line: an HTML page's title (a proxy's error page), else its text."""
    text = response.text
    if _is_html(response):
        match = _TITLE.search(text)
        text = match.group(1) if match else _TAGS.sub(" ", text)
        text = html.unescape(text)
    return " ".join(text.split())[:200]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one reads the CA bundle
    (~35 ms), which a dashboard of 64 servers would otherwise pay 64 times at start."""
    return httpx.create_ssl_context()
