"""Unit tests for igny8_agent.client (and the transport and network layers
under it): the backend contract at the HTTP level, with respx routes behind an
injected transport and a fake clock, so every retry test runs instantly; the
proxy choice from the environment; a loopback server for the request deadline."""

from __future__ import annotations

import json
import logging
import ssl
import time
from email.utils import formatdate
from typing import Any, Iterator, List

import httpx
import pytest
import respx
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igny8_agent import __version__
from igny8_agent.client import BackendClient
from igny8_agent.errors import (
    AuthError,
    BackendError,
    ConfigError,
    Igny8Error,
    IntegrationMissing,
    TransientError,
)
from igny8_agent.network import proxy_for

KEY = "igny8_Sup3r-Secret_key0123456789abcdefXYZ"
BASE = "https://api.test/api/v1"
ME = BASE + "/auth/me/"
SITES = BASE + "/auth/sites/"
INTEGRATIONS = BASE + "/integration/integrations/"
UPDATE = INTEGRATIONS + "9/update-structure/"
CONTENT_TYPES = INTEGRATIONS + "9/content-types/"
MIB = 1024 * 1024
ENVELOPE_ERRORS = {
    "success": False,
    "error": "Validation failed.",
    "errors": {"post_types.post.count": ["A valid integer is required."]},
}


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: List[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(assert_all_called=False)


@pytest.fixture
def make_client(router: respx.Router, fake: FakeTime) -> Iterator[Any]:
    clients: List[BackendClient] = []

    def make(api_url: str = BASE, **kwargs: Any) -> BackendClient:
        kwargs.setdefault("sleep", fake.sleep)
        kwargs.setdefault("clock", fake.clock)
        client = BackendClient(api_url, KEY, transport=httpx.MockTransport(router.handler), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def envelope(data: Any) -> dict:
    return {"success": True, "data": data, "message": "ok"}


def integration(id_: int = 9, site: Any = 42, platform: str = "wordpress") -> dict:
    return {"id": id_, "site": site, "platform": platform, "is_active": True, "config_json": {}}


class EndlessStream(httpx.SyncByteStream):
    """A body that never ends; counts what the client pulled from it."""

    def __init__(self, chunk: bytes = b"x" * 65536) -> None:
        self.chunk = chunk
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.pulled += len(self.chunk)
            yield self.chunk

    def close(self) -> None:
        self.closed = True


# -- construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://api.igny8.com/api/v1", "http://10.0.0.5:8000/api/v1", "http://localhost.evil.test/"]
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        BackendClient(url, KEY)
    assert str(info.value) == "--api-url must use https:// (plain http is allowed only for loopback)"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8765/api/v1/", "http://127.0.0.1:8765/api/v1/auth/me/"),
        ("http://127.5.6.7/api/v1", "http://127.5.6.7/api/v1/auth/me/"),
        ("http://[::1]:8080/api/v1//", "http://[::1]:8080/api/v1/auth/me/"),
        ("http://localhost:8765/api/v1", "http://localhost:8765/api/v1/auth/me/"),
        ("https://api.test/api/v1/", "https://api.test/api/v1/auth/me/"),
    ],
)
def test_loopback_http_and_https_urls_are_accepted_and_joined_without_double_slash(
    make_client: Any, router: respx.Router, url: str, expected: str
) -> None:
    route = router.get(expected).respond(200, json={"id": 7})
    assert make_client(url).me() == {"id": 7}
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "api.igny8.com/api/v1",
        "ftp://api.igny8.com/api/v1",
        "https://",
        "https://user:pw@api.igny8.com/api/v1",
        "https://api.igny8.com/api/v1?x=1",
        "https://api.igny8.com:99999/api/v1",
        "http://[::1",
    ],
)
def test_invalid_api_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        BackendClient(url, KEY)


@pytest.mark.parametrize("key", ["", "igny8_has space", "igny8_new\nline", "igny8_ünïcode"])
def test_api_key_that_cannot_go_into_a_header_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        BackendClient(BASE, key)
    assert not key or key not in str(info.value)


def test_https_with_a_ca_bundle_builds_a_client(tmp_path: Any) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with BackendClient(BASE, KEY, ca_bundle=str(bundle)) as client:
        assert client.attempts == 0


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="CA bundle"):
        BackendClient(BASE, KEY, ca_bundle=str(tmp_path / "missing.pem"))


