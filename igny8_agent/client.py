"""HTTP client for the IGNY8 backend (contract v1, shared/contract/backend-api.md).

One ``BackendClient`` per run: it owns one ``httpx.Client``, sends the API key
only to the configured origin, reads at most ``max_response_bytes`` of any
response, unwraps the ``{"success", "data"}`` envelope and DRF pagination, and
turns every status into one of the project's exceptions (``errors.py``).
Transient failures (408, 429, 5xx gateway errors, network errors) are retried
with tenacity: exponential backoff with full jitter, ``Retry-After`` honoured,
all within one time budget per client.

Every message it raises or logs is one line, at most ~300 characters, and
never contains the API key.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import os
import re
import ssl
import time
import zlib
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import httpx
import tenacity

from igny8_agent import __version__
from igny8_agent.errors import (
    AuthError,
    BackendError,
    ConfigError,
    Igny8Error,
    IntegrationMissing,
    TransientError,
)

log = logging.getLogger("igny8_agent.client")

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_PAGES = 100
MAX_MESSAGE = 300
MAX_ERROR_DEPTH = 32  # nesting followed when flattening DRF field errors

_DEFAULT_PORTS = {"http": 80, "https": 443}
_INTEGRATION_PATH = re.compile(r"/integration/integrations/(\d+)/")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what may follow "Bearer " in a header


class _Reply(NamedTuple):
    """One HTTP response, body already read (None when over the size cap)."""

    status: int
    reason: str
    headers: httpx.Headers
    body: Optional[bytes]
    url: httpx.URL


class BackendClient:
    """The IGNY8 backend API as the agent uses it."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        ca_bundle: Optional[str] = None,
        retry_budget: float = 180.0,
        max_response_bytes: int = 5 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        if not isinstance(api_key, str) or not _HEADER_SAFE.fullmatch(api_key):
            raise ConfigError(
                "the API key is empty or contains characters that cannot be sent in an HTTP header"
            )
        self._key = api_key
        self._base, self._origin = self._parse_api_url(api_url)
        self._sleep = sleep
        self._clock = clock
        self._budget = max(0.0, float(retry_budget))
        self._budget_start: Optional[float] = None
        self._max_bytes = int(max_response_bytes)
        # httpx's timeouts are per read; this one bounds a whole request, so a
        # body dripping in one byte at a time cannot hold the run past its budget.
        self._request_seconds = float(timeout)
        self._backoff = tenacity.wait_random_exponential(multiplier=1, max=60)
        self.attempts = 0
        self._http = httpx.Client(
            headers={
                "Authorization": "Bearer " + api_key,
                "Accept": "application/json",
                # Only what _Inflater decodes within the size cap.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": "igny8-agent/" + __version__,
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=self._verify(ca_bundle),
            follow_redirects=False,
            transport=transport,
        )

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "BackendClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- the endpoints -----------------------------------------------------------

    def me(self) -> dict:
        """``GET auth/me/``: the user the key belongs to."""
        data, url = self._call("GET", self._url("auth/me/"))
        return self._expect_object(data, "GET", url)

    def sites(self) -> list:
        """``GET auth/sites/``: the account's sites, all pages."""
        return self._get_list(self._url("auth/sites/"))

    def integrations(self, site_id: int) -> list:
        """``GET integration/integrations/``: this site's WordPress integrations.

        The endpoint may ignore its filters, so items of other sites or
        platforms are dropped here.
        """
        items = self._get_list(
            self._url("integration/integrations/"),
            params={"site_id": str(site_id), "platform": "wordpress"},
        )
        kept = [
            item for item in items
            if _same_id(item.get("site"), site_id) and item.get("platform") == "wordpress"
        ]
        if len(kept) != len(items):
            log.debug("dropped %d integrations of other sites or platforms", len(items) - len(kept))
        return kept

    def create_integration(self, site_id: int, site_url: str) -> dict:
        """``POST integration/integrations/``: create the site's WordPress integration."""
        body = {
            "site": site_id,
            "platform": "wordpress",
            "platform_type": "cms",
            "is_active": True,
            "config_json": {"site_url": site_url},
        }
        data, url = self._call(
            "POST", self._url("integration/integrations/"), body=body, subject="the new integration"
        )
        item = self._expect_object(data, "POST", url)
        if not _is_int(item.get("id")):
            raise self._error(
                BackendError, "the backend's answer to POST %s has no integration id" % url.path
            )
        return item

    def update_structure(self, integration_id: int, payload: dict) -> dict:
        """``POST .../{id}/update-structure/``: push the structure; returns the
        unwrapped ``data`` (e.g. ``{"last_structure_fetch": ...}``), ``{}`` when
        the backend answers with no data."""
        data, url = self._call(
            "POST",
            self._url("integration/integrations/%d/update-structure/" % integration_id),
            body=payload,
            subject="the structure",
        )
        if data is None:
            return {}
        return self._expect_object(data, "POST", url)

    def content_types(self, integration_id: int) -> dict:
        """``GET .../{id}/content-types/``: what the backend holds for the site."""
        data, url = self._call(
            "GET", self._url("integration/integrations/%d/content-types/" % integration_id)
        )
        return self._expect_object(data, "GET", url)

    # -- lists and shapes ---------------------------------------------------------

    def _get_list(self, url: str, params: Optional[Dict[str, str]] = None) -> list:
        """All items of a list endpoint: a bare array, or DRF pages followed
        through ``next`` on the same origin, at most MAX_PAGES."""
        items: List[Any] = []
        seen = set()
        next_url: Optional[str] = url
        pages = 0
        while next_url is not None:
            if pages == MAX_PAGES:
                raise self._error(
                    BackendError,
                    "the list at %s has more than %d pages; not read further"
                    % (httpx.URL(url).path, MAX_PAGES),
                )
            seen.add(next_url)
            data, final = self._call("GET", next_url, params=params if pages == 0 else None)
            pages += 1
            page_items, link = self._parse_page(data, final)
            items.extend(page_items)
            next_url = None
            if link is not None:
                target = self._resolve(final, link)
                if target is None or self._origin_of(target) != self._origin:
                    raise self._error(
                        BackendError,
                        "the backend's next-page link points to another origin (%s); not followed. "
                        "Check --api-url" % link,
                    )
                next_url = str(target)
                if next_url in seen:
                    raise self._error(
                        BackendError, "the backend's pages of %s loop back; not read further"
                        % final.path,
                    )
        return items

    def _parse_page(self, data: Any, url: httpx.URL) -> Tuple[List[dict], Optional[str]]:
        where = "GET %s" % url.path
        if isinstance(data, list):
            results, link = data, None
        elif isinstance(data, dict) and isinstance(data.get("results"), list):
            results, link = data["results"], data.get("next")
            if link is not None and not isinstance(link, str):
                raise self._error(BackendError, "the backend's answer to %s has a bad next-page link" % where)
            link = link or None
        else:
            raise self._error(
                BackendError, "the backend's answer to %s is not a list (got %s)" % (where, _kind(data))
            )
        if not all(isinstance(item, dict) for item in results):
            raise self._error(BackendError, "the backend's answer to %s is not a list of objects" % where)
        return results, link

    def _expect_object(self, data: Any, method: str, url: httpx.URL) -> dict:
        if not isinstance(data, dict):
            raise self._error(
                BackendError,
                "the backend's answer to %s %s is not a JSON object (got %s)"
                % (method, url.path, _kind(data)),
            )
        return data

    # -- one logical request, retried -------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Optional[Dict[str, str]] = None,
        body: Any = None,
        subject: str = "the request",
    ) -> Tuple[Any, httpx.URL]:
        """Send a request until it succeeds, fails for good, or the retry
        budget is spent. Returns the unwrapped payload (None for an empty body)
        and the URL that answered."""
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        started = self._clock()
        if self._budget_start is None:
            self._budget_start = started
        waits: Dict[int, float] = {}

        def next_wait(state: tenacity.RetryCallState) -> float:
            # Computed once per attempt: tenacity asks `stop` and `wait` in an
            # order that differs between versions, both must see the same value.
            if state.attempt_number not in waits:
                failure = state.outcome.exception() if state.outcome else None
                retry_after = getattr(failure, "retry_after", None) or 0.0
                waits[state.attempt_number] = max(self._backoff(state), retry_after)
            return waits[state.attempt_number]

        def over_budget(state: tenacity.RetryCallState) -> bool:
            assert self._budget_start is not None
            spent = self._clock() - self._budget_start
            return self._budget <= 0 or spent + next_wait(state) > self._budget

        def sleep(seconds: float) -> None:
            log.debug("waiting %.1f s before retrying %s %s", seconds, method, url)
            self._sleep(seconds)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            stop=over_budget,
            wait=next_wait,
            sleep=sleep,
            reraise=False,
        )
        try:
            return retrying(self._exchange, method, url, params, content, subject)
        except tenacity.RetryError as exc:
            last = exc.last_attempt
            failure = last.exception()
            assert isinstance(failure, TransientError)
            raise self._exhausted(failure, last.attempt_number, started) from failure

    def _exhausted(self, failure: TransientError, attempts: int, started: float) -> TransientError:
        elapsed = max(0.0, self._clock() - started)
        message = "the backend is unavailable: %s (%d attempt%s in %.0f s" % (
            failure.message, attempts, "" if attempts == 1 else "s", elapsed,
        )
        if failure.retry_after and failure.retry_after > self._budget:
            message += "; it asked to wait %.0f s" % failure.retry_after
        elif attempts == 1 and self._budget > 0:
            message += "; the %.0f s retry budget of this run is spent" % self._budget
        message += "); the next run will retry"
        return self._error(TransientError, message, status=failure.status, retry_after=failure.retry_after)

    def _exchange(
        self, method: str, url: str, params: Optional[Dict[str, str]], content: Optional[bytes], subject: str
    ) -> Tuple[Any, httpx.URL]:
        """One attempt: the request, plus same-origin redirects of a GET."""
        target = httpx.URL(url, params=params) if params else httpx.URL(url)
        for hop in range(MAX_REDIRECTS + 1):
            reply = self._send(method, target, content)
            if reply.status in REDIRECT_STATUSES and "Location" in reply.headers:
                target = self._redirect_target(method, reply)
                if hop == MAX_REDIRECTS:
                    break
                continue
            if 200 <= reply.status < 300:
                return self._parse_success(reply, method), reply.url
            raise self._status_error(reply, subject)
        raise self._error(
            BackendError,
            "the backend redirected %s %s more than %d times; not followed. Check --api-url"
            % (method, httpx.URL(url).path, MAX_REDIRECTS),
        )

    def _send(self, method: str, url: httpx.URL, content: Optional[bytes]) -> _Reply:
        self.attempts += 1
        headers = {"Content-Type": "application/json"} if content is not None else None
        log.debug(
            "%s %s (attempt %d; Authorization: Bearer ***)", method, url, self.attempts
        )
        try:
            deadline = time.monotonic() + self._request_seconds
            response = self._http.send(
                self._http.build_request(method, url, content=content, headers=headers), stream=True
            )
            try:
                body = self._read_capped(response, deadline)
            finally:
                response.close()
        except httpx.TransportError as exc:
            if _certificate_rejected(exc):
                raise self._error(
                    BackendError,
                    "the backend's TLS certificate was not accepted (%s). Check --api-url and the CA bundle"
                    % exc,
                ) from exc
            log.debug("%s %s failed: %s", method, url, self._clean(_describe(exc)))
            raise self._error(TransientError, "connection failed: %s" % _describe(exc)) from exc
        except httpx.DecodingError as exc:
            raise self._error(
                BackendError, "the backend's response could not be decoded: %s" % exc
            ) from exc
        reason = response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)
        log.debug("%s %s -> %d %s", method, url, response.status_code, reason)
        return _Reply(response.status_code, reason, response.headers, body, response.url)

    def _read_capped(self, response: httpx.Response, deadline: Optional[float] = None) -> Optional[bytes]:
        """The body, or None as soon as it is known to exceed the cap (the rest
        is never read). A compressed body is inflated here, never past the cap:
        httpx's own decoders inflate a whole chunk at once (a gzip bomb).
        Past ``deadline`` (time.monotonic()) it gives up with httpx.ReadTimeout."""
        declared = response.headers.get("Content-Length", "").strip()
        # ASCII digits only ("²".isdigit() is true); a long one is over any cap.
        if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > self._max_bytes):
            return None
        if response.is_stream_consumed:  # built from bytes (a mock): httpx has decoded it already
            body = response.content
            return body if len(body) <= self._max_bytes else None
        inflater = _Inflater(response.headers.get("Content-Encoding", ""))
        chunks: List[bytes] = []
        size = 0
        for raw in response.iter_raw():
            if deadline is not None and time.monotonic() > deadline:
                raise httpx.ReadTimeout(
                    "the response took longer than the %g s request timeout" % self._request_seconds
                )
            chunk = inflater.feed(raw, self._max_bytes + 1 - size)
            size += len(chunk)
            if size > self._max_bytes:
                return None
            chunks.append(chunk)
        chunk = inflater.finish(self._max_bytes + 1 - size)
        if size + len(chunk) > self._max_bytes:
            return None
        chunks.append(chunk)
        return b"".join(chunks)

    # -- responses --------------------------------------------------------------------

    def _parse_success(self, reply: _Reply, method: str) -> Any:
        where = "%s %s" % (method, reply.url.path)
        if reply.body is None:
            raise self._error(
                BackendError, "the backend's response is larger than %s; not read" % _size(self._max_bytes)
            )
        data = _parse_json(reply.body)
        if data is _NOT_JSON:
            raise self._error(
                BackendError,
                "the backend's answer to %s is not JSON (%s, %s); is --api-url the IGNY8 API?"
                % (where, reply.status, reply.headers.get("Content-Type") or "no content type"),
            )
        if isinstance(data, dict) and isinstance(data.get("success"), bool):
            if not data["success"]:
                detail = _error_detail(data) or "no details given"
                raise self._error(BackendError, "the backend reported an error for %s: %s" % (where, detail))
            return data.get("data")
        return data

    def _status_error(self, reply: _Reply, subject: str) -> Igny8Error:
        status = reply.status
        path = reply.url.path
        payload = _parse_json(reply.body) if reply.body is not None else _NOT_JSON
        detail = _error_detail(payload) if payload is not _NOT_JSON else None
        status_text = "%d %s" % (status, reply.reason)
        if status == 400:
            return self._error(
                BackendError, "the backend rejected %s: %s" % (subject, detail or status_text), status=400
            )
        if status in (401, 403):
            return self._error(
                AuthError,
                "Failed to connect: %s" % (detail or "the API key was rejected (%d)" % status),
                status=status,
            )
        integration = _INTEGRATION_PATH.search(path)
        if status == 404 and integration:
            return self._error(
                IntegrationMissing,
                "integration %s no longer exists on the backend (404)" % integration.group(1),
                status=404,
            )
        if status in TRANSIENT_STATUSES:
            text = status_text if not detail or detail == reply.reason else "%s: %s" % (status_text, detail)
            return self._error(
                TransientError, text, status=status, retry_after=_retry_after(reply.headers)
            )
        if status in REDIRECT_STATUSES:
            detail = "a redirect without a Location"
        return self._error(
            BackendError,
            "unexpected response %d from %s: %s" % (status, path, detail or reply.reason or status_text),
            status=status,
        )

    # -- URLs ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return "%s/%s" % (self._base, path)

    def _parse_api_url(self, api_url: Any) -> Tuple[str, Tuple[str, str, int]]:
        text = api_url.strip().rstrip("/") if isinstance(api_url, str) else ""
        shown = self._clean(repr(text))
        try:
            url = httpx.URL(text)
            origin = self._origin_of(url)
        except (httpx.InvalidURL, ValueError):
            origin = None
        if origin is None or not url.host or not 0 < origin[2] < 65536:
            raise ConfigError("--api-url is not a valid http(s) URL: %s" % shown)
        if url.userinfo or url.query or url.fragment:
            raise ConfigError(
                "--api-url must not contain a user name, password, query or fragment: %s" % shown
            )
        if url.scheme == "http" and not _is_loopback(url.host):
            raise ConfigError("--api-url must use https:// (plain http is allowed only for loopback)")
        return text, origin

    @staticmethod
    def _origin_of(url: httpx.URL) -> Optional[Tuple[str, str, int]]:
        scheme = url.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        return scheme, url.host.lower().rstrip("."), url.port or _DEFAULT_PORTS[scheme]

    @staticmethod
    def _resolve(base: httpx.URL, link: str) -> Optional[httpx.URL]:
        try:
            return base.join(link)
        except (httpx.InvalidURL, ValueError):
            return None

    def _redirect_target(self, method: str, reply: _Reply) -> httpx.URL:
        location = reply.headers["Location"]
        target = self._resolve(reply.url, location)
        if target is None or self._origin_of(target) != self._origin:
            raise self._error(
                BackendError,
                "the backend redirected to %s; not followed, the API key would be sent there. "
                "Check --api-url" % (target if target is not None else location),
                status=reply.status,
            )
        if method != "GET":
            raise self._error(
                BackendError,
                "the backend answered %s %s with a redirect to %s; not followed. Check --api-url"
                % (method, reply.url.path, target),
                status=reply.status,
            )
        log.debug("following a redirect to %s", target)
        return target

    def _verify(self, ca_bundle: Optional[str]) -> Any:
        """What httpx verifies TLS with. Plain http (loopback only) never does
        TLS, so no certificate store is loaded for it."""
        if self._origin[0] != "https":
            return False
        if not ca_bundle:
            return _system_trust() or True  # True: httpx's own (certifi) store
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                self._clean("cannot use the CA bundle %s: %s" % (ca_bundle, exc))
            ) from None

    # -- messages -------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        """One line, no API key, at most MAX_MESSAGE characters."""
        if self._key:
            text = text.replace(self._key, "***")
        text = text[: MAX_MESSAGE * 4]  # error bodies can be huge; only the start is shown
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3].rstrip() + "..."
        return text

    def _error(self, cls: Any, message: str, **kwargs: Any) -> Any:
        return cls(self._clean(message), **kwargs)


