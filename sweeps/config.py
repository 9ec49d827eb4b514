"""How to reach a server: its address, headers and deadlines.

A server is a base URL that may carry a path prefix (a reverse proxy serving
ComfyUI at ``https://host/comfy/``), http or https (the websocket follows as ws
or wss), and extra headers such as an auth token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from .errors import SpecError

__all__ = ["ServerConfig", "Timeouts", "expand_env"]


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds, one per phase.

    ``read`` bounds one HTTP answer; ``download`` bounds one file from /view,
    which can be large; ``ws_idle`` is how long the websocket may stay silent
    before we ping it. None disables a deadline.
    """

    connect: float | None = 5.0
    read: float | None = 30.0
    download: float | None = 300.0
    ws_idle: float | None = 20.0


@dataclass(frozen=True)
class ServerConfig:
    """One ComfyUI server.

    >>> ServerConfig.parse("gpu1:8188").url
    'http://gpu1:8188'
    >>> ServerConfig("https://host/comfy/").ws_url("abc")
    'wss://host/comfy/ws?clientId=abc'
    """

    url: str
    name: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = Timeouts()

    def __post_init__(self) -> None:
        url = self.url.strip()
        if "://" not in url:
            url = f"http://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SpecError(
                f"server URL {self.url!r} is not valid: expected http(s)://host[:port][/prefix]"
            )
        url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        object.__setattr__(self, "url", url)
        if not self.name:
            object.__setattr__(self, "name", parts.netloc + parts.path.rstrip("/"))
        object.__setattr__(self, "headers", dict(self.headers))

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
