"""The IGNY8 backend API (contract v1, shared/contract/backend-api.md) as
the agent uses it.

One ``BackendClient`` per run. It calls the contract's endpoints through a
``transport.Transport`` (TLS, proxies, deadlines, size caps, retries), unwraps
the ``{"success", "data"}`` envelope and DRF pagination, follows same-origin
redirects of a GET only, and turns every status into one of the project's
exceptions (``errors.py``). Every message it raises is one line, at most
~300 characters, and never contains the API key.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx

from igny8_agent.errors import (
    AuthError,
    BackendError,
    Igny8Error,
    IntegrationMissing,
    TransientError,
)
from igny8_agent.responses import NOT_JSON, error_detail, is_int, kind_of, parse_json, same_id, size_text
from igny8_agent.httpbits import origin_of, resolve, retry_after
from igny8_agent.transport import NEXT_RUN, Reply, Transport

log = logging.getLogger("igny8_agent.client")

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_PAGES = 100

_INTEGRATION_PATH = re.compile(r"/integration/integrations/(\d+)/")


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
        fail_fast: bool = False,
        then: str = NEXT_RUN,
        notify: Optional[Callable[[str], None]] = None,
    ) -> None:
        """``fail_fast``, ``then`` (what a spent retry budget's message ends
        with) and ``notify`` (told of each wait): see ``transport.Transport``."""
        self._net = Transport(
            api_url, api_key, timeout=timeout, ca_bundle=ca_bundle, retry_budget=retry_budget,
            max_response_bytes=max_response_bytes, sleep=sleep, clock=clock, transport=transport,
            fail_fast=fail_fast, then=then, notify=notify,
        )
        self._base, self._origin = self._net.base, self._net.origin
        self._error = self._net.error

    @property
    def attempts(self) -> int:
        """HTTP requests sent so far (every retry and redirect counts)."""
        return self._net.attempts

    @property
    def server_clock(self) -> Optional[Tuple[Any, Any]]:
        """The last response's ``Date`` and this host's time when it came, as
        (server, local) aware datetimes; None before a response with a Date."""
        return self._net.clock_sample

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        self._net.close()

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
            if same_id(item.get("site"), site_id) and item.get("platform") == "wordpress"
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
        if not is_int(item.get("id")):
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
                target = resolve(final, link)
                if target is None or origin_of(target) != self._origin:
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
                BackendError, "the backend's answer to %s is not a list (got %s)" % (where, kind_of(data))
            )
        if not all(isinstance(item, dict) for item in results):
            raise self._error(BackendError, "the backend's answer to %s is not a list of objects" % where)
        return results, link

    def _expect_object(self, data: Any, method: str, url: httpx.URL) -> dict:
        if not isinstance(data, dict):
            raise self._error(
                BackendError,
                "the backend's answer to %s %s is not a JSON object (got %s)"
                % (method, url.path, kind_of(data)),
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
        return self._net.retrying(
            lambda: self._exchange(method, url, params, content, subject), "%s %s" % (method, url)
        )

    def _exchange(
        self, method: str, url: str, params: Optional[Dict[str, str]], content: Optional[bytes], subject: str
    ) -> Tuple[Any, httpx.URL]:
        """One attempt: the request, plus same-origin redirects of a GET."""
        target = httpx.URL(url, params=params) if params else httpx.URL(url)
        for hop in range(MAX_REDIRECTS + 1):
            reply = self._net.send(method, target, content)
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

    # -- responses --------------------------------------------------------------------

    def _parse_success(self, reply: Reply, method: str) -> Any:
        where = "%s %s" % (method, reply.url.path)
        if reply.body is None:
            raise self._error(
                BackendError, "the backend's response is larger than %s; not read" % size_text(self._net.max_bytes)
            )
        data = parse_json(reply.body)
        if data is NOT_JSON:
            raise self._error(
                BackendError,
                "the backend's answer to %s is not JSON (%s, %s); is --api-url the IGNY8 API?"
                % (where, reply.status, reply.headers.get("Content-Type") or "no content type"),
            )
        if isinstance(data, dict) and isinstance(data.get("success"), bool):
            if not data["success"]:
                detail = error_detail(data) or "no details given"
                raise self._error(BackendError, "the backend reported an error for %s: %s" % (where, detail))
            return data.get("data")
        return data

    def _status_error(self, reply: Reply, subject: str) -> Igny8Error:
        status = reply.status
        path = reply.url.path
        payload = parse_json(reply.body) if reply.body is not None else NOT_JSON
        detail = error_detail(payload) if payload is not NOT_JSON else None
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
                TransientError, text, status=status, retry_after=retry_after(reply.headers)
            )
        if status in REDIRECT_STATUSES:
            detail = "a redirect without a Location"
        message = "unexpected response %d from %s: %s" % (status, path, detail or reply.reason or status_text)
        if status == 404 and not httpx.URL(self._base).path.rstrip("/").endswith("/api/v1"):
            message = message.rstrip(".") + "; check --api-url: the API URL usually ends in /api/v1"
        return self._error(BackendError, message, status=status)

    # -- URLs ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return "%s/%s" % (self._base, path)

    def _redirect_target(self, method: str, reply: Reply) -> httpx.URL:
        location = reply.headers["Location"]
        target = resolve(reply.url, location)
        if target is None or origin_of(target) != self._origin:
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


# -- helpers ---------------------------------------------------------------------------------
