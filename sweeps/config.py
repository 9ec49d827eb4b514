"""How to reach a server: its address, headers and deadlines.

A server is a base URL that may carry a path prefix (a reverse proxy serving
ComfyUI at ``https://host/comfy/``), http or https (the websocket follows as ws
or wss), and extra headers such as an auth token.
"""

from __future__ import annotations

import base64
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from .errors import SpecError
from .redaction import redact

__all__ = ["Limits", "ServerConfig", "Timeouts", "expand_env"]


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds, one per phase.

    ``read`` bounds each read of an HTTP answer; ``request`` one whole answer (a
    server trickling bytes would otherwise never end); ``download``
    bounds one whole file from /view, which can be large (a server trickling
    bytes would otherwise never end); ``ws_idle`` is how long the websocket may
    stay silent before we ping it. None disables a deadline.

    ``silence`` is how long a server waited on may send nothing at all, no event
    and no HTTP answer, before its runs move elsewhere: a frozen process (SIGSTOP,
    a hung event loop) keeps its sockets open and answers nothing. While the
    websocket is silent, /history is asked every ``silence / 2`` seconds, each
    question given ``probe`` seconds; a slow answer is no answer.
    """

    connect: float | None = 5.0
    read: float | None = 30.0
    request: float | None = 120.0
    download: float | None = 300.0
    ws_idle: float | None = 20.0
    probe: float = 5.0
    silence: float = 20.0


@dataclass(frozen=True)
class Limits:
    """Sizes a server may not exceed.

    ``max_download_bytes`` caps one file from /view: a server sending more (a
    misconfigured proxy, a hostile host) would otherwise fill the disk that
    holds every file already paid for. None disables the cap.
    """

    max_download_bytes: int | None = 8 * 2**30


@dataclass(frozen=True)
class ServerConfig:
    """One ComfyUI server.

    >>> ServerConfig.parse("gpu1:8188").url
    'http://gpu1:8188'
    >>> ServerConfig("https://host/comfy/").ws_url("abc")
    'wss://host/comfy/ws?clientId=abc'
    >>> ServerConfig("https://me:secret@host").url
    'https://host'
    """

    url: str
    name: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if not isinstance(self.url, str):
            raise SpecError(f"server URL {self.url!r} is not text: {_URL_FORM}")
        url = self.url.strip()
        typo = _scheme_typo(url)
        if typo:
            raise SpecError(redact(f"server URL {self.url!r} is not valid: {typo}"))
        if "://" not in url:
            url = f"http://{url}"
        problem = _url_problem(url)
        if problem:
            raise SpecError(redact(f"server URL {self.url!r} is not valid: {problem}; {_URL_FORM}"))
        parts = urlsplit(url)
        userinfo, _, netloc = parts.netloc.rpartition("@")
        url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        object.__setattr__(self, "url", url)
        if not self.name:
            object.__setattr__(self, "name", netloc + parts.path.rstrip("/"))
        headers = dict(self.headers)
        if userinfo and not any(k.lower() == "authorization" for k in headers):
            # user:password@ becomes Basic auth, for HTTP and the websocket alike,
            # and stays out of the URL that cards, logs and reports show.
            user, _, password = userinfo.partition(":")
            token = f"{unquote(user)}:{unquote(password)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        for key, value in headers.items():
            _check_header(key, value)
        object.__setattr__(self, "headers", headers)

    @classmethod
    def parse(cls, text: str, *, name: str = "") -> ServerConfig:
        """A server from a command-line value: a URL, or ``host:port``."""
        return cls(text, name=name)

    def http_url(self, path: str, params: Mapping[str, object] | None = None) -> str:
        """The URL of ``path`` on this server, below its path prefix."""
        query = ""
        if params:
            query = "?" + urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.url}{path}{query}"

    def ws_url(self, client_id: str) -> str:
        scheme = "wss" if self.url.startswith("https://") else "ws"
        rest = self.url.split("://", 1)[1]
        return f"{scheme}://{rest}/ws?{urlencode({'clientId': client_id})}"


_URL_FORM = "expected http(s)://host[:port][/prefix], e.g. http://127.0.0.1:8188"
# RFC 9110 token characters: what a header name may hold.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST = re.compile(r"[\w.-]+|\[[0-9A-Fa-f:.]+\]")


# A scheme-like start: letters, then ":" and/or slashes, e.g. "http//", "http:/", "htp://".
_SCHEME_START = re.compile(r"(?P<scheme>[A-Za-z]{2,6})(?P<sep>:/*|/+)(?P<rest>.*)", re.S)


def _scheme_typo(text: str) -> str | None:
    """A mistyped ``http://`` and the URL that was likely meant, or None.

    Without this, ``http//host:8188`` (no colon) gets ``http://`` put in front
    and fails later as an unknown host named ``http``.
    """
    match = _SCHEME_START.fullmatch(text)
    if not match:
        return None
    scheme, sep, rest = match["scheme"], match["sep"], match["rest"]
    lower = scheme.lower()
    if sep == "://" and lower in ("http", "https"):
        return None
    if sep == ":" and (not rest or rest[0].isdigit()):
        return None  # host:port
    if lower in ("ws", "wss"):
        meant = "https" if lower == "wss" else "http"
    else:
        close = difflib.get_close_matches(lower, ["http", "https"], n=1, cutoff=0.75)
        if not close:
            return None
        meant = close[0]
    if not rest.strip("/"):
        return None
    if lower in ("ws", "wss"):
        what = "give the server's http(s) address; the websocket URL follows from it"
    elif sep == "://":
        what = f"{scheme!r} is not a scheme"
    else:
        what = f"{scheme + sep!r} is missing part of '://'"
    return f"{what}; did you mean {meant + '://' + rest.lstrip('/')!r}?"


def _url_problem(url: str) -> str | None:
    """Why ``url`` (with a scheme) cannot name a ComfyUI server, or None."""
    bad_port = "the port must be a number from 1 to 65535"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range or not a number, a broken [IPv6]
        return bad_port if "port" in str(exc).lower() else str(exc)
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme!r}" if parts.scheme else "it has no scheme"
    netloc = parts.netloc.rpartition("@")[2]
    host, colon, _ = netloc.rpartition(":")
    if not colon or netloc.endswith("]"):
        host = netloc
    if not host:
        return "there is no host"
    if not _HOST.fullmatch(host):
        return f"{host!r} is not a host name"
    if colon and not netloc.endswith("]") and not port:
        return bad_port
    if parts.query or parts.fragment:
        return "it has a query or fragment (?... or #...); give only the base URL"
    return None


def _check_header(name: object, value: object) -> None:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise SpecError(
            f"header name {name!r} is not valid: use letters, digits and - (e.g. Authorization)"
        )
    if not isinstance(value, str):
        raise SpecError(f"header {name} must be text, got {value!r}")
    if any(c in value for c in "\r\n\0"):
        raise SpecError(f"header {name} holds a line break or NUL, which HTTP does not allow")


_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, *, where: str = "", env: Mapping[str, str] | None = None) -> str:
    """Replace ``${NAME}`` with the environment variable's value.

    Secrets stay out of spec and config files this way. An unset variable is an
    error that names it, rather than a silent empty header.
    """
    source = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in source:
            place = f" (in {where})" if where else ""
            raise SpecError(f"environment variable {name} is not set{place}")
        return source[name]

    return _ENV_VAR.sub(replace, text)
