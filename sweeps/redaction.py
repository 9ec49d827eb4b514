"""Keeping credentials out of everything stored, printed, logged or shown.

A server's headers (``Authorization: Bearer ...``, an API key) and the password
of a ``user:pass@`` URL are secrets; so is anything a server echoes of them in
an error page, sometimes re-encoded (a Basic header's base64, or the decoded
``user:password``). Text from outside (a response body, a spec as written) goes
through :func:`redact` before it reaches a message, the journal or the report.

>>> redact("GET http://bob:pw1234@gpu1/x: Authorization: Bearer abcdef123")
'GET http://bob:***@gpu1/x: Authorization: ***'
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping

__all__ = ["MASK", "header_secrets", "redact"]

MASK = "***"

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:'\"]*):[^/@\s'\"]*@")
_SCHEME_TOKEN = re.compile(r"(?i)\b(?P<scheme>Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{4,}")
_SECRET_FIELD = re.compile(
    r"(?i)(?P<name>\b(?:proxy-)?authorization|\bcookie|\bset-cookie|\b[\w-]*api[-_]?key"
    r"|\b[\w-]*token|\bpassword|\bsecret)(?P<sep>\"?\s*[:=]\s*\"?)"
    r"(?P<value>(?:(?:Bearer|Basic|Token|Digest)\s+)?[^\s\"',;&}]+)"
)


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """Every form in which a server might echo the values of ``headers``.

    A value whole, its token after a scheme word (``Bearer``), and for Basic
    auth the decoded ``user:password`` and the password alone.
    """
    found: list[str] = []
    for value in headers.values():
        found.append(value)
        scheme, _, token = value.partition(" ")
        if token:
            found.append(token.strip())
        if scheme.lower() == "basic" and token:
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            found.append(decoded)
            found.append(decoded.partition(":")[2])
    return [s for s in found if len(s) >= 4]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and every credential-looking field masked.

    Known secrets are replaced wherever they appear; beyond those, a URL's
    password, the token after ``Bearer``/``Basic``, and the value of fields
    named like ``Authorization``, ``Cookie``, ``api_key``, ``token`` or
    ``password`` are masked, whatever they hold.
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _SECRET_FIELD.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    return _SCHEME_TOKEN.sub(lambda m: f"{m['scheme']} {MASK}", text)