# -- helpers ---------------------------------------------------------------------------------

_NOT_JSON = object()


_DIGITS = re.compile(r"[0-9]+")
_MAX_INT_DIGITS = 4000  # int() of longer numbers is refused (3.11+) or quadratic (3.9, 3.10)


def _parse_json(body: bytes) -> Any:
    """The JSON value of a body; None for an empty body; _NOT_JSON otherwise
    (also for NaN / Infinity, which are not JSON and could not be printed as JSON)."""
    try:
        text = body.decode("utf-8-sig")
        if not text.strip():
            return None
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_json_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


def _no_constant(name: str) -> Any:
    raise ValueError("%s is not JSON" % name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _json_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise ValueError("number too long")
    return int(text)


class _Inflater:
    """``Content-Encoding`` gzip / deflate decoding that never produces more
    than the caller allows (zlib's ``max_length``); identity passes through.
    Anything else raises httpx.DecodingError: we only ask for gzip, deflate."""

    def __init__(self, header: str) -> None:
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise httpx.DecodingError("unsupported content encoding %r" % header[:40])
        self._deflate = codings == ["deflate"]
        self._first = True
        self._zlib: Any = None
        if codings:
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | (0 if self._deflate else 16))

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes of ``data``; if there are more than ``limit - 1``, at
        least ``limit`` (the caller then stops)."""
        if self._zlib is None:
            return data
        first, self._first = self._first, False
        try:
            return self._zlib.decompress(data, max(1, limit))
        except zlib.error as exc:
            if first and self._deflate:  # raw deflate without the zlib header, as httpx accepts
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise httpx.DecodingError("invalid %s data: %s" % ("deflate" if self._deflate else "gzip", exc)) from None

    def finish(self, limit: int) -> bytes:
        if self._zlib is None:
            return b""
        try:
            return self._zlib.flush(max(1, limit))
        except zlib.error as exc:
            raise httpx.DecodingError("invalid compressed data: %s" % exc) from None


def _error_detail(payload: Any) -> Optional[str]:
    """What an error body says, as one string: field errors as dotted paths,
    else ``detail`` / ``error``; None when it says nothing usable."""
    if isinstance(payload, dict):
        candidates = [payload.get("errors"), payload.get("detail"), payload.get("error")]
        if "success" in payload:
            candidates.append(payload.get("message"))
        elif not any(key in payload for key in ("errors", "detail", "error")):
            candidates.append(payload)  # DRF's field-error dict
    else:
        candidates = [payload]
    for candidate in candidates:
        lines = _flatten_errors(candidate)
        if lines:
            return "; ".join(lines)
    return None


def _flatten_errors(value: Any, path: str = "", depth: int = 0) -> List[str]:
    """DRF errors as ``"a.b.c: message"`` lines: dicts nest as deep as the
    field, lists hold messages or (for lists of objects) per-item dicts."""
    if depth > MAX_ERROR_DEPTH or value is None:
        return []
    if isinstance(value, dict):
        lines: List[str] = []
        for key, item in value.items():
            key = str(key)
            sub = path if key == "non_field_errors" else ("%s.%s" % (path, key) if path else key)
            lines.extend(_flatten_errors(item, sub, depth + 1))
        return lines
    if isinstance(value, list):
        lines = []
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                sub = "%s.%d" % (path, index) if path else str(index)
                lines.extend(_flatten_errors(item, sub, depth + 1))
            else:
                lines.extend(_flatten_errors(item, path, depth + 1))
        return lines
    text = str(value).strip()
    if not text:
        return []
    return ["%s: %s" % (path, text) if path else text]


def _retry_after(headers: httpx.Headers) -> Optional[float]:
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


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _system_trust() -> Optional[ssl.SSLContext]:
    """The system's CA directory (OpenSSL's hashed ``capath``), if it has one.

    OpenSSL looks a certificate up there only when a handshake needs it, so
    this costs about 1 ms where loading a whole bundle costs 20-50 ms on every
    run; and it trusts what the host's administrator installed.
    """
    capath = ssl.get_default_verify_paths().capath
    try:
        if not capath or not any(_HASHED_CERT.match(name) for name in os.listdir(capath)):
            return None
        return ssl.create_default_context(capath=capath)
    except (OSError, ssl.SSLError):
        return None


_HASHED_CERT = re.compile(r"\A[0-9a-f]{8}\.\d+\Z")


def _certificate_rejected(exc: BaseException) -> bool:
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 10:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _same_id(value: Any, wanted: int) -> bool:
    if _is_int(value):
        return value == wanted
    if isinstance(value, str):
        return value.strip() == str(wanted)
    return False


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a %s" % type(value).__name__


def _size(n: int) -> str:
    mib = 1024 * 1024
    return "%d MiB" % (n // mib) if n % mib == 0 else "%d bytes" % n
