"""Keeping credentials out of logs, error messages and files written to disk.

Shared by every stage that talks to an HTTP endpoint (the CoT teacher, the eval backend), so neither
depends on the other for it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters whose value is a credential (``?key=``, ``?api_key=``, ``?access_token=``, ``?sig=`` …).
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|credential", re.IGNORECASE)


def _redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")


def redact_url(url: str | None) -> str | None:
    """Return ``url`` without user:password and with credential-like query values replaced by ``***``
    (safe to log and to write to disk)."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.username or parts.password:
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    if query and any(_SECRET_PARAM.search(k) for k, _ in parse_qsl(query, keep_blank_values=True)):
        query = _redact_query(query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub_secret(text: str, secret: str | None) -> str:
    """Return ``text`` with every occurrence of ``secret`` replaced by ``***`` (secrets shorter than 4
    characters are left alone: replacing them would mangle ordinary text)."""
    return text.replace(secret, "***") if secret and len(secret) >= 4 else text