def test_plain_http_loopback_loads_no_certificate_store(monkeypatch: Any) -> None:
    def expensive(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a certificate store was loaded")

    monkeypatch.setattr(ssl, "create_default_context", expensive)
    BackendClient("http://127.0.0.1:8765/api/v1", KEY).close()
    with pytest.raises(AssertionError):
        BackendClient(BASE, KEY)  # https does load one


# -- headers and bodies ---------------------------------------------------------------


def test_every_request_carries_authorization_accept_and_user_agent(
    make_client: Any, router: respx.Router
) -> None:
    route = router.get(ME).respond(200, json={"id": 7})
    make_client().me()
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == "Bearer " + KEY
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == "igny8-agent/" + __version__


def test_create_integration_posts_the_contract_body_as_utf8_json(
    make_client: Any, router: respx.Router
) -> None:
    route = router.post(INTEGRATIONS).respond(201, json=envelope(integration()))
    item = make_client().create_integration(42, "https://exämple.com")
    request = route.calls.last.request
    assert item == integration()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer " + KEY
    assert json.loads(request.content.decode("utf-8")) == {
        "site": 42,
        "platform": "wordpress",
        "platform_type": "cms",
        "is_active": True,
        "config_json": {"site_url": "https://exämple.com"},
    }


@pytest.mark.parametrize("wrap", [lambda d: d, envelope], ids=["bare", "envelope"])
def test_me_and_content_types_unwrap_envelope_or_bare_objects(
    make_client: Any, router: respx.Router, wrap: Any
) -> None:
    me = {"id": 7, "email": "dev@igny8.com", "account": {"id": 3, "name": "Acme"}}
    types = {"post_types": {}, "taxonomies": {}, "last_structure_fetch": None}
    router.get(ME).respond(200, json=wrap(me))
    router.get(CONTENT_TYPES).respond(200, json=wrap(types))
    client = make_client()
    assert client.me() == me
    assert client.content_types(9) == types


@pytest.mark.parametrize(
    "response, expected",
    [
        (httpx.Response(200, json=envelope({"last_structure_fetch": "2026-11-26T10:00:01Z"})),
         {"last_structure_fetch": "2026-11-26T10:00:01Z"}),
        (httpx.Response(200, json={"last_structure_fetch": "2026-11-26T10:00:01Z"}),
         {"last_structure_fetch": "2026-11-26T10:00:01Z"}),
        (httpx.Response(200, json={}), {}),
        (httpx.Response(200, json=None), {}),
        (httpx.Response(200, json={"success": True, "data": None}), {}),
        (httpx.Response(204), {}),
    ],
    ids=["envelope", "bare", "empty-object", "null", "envelope-null", "no-content"],
)
def test_update_structure_returns_the_unwrapped_data_or_an_empty_dict(
    make_client: Any, router: respx.Router, response: httpx.Response, expected: dict
) -> None:
    route = router.post(UPDATE).mock(return_value=response)
    payload = {"post_types": {}, "taxonomies": {}, "site_url": "https://example.com"}
    assert make_client().update_structure(9, payload) == expected
    assert json.loads(route.calls.last.request.content) == payload


# -- lists and pagination ----------------------------------------------------------------


def test_bare_array_list_is_returned_as_is(make_client: Any, router: respx.Router) -> None:
    sites = [{"id": 42, "url": "https://example.com"}]
    router.get(SITES).respond(200, json=sites)
    assert make_client().sites() == sites


@pytest.mark.parametrize("wrap", [lambda d: d, envelope], ids=["bare", "envelope"])
def test_pagination_follows_absolute_next_across_three_pages(
    make_client: Any, router: respx.Router, wrap: Any
) -> None:
    def page(n: int, nxt: Any) -> httpx.Response:
        body = {"count": 5, "next": nxt, "previous": None, "results": [{"id": n * 10}, {"id": n * 10 + 1}]}
        return httpx.Response(200, json=wrap(body))

    route = router.get(SITES).mock(
        side_effect=[page(1, SITES + "?page=2"), page(2, SITES + "?page=3"), page(3, None)]
    )
    assert make_client().sites() == [{"id": i} for i in (10, 11, 20, 21, 30, 31)]
    assert [str(call.request.url) for call in route.calls] == [
        SITES, SITES + "?page=2", SITES + "?page=3"
    ]


@pytest.mark.parametrize(
    "link", ["https://evil.test/api/v1/auth/sites/?page=2", "http://api.test/api/v1/auth/sites/?page=2",
             "https://api.test:8443/api/v1/auth/sites/?page=2"],
    ids=["other-host", "http-downgrade", "other-port"],
)
def test_next_link_to_another_origin_is_refused(
    make_client: Any, router: respx.Router, link: str
) -> None:
    router.get(SITES).respond(200, json={"count": 3, "next": link, "results": [{"id": 1}]})
    elsewhere = router.route(host="evil.test").respond(200, json=[])
    with pytest.raises(BackendError) as info:
        make_client().sites()
    assert "another origin" in str(info.value) and link in str(info.value)
    assert elsewhere.call_count == 0


def test_pagination_stops_with_an_error_after_100_pages(make_client: Any, router: respx.Router) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "1"))
        return httpx.Response(200, json={"next": SITES + "?page=%d" % (n + 1), "results": [{"id": n}]})

    route = router.get(SITES).mock(side_effect=endless)
    with pytest.raises(BackendError, match="more than 100 pages"):
        make_client().sites()
    assert route.call_count == 100


def test_a_next_link_that_loops_back_is_an_error(make_client: Any, router: respx.Router) -> None:
    route = router.get(SITES).respond(200, json={"next": SITES + "?page=1", "results": []})
    with pytest.raises(BackendError, match="loop"):
        make_client().sites()
    assert route.call_count == 2


def test_integrations_sends_the_filters_and_drops_other_sites_and_platforms(
    make_client: Any, router: respx.Router
) -> None:
    items = [
        integration(9, 42),
        integration(10, 43),
        integration(11, 42, "shopify"),
        integration(12, "42"),
        integration(13, None),
    ]
    route = router.get(INTEGRATIONS).respond(200, json=envelope({"count": 5, "next": None, "results": items}))
    assert [i["id"] for i in make_client().integrations(42)] == [9, 12]
    assert dict(route.calls.last.request.url.params) == {"site_id": "42", "platform": "wordpress"}


