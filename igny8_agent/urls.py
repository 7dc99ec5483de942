"""Comparing site URLs the way the contract asks.

Scheme-insensitive, case-insensitive host, ``www.`` ignored, IDN and punycode
equal, default ports ignored, trailing slash ignored, path significant.
"""

from __future__ import annotations

from typing import NamedTuple, Optional
from urllib.parse import unquote, urlsplit


class SiteKey(NamedTuple):
    host: str  # lower-case ASCII (punycode), without "www."
    port: Optional[int]  # None for the scheme's default port
    path: str  # no trailing slash; "" for the root


def site_key(url: str) -> Optional[SiteKey]:
    """Normalise ``url`` for comparison; None when it has no host."""
    text = (url or "").strip()
    if not text:
        return None
    if "://" not in text:
        text = "http://" + text  # "example.com/blog" as stored in wp_blogs
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = _ascii_host(host.rstrip("."))
    if host.startswith("www."):
        host = host[4:]
    if port in (80, 443):
        port = None
    path = unquote(parts.path or "").rstrip("/")
    return SiteKey(host, port, path)


def same_site(a: str, b: str) -> bool:
    ka, kb = site_key(a), site_key(b)
    return ka is not None and ka == kb


def _ascii_host(host: str) -> str:
    host = host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host
