"""The HTTP details under the backend client: the API URL and its origin,
a redirect's target, and the ``Retry-After`` and ``Date`` headers."""

from __future__ import annotations

import email.utils
import math
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Tuple

import httpx

from igny8_agent.errors import ConfigError
from igny8_agent.network import is_loopback

Origin = Tuple[str, str, int]

MAX_MESSAGE = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_api_url(api_url: Any, clean: Callable[[str], str] = lambda text: text[:MAX_MESSAGE]) -> Tuple[str, Origin]:
    """The API URL without a trailing slash, and its origin; ConfigError (one
    line) for anything but ``https://`` or loopback ``http://`` without
    credentials, query or fragment."""
    text = api_url.strip().rstrip("/") if isinstance(api_url, str) else ""
    shown = clean(repr(text))
    try:
        url = httpx.URL(text)
        origin = origin_of(url)
    except (httpx.InvalidURL, ValueError):
        origin = None
    if origin is None or not url.host or not 0 < origin[2] < 65536:
        raise ConfigError("--api-url is not a valid http(s) URL: %s" % shown)
    if url.userinfo or url.query or url.fragment:
        raise ConfigError("--api-url must not contain a user name, password, query or fragment: %s" % shown)
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigError("--api-url must use https:// (plain http is allowed only for loopback)")
    return text, origin


def origin_of(url: httpx.URL) -> Optional[Origin]:
    scheme = url.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    return scheme, url.host.lower().rstrip("."), url.port or _DEFAULT_PORTS[scheme]


def resolve(base: httpx.URL, link: str) -> Optional[httpx.URL]:
    try:
        return base.join(link)
    except (httpx.InvalidURL, ValueError):
        return None


def retry_after(headers: httpx.Headers) -> Optional[float]:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = _http_date(value)
        if when is None:
            return None
        # Measured against the server's own Date when it sent one: no clock skew.
        now = _http_date(headers.get("Date") or "") or datetime.now(timezone.utc)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _http_date(value: str) -> Optional[datetime]:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