# -- the status table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"post_types": {"post": {"count": ["A valid integer is required."]}}},
         "post_types.post.count: A valid integer is required."),
        (ENVELOPE_ERRORS, "post_types.post.count: A valid integer is required."),
        ({"detail": "JSON parse error - Expecting value"}, "JSON parse error - Expecting value"),
        ({"success": False, "error": "Site has no integration."}, "Site has no integration."),
        ({"items": [{}, {"count": ["Ensure this value is greater than or equal to 0."]}]},
         "items.1.count: Ensure this value is greater than or equal to 0."),
        ({"non_field_errors": ["Invalid data."], "taxonomies": ["This field is required."]},
         "Invalid data.; taxonomies: This field is required."),
        (["Only one WordPress integration per site."], "Only one WordPress integration per site."),
    ],
    ids=["drf-nested", "envelope-errors", "detail", "envelope-error", "list-of-dicts", "non-field", "bare-list"],
)
def test_400_shows_the_field_errors_as_dotted_paths_without_retrying(
    make_client: Any, router: respx.Router, body: Any, expected: str
) -> None:
    route = router.post(UPDATE).respond(400, json=body)
    with pytest.raises(BackendError) as info:
        make_client().update_structure(9, {"post_types": {}, "taxonomies": {}})
    assert type(info.value) is BackendError
    assert str(info.value) == "the backend rejected the structure: " + expected
    assert info.value.status == 400
    assert route.call_count == 1


def test_400_on_create_names_the_new_integration(make_client: Any, router: respx.Router) -> None:
    router.post(INTEGRATIONS).respond(400, json={"site": ["A WordPress integration already exists for this site."]})
    with pytest.raises(BackendError) as info:
        make_client().create_integration(42, "https://example.com")
    assert str(info.value) == (
        "the backend rejected the new integration: site: A WordPress integration already exists for this site."
    )


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (401, {"detail": "Invalid API key."}, "Failed to connect: Invalid API key."),
        (403, {"detail": "You do not have permission to perform this action."},
         "Failed to connect: You do not have permission to perform this action."),
        (401, None, "Failed to connect: the API key was rejected (401)"),
        (403, b"<html>Forbidden</html>", "Failed to connect: the API key was rejected (403)"),
        (401, {"success": False, "error": "Key revoked."}, "Failed to connect: Key revoked."),
    ],
)
def test_401_and_403_are_auth_errors_without_retrying(
    make_client: Any, router: respx.Router, status: int, body: Any, expected: str
) -> None:
    if isinstance(body, bytes):
        response = httpx.Response(status, content=body, headers={"Content-Type": "text/html"})
    else:
        response = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    route = router.get(ME).mock(return_value=response)
    with pytest.raises(AuthError) as info:
        make_client().me()
    assert str(info.value) == expected
    assert info.value.status == status
    assert route.call_count == 1


@pytest.mark.parametrize(
    "call", [lambda c: c.update_structure(9, {"post_types": {}, "taxonomies": {}}), lambda c: c.content_types(9)],
    ids=["update-structure", "content-types"],
)
def test_404_on_an_integration_is_integration_missing(make_client: Any, router: respx.Router, call: Any) -> None:
    routes = [router.post(UPDATE).respond(404, json={"detail": "Not found."}),
              router.get(CONTENT_TYPES).respond(404, json={"detail": "Not found."})]
    with pytest.raises(IntegrationMissing) as info:
        call(make_client())
    assert info.value.status == 404
    assert "integration 9" in str(info.value)
    assert sum(r.call_count for r in routes) == 1


@pytest.mark.parametrize("url, call", [(ME, lambda c: c.me()), (SITES, lambda c: c.sites())])
def test_404_elsewhere_is_a_backend_error(make_client: Any, router: respx.Router, url: str, call: Any) -> None:
    route = router.get(url).respond(404, json={"detail": "Not found."})
    with pytest.raises(BackendError) as info:
        call(make_client())
    assert not isinstance(info.value, IntegrationMissing)
    assert str(info.value) == "unexpected response 404 from %s: Not found." % httpx.URL(url).path
    assert route.call_count == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(
    make_client: Any, router: respx.Router, fake: FakeTime, status: int
) -> None:
    route = router.get(ME).mock(side_effect=[httpx.Response(status), httpx.Response(200, json={"id": 7})])
    client = make_client()
    assert client.me() == {"id": 7}
    assert route.call_count == 2 and client.attempts == 2
    assert len(fake.sleeps) == 1 and 0 <= fake.sleeps[0] <= 1


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("connection refused"), httpx.ConnectTimeout("timed out"),
     httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("server disconnected"),
     httpx.ReadError("connection reset")],
    ids=lambda e: type(e).__name__,
)
def test_connection_errors_and_timeouts_are_retried_then_succeed(
    make_client: Any, router: respx.Router, fake: FakeTime, error: Exception
) -> None:
    route = router.post(UPDATE).mock(side_effect=[error, error, httpx.Response(200, json=envelope({"a": 1}))])
    assert make_client().update_structure(9, {}) == {"a": 1}
    assert route.call_count == 3 and len(fake.sleeps) == 2


def test_connection_errors_until_the_budget_is_spent_are_a_transient_error(
    make_client: Any, router: respx.Router
) -> None:
    router.get(ME).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError) as info:
        make_client().me()
    assert str(info.value).startswith("the backend is unavailable: connection failed: ConnectError")


@pytest.mark.parametrize("status", [405, 409, 413, 418, 501, 505])
def test_other_statuses_are_unexpected_and_not_retried(make_client: Any, router: respx.Router, status: int) -> None:
    route = router.get(ME).respond(status, json={"detail": "Nope."})
    with pytest.raises(BackendError) as info:
        make_client().me()
    assert str(info.value) == "unexpected response %d from /api/v1/auth/me/: Nope." % status
    assert info.value.status == status
    assert route.call_count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_sent_exactly_once(
    make_client: Any, router: respx.Router, fake: FakeTime, status: int
) -> None:
    route = router.get(ME).respond(status)
    client = make_client()
    with pytest.raises(BackendError):
        client.me()
    assert route.call_count == 1 and client.attempts == 1 and fake.sleeps == []


# -- retries, Retry-After, the budget ----------------------------------------------------------


def test_retry_after_in_seconds_is_waited(make_client: Any, router: respx.Router, fake: FakeTime) -> None:
    router.get(ME).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"id": 7})
    ])
    assert make_client().me() == {"id": 7}
    assert fake.sleeps == [7.0]


def test_retry_after_as_http_date_is_measured_against_the_servers_date(
    make_client: Any, router: respx.Router, fake: FakeTime
) -> None:
    headers = {"Date": "Mon, 26 Nov 2026 10:00:00 GMT", "Retry-After": "Mon, 26 Nov 2026 10:00:30 GMT"}
    router.get(ME).mock(side_effect=[httpx.Response(503, headers=headers), httpx.Response(200, json={"id": 7})])
    assert make_client().me() == {"id": 7}
    assert fake.sleeps == [30.0]


def test_retry_after_as_http_date_without_a_date_header_uses_the_wall_clock(
    make_client: Any, router: respx.Router, fake: FakeTime
) -> None:
    retry_at = formatdate(time.time() + 120, usegmt=True)
    router.get(ME).mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": retry_at}), httpx.Response(200, json={"id": 7})
    ])
    make_client().me()
    assert len(fake.sleeps) == 1 and 110 <= fake.sleeps[0] <= 121


@pytest.mark.parametrize("value", ["Mon, 26 Nov 2001 10:00:00 GMT", "soon", "-5", "nan", "1e999"])
def test_past_or_malformed_retry_after_falls_back_to_the_backoff(
    make_client: Any, router: respx.Router, fake: FakeTime, value: str
) -> None:
    router.get(ME).mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": value}), httpx.Response(200, json={"id": 7})
    ])
    make_client().me()
    assert len(fake.sleeps) == 1 and 0 <= fake.sleeps[0] <= 1


def test_retry_after_beyond_the_budget_stops_at_once(make_client: Any, router: respx.Router, fake: FakeTime) -> None:
    route = router.get(ME).respond(503, headers={"Retry-After": "3600"})
    with pytest.raises(TransientError) as info:
        make_client().me()
    assert route.call_count == 1 and fake.sleeps == []
    assert info.value.retry_after == 3600
    assert str(info.value) == (
        "the backend is unavailable: 503 Service Unavailable (1 attempt in 0 s; it asked to wait 3600 s); "
        "the next run will retry"
    )


def test_budget_exhaustion_raises_transient_error_counting_the_attempts(
    make_client: Any, router: respx.Router, fake: FakeTime
) -> None:
    route = router.post(UPDATE).respond(503, json={"detail": "Service Unavailable"})
    client = make_client(retry_budget=180)
    started = fake.now
    with pytest.raises(TransientError) as info:
        client.update_structure(9, {})
    n = route.call_count
    assert n >= 3 and client.attempts == n and len(fake.sleeps) == n - 1
    assert fake.now - started <= 180
    assert info.value.status == 503
    assert str(info.value) == (
        "the backend is unavailable: 503 Service Unavailable (%d attempts in %.0f s); the next run will retry"
        % (n, fake.now - started)
    )


def test_backoff_is_exponential_with_full_jitter_capped_at_60_s(
    make_client: Any, router: respx.Router, fake: FakeTime
) -> None:
    router.get(ME).respond(502)
    with pytest.raises(TransientError):
        make_client(retry_budget=10_000).me()
    assert len(fake.sleeps) > 8
    for attempt, wait in enumerate(fake.sleeps, start=1):
        assert 0 <= wait <= min(60, 2 ** (attempt - 1))


def test_zero_budget_means_a_single_attempt(make_client: Any, router: respx.Router, fake: FakeTime) -> None:
    route = router.get(ME).respond(500)
    with pytest.raises(TransientError, match=r"\(1 attempt in 0 s\)"):
        make_client(retry_budget=0).me()
    assert route.call_count == 1 and fake.sleeps == []


def test_the_budget_is_shared_by_all_calls_of_one_client(
    make_client: Any, router: respx.Router, fake: FakeTime
) -> None:
    router.get(ME).respond(503, headers={"Retry-After": "50"})
    sites = router.get(SITES).respond(503, headers={"Retry-After": "50"})
    client = make_client(retry_budget=120)
    with pytest.raises(TransientError):
        client.me()  # attempts at 0, 50 and 100 s
    assert fake.sleeps == [50.0, 50.0]
    with pytest.raises(TransientError, match="the 120 s retry budget of this run is spent"):
        client.sites()  # the budget is spent: one attempt, no wait
    assert sites.call_count == 1 and fake.sleeps == [50.0, 50.0]


# -- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    ["https://evil.test/api/v1/auth/me/", "http://api.test/api/v1/auth/me/", "//evil.test/steal"],
    ids=["other-host", "http-downgrade", "scheme-relative"],
)
def test_redirect_to_another_origin_is_refused_and_never_followed(
    make_client: Any, router: respx.Router, location: str
) -> None:
    router.get(ME).respond(302, headers={"Location": location})
    elsewhere = router.route(host="evil.test").respond(200, json={"id": 666})
    downgrade = router.route(scheme="http").respond(200, json={"id": 666})
    client = make_client()
    with pytest.raises(BackendError) as info:
        client.me()
    target = str(httpx.URL(ME).join(location))
    assert str(info.value) == (
        "the backend redirected to %s; not followed, the API key would be sent there. Check --api-url" % target
    )
    assert elsewhere.call_count == 0 and downgrade.call_count == 0 and client.attempts == 1


@pytest.mark.parametrize("location", [BASE + "/auth/me/v2/", "/api/v1/auth/me/v2/", "v2/"])
def test_same_origin_redirect_of_a_get_is_followed(make_client: Any, router: respx.Router, location: str) -> None:
    router.get(ME).respond(301, headers={"Location": location})
    moved = router.get(ME + "v2/").respond(200, json={"id": 7})
    assert make_client().me() == {"id": 7}
    assert moved.calls.last.request.headers["Authorization"] == "Bearer " + KEY


def test_same_origin_redirect_on_loopback_http_is_followed(make_client: Any, router: respx.Router) -> None:
    base = "http://127.0.0.1:8765/api/v1"
    router.get(base + "/auth/me/").respond(307, headers={"Location": base + "/auth/me/v2/"})
    router.get(base + "/auth/me/v2/").respond(200, json={"id": 7})
    assert make_client(base).me() == {"id": 7}


def test_redirect_of_a_post_is_not_followed(make_client: Any, router: respx.Router) -> None:
    router.post(UPDATE).respond(308, headers={"Location": UPDATE + "v2/"})
    moved = router.post(UPDATE + "v2/").respond(200, json={})
    with pytest.raises(BackendError, match="with a redirect to"):
        make_client().update_structure(9, {})
    assert moved.call_count == 0


def test_redirects_stop_after_5_hops(make_client: Any, router: respx.Router) -> None:
    route = router.get(ME).respond(302, headers={"Location": ME})
    with pytest.raises(BackendError, match="more than 5 times"):
        make_client().me()
    assert route.call_count == 6


def test_redirect_without_location_is_unexpected(make_client: Any, router: respx.Router) -> None:
    router.get(ME).respond(302)
    with pytest.raises(BackendError, match="unexpected response 302"):
        make_client().me()


# -- malformed, unexpected and huge bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    "content, ctype",
    [(b"<<garbage", "application/json"), (b"<html><body>Welcome to nginx!</body></html>", "text/html"),
     (b"\xff\xfe\x00not utf-8", "application/json"), (b"[" * 100_000, "application/json")],
    ids=["garbage", "html", "not-utf8", "too-deep"],
)
def test_success_body_that_is_not_json_is_a_backend_error_not_retried(
    make_client: Any, router: respx.Router, content: bytes, ctype: str
) -> None:
    route = router.get(ME).respond(200, content=content, headers={"Content-Type": ctype})
    with pytest.raises(BackendError, match="is not JSON"):
        make_client().me()
    assert route.call_count == 1


@pytest.mark.parametrize(
    "url, call, body",
    [
        (ME, lambda c: c.me(), [{"id": 7}]),
        (ME, lambda c: c.me(), "a string"),
        (ME, lambda c: c.me(), None),
        (CONTENT_TYPES, lambda c: c.content_types(9), envelope([1, 2])),
        (SITES, lambda c: c.sites(), {"count": 1, "next": None}),
        (SITES, lambda c: c.sites(), {"count": 1, "results": {"id": 1}}),
        (SITES, lambda c: c.sites(), {"results": [{"id": 1}], "next": 5}),
        (SITES, lambda c: c.sites(), [1, 2, 3]),
        (SITES, lambda c: c.sites(), 42),
    ],
    ids=["me-list", "me-string", "me-null", "types-list", "page-no-results", "results-not-list",
         "next-not-string", "list-of-numbers", "number"],
)
def test_json_of_the_wrong_shape_is_a_backend_error(
    make_client: Any, router: respx.Router, url: str, call: Any, body: Any
) -> None:
    route = router.get(url).respond(200, json=body)
    with pytest.raises(BackendError, match="the backend's answer to GET"):
        call(make_client())
    assert route.call_count == 1


@pytest.mark.parametrize(
    "method, url, call, body",
    [
        ("POST", UPDATE, lambda c: c.update_structure(9, {}), ["last_structure_fetch"]),
        ("POST", INTEGRATIONS, lambda c: c.create_integration(42, "https://example.com"), {"site": 42}),
    ],
    ids=["update-list", "create-without-id"],
)
def test_post_answers_of_the_wrong_shape_are_backend_errors(
    make_client: Any, router: respx.Router, method: str, url: str, call: Any, body: Any
) -> None:
    router.route(method=method, url=url).respond(200, json=body)
    with pytest.raises(BackendError, match="the backend's answer to POST"):
        call(make_client())


def test_success_envelope_saying_failure_is_a_backend_error(make_client: Any, router: respx.Router) -> None:
    router.post(UPDATE).respond(200, json={"success": False, "error": "Integration disabled."})
    with pytest.raises(BackendError, match="Integration disabled."):
        make_client().update_structure(9, {})


@pytest.mark.parametrize(
    "status, content, expected_type, expected",
    [
        (400, b"<html><h1>Bad Request</h1></html>", BackendError, "the backend rejected the request: 400 Bad Request"),
        (400, b"", BackendError, "the backend rejected the request: 400 Bad Request"),
        (418, b"I'm a teapot, not JSON", BackendError, "unexpected response 418 from /api/v1/auth/me/: I'm a teapot"),
        (502, b"<html><title>502 Bad Gateway</title></html>", TransientError, "502 Bad Gateway"),
        (500, b"", TransientError, "500 Internal Server Error"),
        (503, b'{"detail": "Down for maintenance."}', TransientError,
         "503 Service Unavailable: Down for maintenance."),
        (400, b'{"detail": ' + b'"' + b"x" * 5000 + b'"}', BackendError, None),
    ],
    ids=["400-html", "400-empty", "418-text", "502-html", "500-empty", "503-detail", "400-long-detail"],
)
def test_error_bodies_of_any_kind_give_a_short_one_line_message(
    make_client: Any, router: respx.Router, status: int, content: bytes, expected_type: type, expected: Any
) -> None:
    router.get(ME).respond(status, content=content, headers={"Content-Type": "text/html"})
    with pytest.raises(expected_type) as info:
        make_client(retry_budget=0).me()
    message = str(info.value)
    assert "\n" not in message and len(message) <= 300
    if expected_type is TransientError:
        assert message.startswith("the backend is unavailable: %s (1 attempt" % expected)
    elif expected is not None:
        assert message == expected
    else:
        assert message.endswith("...")


def test_multi_line_details_are_shown_on_one_line(make_client: Any, router: respx.Router) -> None:
    router.get(ME).respond(401, json={"detail": "Invalid key.\r\nTry\tagain."})
    with pytest.raises(AuthError) as info:
        make_client().me()
    assert str(info.value) == "Failed to connect: Invalid key. Try again."


def test_body_over_the_cap_is_refused_without_reading_the_rest(make_client: Any, router: respx.Router) -> None:
    stream = EndlessStream()
    route = router.get(SITES).mock(side_effect=lambda request: httpx.Response(200, stream=stream))
    with pytest.raises(BackendError) as info:
        make_client().sites()
    assert str(info.value) == "the backend's response is larger than 5 MiB; not read"
    assert 5 * MIB < stream.pulled <= 5 * MIB + len(stream.chunk)
    assert stream.closed and route.call_count == 1


def test_declared_content_length_over_the_cap_is_refused_before_reading(
    make_client: Any, router: respx.Router
) -> None:
    stream = EndlessStream()
    router.get(ME).mock(
        side_effect=lambda request: httpx.Response(200, stream=stream, headers={"Content-Length": str(6 * MIB)})
    )
    with pytest.raises(BackendError, match="larger than 1 MiB"):
        make_client(max_response_bytes=MIB).me()
    assert stream.pulled == 0


def test_huge_error_body_is_not_read_and_gives_the_status_text(make_client: Any, router: respx.Router) -> None:
    stream = EndlessStream()
    router.get(ME).mock(side_effect=lambda request: httpx.Response(503, stream=stream))
    with pytest.raises(TransientError) as info:
        make_client(retry_budget=0, max_response_bytes=MIB).me()
    assert "503 Service Unavailable (1 attempt" in str(info.value)
    assert stream.pulled <= MIB + len(stream.chunk)


# -- the key stays secret; logging ---------------------------------------------------------------------


def test_api_key_is_in_no_exception_and_no_log_record(
    make_client: Any, router: respx.Router, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    router.get(ME).respond(401, json={"detail": "Key %s is invalid." % KEY})
    router.get(SITES).respond(503, json={"detail": "no backend for Bearer %s" % KEY})
    router.post(UPDATE).respond(400, json={"post_types": {KEY: {"count": ["bad key %s" % KEY]}}})
    router.get(CONTENT_TYPES).respond(302, headers={"Location": "https://evil.test/?key=" + KEY})
    router.get(INTEGRATIONS).mock(side_effect=httpx.ConnectError("cannot connect with %s" % KEY))
    router.post(INTEGRATIONS).respond(200, json={"success": False, "error": "echo " + KEY})
    client = make_client(retry_budget=5)
    calls = [client.me, client.sites, lambda: client.update_structure(9, {}), lambda: client.content_types(9),
             lambda: client.integrations(42), lambda: client.create_integration(42, "https://example.com")]
    raised = []
    for call in calls:
        with pytest.raises(Igny8Error) as info:
            call()
        raised.append(info.value)
    for exc in raised:
        assert KEY not in str(exc) and KEY not in repr(exc)
    assert "***" in str(raised[0])
    assert caplog.records
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
    assert any("Bearer ***" in record.getMessage() for record in caplog.records)


def test_debug_log_shows_method_url_status_and_wait(
    make_client: Any, router: respx.Router, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG, logger="igny8_agent.client")
    router.get(ME).mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": "3"}), httpx.Response(200, json={"id": 7})
    ])
    make_client().me()
    messages = [r.getMessage() for r in caplog.records if r.name == "igny8_agent.client"]
    assert any(m.startswith("GET %s (attempt 1" % ME) for m in messages)
    assert any(m.startswith("GET %s (attempt 2" % ME) for m in messages)
    assert "GET %s -> 503 Service Unavailable" % ME in messages
    assert "GET %s -> 200 OK" % ME in messages
    assert "waiting 3.0 s before retrying GET %s" % ME in messages


# -- anything the backend sends gives a result or one of our errors -------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["success", "data", "results", "next", "detail", "error", "errors", "id", "site",
                         "platform", "count"]) | st.text(max_size=8),
        inner, max_size=5),
    max_leaves=20,
)
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
ENDPOINTS = {
    "me": lambda c: c.me(),
    "sites": lambda c: c.sites(),
    "integrations": lambda c: c.integrations(42),
    "create": lambda c: c.create_integration(42, "https://example.com"),
    "update": lambda c: c.update_structure(9, {"post_types": {}, "taxonomies": {}}),
    "content_types": lambda c: c.content_types(9),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=st.sampled_from(sorted(ENDPOINTS)),
    status=st.integers(100, 599),
    body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
    retry_after=st.none() | header_text,
    location=st.none() | header_text,
)
def test_any_status_and_body_gives_a_result_or_an_igny8_error(
    endpoint: str, status: int, body: bytes, retry_after: Any, location: Any
) -> None:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if location is not None:
        headers["Location"] = location

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    router = respx.Router(assert_all_called=False)
    router.route().mock(side_effect=answer)
    fake = FakeTime()
    client = BackendClient(BASE, KEY, retry_budget=30, sleep=fake.sleep, clock=fake.clock,
                           transport=httpx.MockTransport(router.handler))
    with client:
        try:
            result = ENDPOINTS[endpoint](client)
        except Igny8Error as exc:
            assert KEY not in str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(result, (dict, list))


# -- proxies from the environment ------------------------------------------------------------------

PROXY = "http://proxy.example:3128"


@pytest.mark.parametrize(
    "scheme, host, port, environ, expected",
    [
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY}, PROXY),
        ("https", "api.igny8.com", 443, {"https_proxy": PROXY, "HTTPS_PROXY": "http://other:1"}, PROXY),
        ("https", "api.igny8.com", 443, {"ALL_PROXY": PROXY}, PROXY),
        ("https", "api.igny8.com", 443, {"all_proxy": "http://other:1", "HTTPS_PROXY": PROXY}, PROXY),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": "proxy.example:3128"}, PROXY),
        ("https", "api.igny8.com", 443, {"HTTP_PROXY": PROXY}, None),  # for http:// URLs only
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": "  "}, None),
        ("https", "127.0.0.1", 8443, {"HTTPS_PROXY": PROXY}, None),
        ("https", "localhost", 8443, {"HTTPS_PROXY": PROXY, "ALL_PROXY": PROXY}, None),
        ("https", "::1", 8443, {"HTTPS_PROXY": PROXY}, None),
        ("http", "127.0.0.1", 8080, {"HTTP_PROXY": PROXY, "ALL_PROXY": PROXY}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "igny8.com"}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "x.test, .igny8.com"}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.igny8.com:443"}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.igny8.com:8443"}, PROXY),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "notigny8.com,igny8.co"}, PROXY),
        ("https", "10.1.2.3", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, None),
        ("https", "10.1.2.3", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.1.2.4"}, PROXY),
        ("https", "2001:db8::5", 443, {"HTTPS_PROXY": PROXY, "NO_PROXY": "[2001:db8::5]:443"}, None),
        ("https", "api.igny8.com", 443, {"HTTPS_PROXY": PROXY, "no_proxy": "other.test", "NO_PROXY": "*"}, PROXY),
    ],
)
def test_the_proxy_comes_from_the_environment_loopback_and_no_proxy_go_direct(
    scheme: str, host: str, port: int, environ: dict, expected: Any
) -> None:
    assert proxy_for(scheme, host, port, environ) == expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("HTTP_PROXY", "::::"),
        ("https_proxy", "http://"),
        ("HTTPS_PROXY", "ftp://proxy.example:21"),
        ("ALL_PROXY", "http://proxy.example:99999"),
        ("all_proxy", "http://user:s3cret@proxy example:3128"),
        ("HTTPS_PROXY", "http://user:s3cret@:3128"),
    ],
)
def test_a_bad_proxy_variable_is_a_config_error_naming_it_without_its_value(name: str, value: str) -> None:
    for scheme, host in (("https", "api.igny8.com"), ("http", "127.0.0.1")):  # used or not
        with pytest.raises(ConfigError) as info:
            proxy_for(scheme, host, 443, {name: value})
        message = str(info.value)
        assert name in message and "proxy" in message and "\n" not in message
        assert "s3cret" not in message


def test_socks_proxies_need_socksio(monkeypatch: Any) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "socksio" else real(name, *a))
    with pytest.raises(ConfigError, match="ALL_PROXY.*socksio"):
        proxy_for("https", "api.igny8.com", 443, {"ALL_PROXY": "socks5://127.0.0.1:1080"})
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert proxy_for("https", "api.igny8.com", 443, {"ALL_PROXY": "socks5h://127.0.0.1:1080"}) == (
        "socks5h://127.0.0.1:1080")


def test_the_client_reads_no_proxy_setting_itself(monkeypatch: Any) -> None:
    """httpx is not left to read the environment (trust_env=False)."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with BackendClient("http://127.0.0.1:8765/api/v1", KEY) as client:
        assert client._net._http.trust_env is False


# -- a deadline for the whole request ----------------------------------------------------------------


class DripServer:
    """A loopback server that answers every connection one byte at a time."""

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    def __init__(self, interval: float) -> None:
        import socket
        import threading

        self.interval = interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/api/v1" % self.sock.getsockname()[1]

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(65536)
                for index in range(len(self.RESPONSE)):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(self.RESPONSE[index:index + 1])
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


def test_a_status_line_dripping_a_byte_at_a_time_times_out_as_a_whole() -> None:
    server = DripServer(interval=0.1)  # every read is in time, the answer would take 8 s
    try:
        started = time.monotonic()
        with BackendClient(server.url, KEY, timeout=1, retry_budget=0) as client:
            with pytest.raises(TransientError) as info:
                client.me()
        assert time.monotonic() - started < 2.5
        assert "ReadTimeout: the request took longer than the 1 s request timeout" in str(info.value)
    finally:
        server.close()


# -- the system trust store ----------------------------------------------------------------


def _verify_paths(monkeypatch: Any, cafile: str = "", capath: str = "") -> None:
    paths = ssl.DefaultVerifyPaths(cafile or None, capath or None, "SSL_CERT_FILE", cafile, "SSL_CERT_DIR", capath)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)


def _subjects(context: ssl.SSLContext) -> List[Any]:
    return [cert["subject"] for cert in context.get_ca_certs()]


def test_a_host_with_only_a_ca_bundle_file_is_trusted_through_it(tmp_path: Any, monkeypatch: Any) -> None:
    """RHEL, Fedora and Alpine ship a bundle file and no hashed directory:
    the agent uses the system's bundle, not a copy of its own."""
    from igny8_agent import tlstrust as network

    ca = trustme.CA()
    bundle = tmp_path / "tls-ca-bundle.pem"
    ca.cert_pem.write_to_path(str(bundle))
    (tmp_path / "certs").mkdir()  # a CA directory with no hashed names in it
    _verify_paths(monkeypatch, cafile=str(bundle), capath=str(tmp_path / "certs"))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    context = network.system_trust()
    assert context is not None and len(_subjects(context)) == 1


def test_a_distribution_bundle_is_found_when_openssl_names_none(tmp_path: Any, monkeypatch: Any) -> None:
    from igny8_agent import tlstrust as network

    ca = trustme.CA()
    bundle = tmp_path / "ca-bundle.crt"
    ca.cert_pem.write_to_path(str(bundle))
    _verify_paths(monkeypatch)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setattr(network, "CA_BUNDLES", (str(tmp_path / "missing.crt"), str(bundle)))
    context = network.system_trust()
    assert context is not None and len(_subjects(context)) == 1


def test_ssl_cert_file_beats_the_hashed_directory(tmp_path: Any, monkeypatch: Any) -> None:
    from igny8_agent import tlstrust as network

    hashed = tmp_path / "certs"
    hashed.mkdir()
    trustme.CA().cert_pem.write_to_path(str(hashed / "0123abcd.0"))
    chosen = tmp_path / "chosen.pem"
    trustme.CA().cert_pem.write_to_path(str(chosen))
    _verify_paths(monkeypatch, capath=str(hashed))
    assert network.system_trust(environ={}).get_ca_certs() == []  # capath: looked up lazily, none loaded yet
    context = network.system_trust(environ={"SSL_CERT_FILE": str(chosen)})
    assert len(context.get_ca_certs()) == 1


def test_a_host_without_any_ca_store_and_no_usable_certifi_is_a_config_error(monkeypatch: Any) -> None:
    from igny8_agent import tlstrust as network

    _verify_paths(monkeypatch)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setattr(network, "CA_BUNDLES", ())
    monkeypatch.setattr("igny8_agent.transport.bundled_trust", lambda: None)
    with pytest.raises(ConfigError, match="ca-certificates.*--ca-bundle"):
        BackendClient(BASE, KEY)


def test_a_429_seen_by_one_worker_holds_back_the_others_requests(make_client: Any, router: respx.Router) -> None:
    """``sync --all`` shares one client between its workers: while one waits
    out a 429's Retry-After, the others send nothing."""
    import threading

    sent: List[float] = []

    def me(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return httpx.Response(429, headers={"Retry-After": "1"}) if len(sent) == 1 else httpx.Response(200, json={"email": "a@b"})

    router.get(ME).mock(side_effect=me)
    router.get(SITES).mock(side_effect=lambda request: (sent.append(time.monotonic()), httpx.Response(200, json=[]))[1])
    client = make_client(retry_budget=30, sleep=time.sleep, clock=time.monotonic)
    first = threading.Thread(target=client.me)
    first.start()
    while not sent:
        time.sleep(0.01)
    time.sleep(0.2)  # the other worker's request comes while the first one waits
    client.sites()
    first.join(timeout=10)
    assert len(sent) == 3
    assert min(sent[1:]) - sent[0] >= 0.95  # nobody hammered the backend during the second it asked for
