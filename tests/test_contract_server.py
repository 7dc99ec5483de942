"""Tests of the loopback contract server (tests/contract_server.py) with a real HTTP client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest

try:
    from contract_server import ContractServer, RecordedRequest
except ImportError:  # pragma: no cover - when tests/ is a package
    from tests.contract_server import ContractServer, RecordedRequest

KEY_A = "igny8_alpha_0123456789abcdef"
KEY_B = "igny8_bravo_0123456789abcdef"
TIMEOUT = httpx.Timeout(5.0)

SERVER_SCRIPT = Path(__file__).with_name("contract_server.py")


def entry(label: str = "Posts", count: Any = 1, **extra: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = {"label": label, "count": count}
    data.update(extra)
    return data


def structure(**overrides: Any) -> Dict[str, Any]:
    payload: Dict[str, Any] = {
        "post_types": {
            "post": entry("Posts", 123, enabled=True, fetch_limit=100),
            "page": entry("Pages", 45, enabled=True, fetch_limit=100),
            "product": entry("Products", 67, enabled=False, fetch_limit=100),
        },
        "taxonomies": {
            "category": entry("Categories", 12, enabled=True, fetch_limit=100),
            "post_tag": entry("Tags", 89, enabled=True, fetch_limit=100),
        },
        "plugin_connection_enabled": True,
        "two_way_sync_enabled": True,
        "timestamp": "2026-11-26T10:00:00Z",
        "site_url": "https://example.com",
        "agent_version": "0.1.0",
    }
    payload.update(overrides)
    return payload


class World:
    def __init__(self, server: ContractServer) -> None:
        self.server = server
        self.account_a = server.add_account("Acme", "dev@igny8.com", KEY_A)
        self.account_b = server.add_account("Other", "other@example.com", KEY_B)
        self.site_a = server.add_site(self.account_a, "https://example.com", "Example")
        self.site_a2 = server.add_site(self.account_a, "https://shop.example.com", "Shop")
        self.site_a3 = server.add_site(self.account_a, "https://old.example.com", "Old", is_active=False)
        self.site_b = server.add_site(self.account_b, "https://other.example.org", "Other")

    def client(self, key: str = KEY_A, **kwargs: Any) -> httpx.Client:
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = "Bearer " + key
        kwargs.setdefault("timeout", TIMEOUT)
        return httpx.Client(base_url=self.server.base_url, headers=headers, **kwargs)


def _make_world(**kwargs: Any) -> Iterator[World]:
    server = ContractServer(**kwargs).start()
    try:
        yield World(server)
    finally:
        server.stop()
    assert server.thread_count() == 0, "server threads leaked"
    assert server.errors == [], "server-side exceptions:\n" + "\n".join(server.errors)


@pytest.fixture
def world() -> Iterator[World]:
    yield from _make_world()


@pytest.fixture
def bare_world() -> Iterator[World]:
    yield from _make_world(envelope=False, paginate=False)


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    with world.client() as c:
        yield c


def data_of(response: httpx.Response) -> Any:
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "ok"
    return body["data"]


def create_integration(client: httpx.Client, site_id: int) -> int:
    r = client.post(
        "/integration/integrations/",
        json={
            "site": site_id,
            "platform": "wordpress",
            "platform_type": "cms",
            "is_active": True,
            "config_json": {"site_url": "https://example.com"},
        },
    )
    assert r.status_code == 201, r.text
    return data_of(r)["id"]


# ---------------------------------------------------------------- auth


def test_auth_me_with_valid_key_returns_user_and_account(world: World, client: httpx.Client) -> None:
    r = client.get("/auth/me/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    me = data_of(r)
    assert me == {
        "id": world.server.user_id_for_key(KEY_A),
        "email": "dev@igny8.com",
        "account": {"id": world.account_a, "name": "Acme"},
    }
    assert me["id"] != me["account"]["id"]


def test_auth_unknown_key_is_401_invalid_api_key(world: World) -> None:
    with world.client("igny8_nope") as c:
        r = c.get("/auth/me/")
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key."}
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_auth_missing_header_is_401(world: World) -> None:
    with world.client(key="") as c:
        for path in ("/auth/me/", "/auth/sites/", "/integration/integrations/"):
            r = c.get(path)
            assert r.status_code == 401
            assert "detail" in r.json()


def test_auth_non_bearer_scheme_is_401(world: World) -> None:
    with world.client(key="") as c:
        r = c.get("/auth/me/", headers={"Authorization": "Token " + KEY_A})
    assert r.status_code == 401


def test_revoked_key_is_401_invalid_api_key(world: World, client: httpx.Client) -> None:
    assert client.get("/auth/me/").status_code == 200
    world.server.revoke_key(KEY_A)
    r = client.get("/auth/me/")
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key."}


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(
    "path",
    ["/auth/nothing/", "/auth/me", "/integration/integrations", "/../x/", "/integration/integrations/abc/"],
)
def test_unknown_path_is_404_not_found(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}


def test_path_outside_api_prefix_is_404(world: World) -> None:
    r = httpx.get(world.server.origin + "/wp-admin/", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}


def test_wrong_method_on_known_path_is_405(client: httpx.Client) -> None:
    r = client.post("/auth/me/", json={})
    assert r.status_code == 405
    assert r.json() == {"detail": 'Method "POST" not allowed.'}
    assert "GET" in r.headers["allow"]


# ---------------------------------------------------------------- pagination, styles


def test_sites_pagination_follows_absolute_next_urls(world: World, client: httpx.Client) -> None:
    first = data_of(client.get("/auth/sites/"))
    assert first["count"] == 3
    assert first["previous"] is None
    assert first["next"] == world.server.base_url + "/auth/sites/?page=2"
    assert [s["id"] for s in first["results"]] == [world.site_a, world.site_a2]
    second = data_of(client.get(first["next"]))
    assert second["next"] is None
    assert second["previous"] == world.server.base_url + "/auth/sites/"
    assert second["results"] == [
        {"id": world.site_a3, "name": "Old", "url": "https://old.example.com", "is_active": False}
    ]


def test_pagination_keeps_query_filters_in_next_and_page_size_is_configurable() -> None:
    gen = _make_world(page_size=1)
    w = next(gen)
    try:
        with w.client() as c:
            iid = create_integration(c, w.site_a)
            page = data_of(c.get("/auth/sites/"))
            assert len(page["results"]) == 1 and page["count"] == 3
            urls = [page["next"]]
            while page["next"]:
                page = data_of(c.get(page["next"]))
                urls.append(page["next"])
            assert urls[-1] is None and len(urls) == 3
            listed = data_of(
                c.get("/integration/integrations/", params={"site_id": w.site_a, "platform": "wordpress"})
            )
            assert listed["count"] == 1 and listed["results"][0]["id"] == iid
    finally:
        gen.close()


def test_integrations_next_url_carries_the_filters(world: World, client: httpx.Client) -> None:
    server = world.server
    for _ in range(3):
        server.add_integration(world.site_a, platform="custom")
    server.ignore_list_filters = True
    page = data_of(client.get("/integration/integrations/", params={"site_id": world.site_a, "platform": "x"}))
    assert page["count"] == 3
    assert page["next"] == server.base_url + "/integration/integrations/?page=2&platform=x&site_id=%d" % world.site_a


def test_invalid_page_is_404(client: httpx.Client) -> None:
    for page in ("9", "0", "abc"):
        r = client.get("/auth/sites/", params={"page": page})
        assert r.status_code == 404
        assert r.json() == {"detail": "Invalid page."}


def test_link_origin_override_changes_next_origin(world: World, client: httpx.Client) -> None:
    world.server.link_origin = "https://elsewhere.invalid"
    page = data_of(client.get("/auth/sites/"))
    assert page["next"] == "https://elsewhere.invalid/api/v1/auth/sites/?page=2"


def test_envelope_mode_wraps_every_success_body(world: World, client: httpx.Client) -> None:
    iid = create_integration(client, world.site_a)
    for r in (
        client.get("/auth/me/"),
        client.get("/auth/sites/"),
        client.get("/integration/integrations/", params={"site_id": world.site_a}),
        client.post("/integration/integrations/%d/update-structure/" % iid, json=structure()),
        client.get("/integration/integrations/%d/content-types/" % iid),
    ):
        assert r.status_code == 200
        assert set(r.json()) == {"success", "data", "message"}


def test_bare_mode_returns_unwrapped_bodies_and_plain_arrays(bare_world: World) -> None:
    w = bare_world
    with w.client() as c:
        me = c.get("/auth/me/").json()
        assert me["email"] == "dev@igny8.com" and "success" not in me
        sites = c.get("/auth/sites/").json()
        assert isinstance(sites, list) and [s["id"] for s in sites] == [w.site_a, w.site_a2, w.site_a3]
        r = c.post("/integration/integrations/", json={"site": w.site_a, "platform": "wordpress"})
        assert r.status_code == 201
        created = r.json()
        assert created["site"] == w.site_a and created["platform"] == "wordpress"
        listed = c.get("/integration/integrations/", params={"site_id": w.site_a, "platform": "wordpress"}).json()
        assert isinstance(listed, list) and listed[0]["id"] == created["id"]
        pushed = c.post("/integration/integrations/%d/update-structure/" % created["id"], json=structure()).json()
        assert set(pushed) == {"last_structure_fetch"}
        ct = c.get("/integration/integrations/%d/content-types/" % created["id"]).json()
        assert ct["last_structure_fetch"] == pushed["last_structure_fetch"]


def test_envelope_error_style_gives_success_false_with_dotted_errors() -> None:
    gen = _make_world(error_style="envelope")
    w = next(gen)
    try:
        iid = w.server.add_integration(w.site_a)
        with w.client() as c:
            body = structure(post_types={"post": entry(count="12")})
            r = c.post("/integration/integrations/%d/update-structure/" % iid, json=body)
            assert r.status_code == 400
            assert r.json() == {
                "success": False,
                "error": "Validation failed.",
                "errors": {"post_types.post.count": ["A valid integer is required."]},
            }
        with w.client("igny8_bad") as c:
            assert c.get("/auth/me/").json() == {"success": False, "error": "Invalid API key."}
    finally:
        gen.close()


# ---------------------------------------------------------------- integrations


def test_create_integration_is_201_then_duplicate_create_is_400_on_site(
    world: World, client: httpx.Client
) -> None:
    body = {
        "site": world.site_a,
        "platform": "wordpress",
        "platform_type": "cms",
        "is_active": True,
        "config_json": {"site_url": "https://example.com"},
    }
    r = client.post("/integration/integrations/", json=body)
    assert r.status_code == 201
    item = data_of(r)
    assert {k: item[k] for k in ("site", "platform", "is_active", "config_json")} == {
        "site": world.site_a,
        "platform": "wordpress",
        "is_active": True,
        "config_json": {"site_url": "https://example.com"},
    }
    assert isinstance(item["id"], int) and item["id"] != world.site_a
    again = client.post("/integration/integrations/", json=body)
    assert again.status_code == 400
    errors = again.json()
    assert list(errors) == ["site"] and isinstance(errors["site"], list) and errors["site"]
    assert [i["id"] for i in world.server.integrations_for_site(world.site_a)] == [item["id"]]


def test_create_integration_validates_fields(world: World, client: httpx.Client) -> None:
    r = client.post("/integration/integrations/", json={})
    assert r.status_code == 400
    assert r.json() == {"site": ["This field is required."], "platform": ["This field is required."]}
    r = client.post("/integration/integrations/", json={"site": "abc", "platform": "joomla"})
    assert r.status_code == 400
    assert set(r.json()) == {"site", "platform"}


def test_create_integration_for_another_accounts_site_is_400(world: World, client: httpx.Client) -> None:
    r = client.post("/integration/integrations/", json={"site": world.site_b, "platform": "wordpress"})
    assert r.status_code == 400
    assert "site" in r.json()
    assert world.server.integrations_for_site(world.site_b) == []


def test_integrations_list_filters_by_site_and_platform(world: World, client: httpx.Client) -> None:
    server = world.server
    wp = server.add_integration(world.site_a)
    server.add_integration(world.site_a, platform="shopify")
    server.add_integration(world.site_a2)
    listed = data_of(client.get("/integration/integrations/", params={"site_id": world.site_a, "platform": "wordpress"}))
    assert [i["id"] for i in listed["results"]] == [wp]
    assert listed["results"][0]["site"] == world.site_a and listed["results"][0]["platform"] == "wordpress"
    server.ignore_list_filters = True
    unfiltered = data_of(client.get("/integration/integrations/", params={"site_id": world.site_a, "platform": "wordpress"}))
    assert unfiltered["count"] == 3


def test_python_api_refuses_second_wordpress_integration(world: World) -> None:
    world.server.add_integration(world.site_a)
    with pytest.raises(ValueError):
        world.server.add_integration(world.site_a)


def test_deleted_or_unknown_integration_is_404(world: World, client: httpx.Client) -> None:
    iid = create_integration(client, world.site_a)
    world.server.delete_integration(iid)
    for r in (
        client.post("/integration/integrations/%d/update-structure/" % iid, json=structure()),
        client.get("/integration/integrations/%d/content-types/" % iid),
        client.get("/integration/integrations/%d/" % iid),
        client.get("/integration/integrations/123456/content-types/"),
    ):
        assert r.status_code == 404
        assert r.json() == {"detail": "Not found."}


def test_cross_account_isolation(world: World) -> None:
    server = world.server
    iid_a = server.add_integration(world.site_a)
    with world.client(KEY_B) as b:
        assert data_of(b.get("/auth/me/"))["account"]["id"] == world.account_b
        sites = data_of(b.get("/auth/sites/"))
        assert [s["id"] for s in sites["results"]] == [world.site_b] and sites["count"] == 1
        listed = data_of(b.get("/integration/integrations/", params={"site_id": world.site_a}))
        assert listed["results"] == [] and listed["count"] == 0
        assert b.get("/integration/integrations/%d/content-types/" % iid_a).status_code == 404
        r = b.post("/integration/integrations/%d/update-structure/" % iid_a, json=structure())
        assert r.status_code == 404
        assert b.get("/integration/integrations/%d/" % iid_a).status_code == 404
    assert "content_types" not in server.get_integration(iid_a)["config_json"]


# ---------------------------------------------------------------- update-structure


def test_update_structure_stores_config_json_as_the_contract_says(world: World, client: httpx.Client) -> None:
    server = world.server
    server.clock = lambda: datetime(2026, 11, 26, 10, 0, 1, 250000, tzinfo=timezone.utc)
    iid = create_integration(client, world.site_a)
    body = structure()
    body["post_types"]["post"]["unknown_key"] = "ignored"
    body["something_new"] = {"nested": [1, 2]}
    r = client.post("/integration/integrations/%d/update-structure/" % iid, json=body)
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": {"last_structure_fetch": "2026-11-26T10:00:01Z"}, "message": "ok"}
    config = server.get_integration(iid)["config_json"]
    expected_post_types = structure()["post_types"]
    assert config["content_types"] == {
        "post_types": expected_post_types,
        "taxonomies": structure()["taxonomies"],
        "last_structure_fetch": "2026-11-26T10:00:01Z",
    }
    assert config["plugin_connection_enabled"] is True
    assert config["two_way_sync_enabled"] is True
    assert "something_new" not in config and "timestamp" not in config
    assert config["site_url"] == "https://example.com"  # other keys of config_json are kept


def test_update_structure_accepts_empty_maps_and_minimal_entries(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    r = client.post(
        "/integration/integrations/%d/update-structure/" % iid,
        json={"post_types": {}, "taxonomies": {"category": {"label": "", "count": 0}}},
    )
    assert r.status_code == 200, r.text
    stamp = data_of(r)["last_structure_fetch"]
    assert stamp.endswith("Z") and "T" in stamp


def test_update_structure_second_push_replaces_the_first(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    url = "/integration/integrations/%d/update-structure/" % iid
    assert client.post(url, json=structure()).status_code == 200
    assert client.post(url, json={"post_types": {"post": entry("Posts", 1)}, "taxonomies": {}}).status_code == 200
    ct = data_of(client.get("/integration/integrations/%d/content-types/" % iid))
    assert list(ct["post_types"]) == ["post"] and ct["taxonomies"] == {}


BAD_STRUCTURES = [
    pytest.param(
        {"post_types": {"post": entry(count="12")}, "taxonomies": {}},
        {"post_types": {"post": {"count": ["A valid integer is required."]}}},
        id="count-string",
    ),
    pytest.param(
        {"post_types": {"post": entry(count=12.0)}, "taxonomies": {}},
        {"post_types": {"post": {"count": ["A valid integer is required."]}}},
        id="count-float",
    ),
    pytest.param(
        {"post_types": {}, "taxonomies": {"category": entry(count=True)}},
        {"taxonomies": {"category": {"count": ["A valid integer is required."]}}},
        id="count-bool",
    ),
    pytest.param(
        {"post_types": {"post": entry(count=-1)}, "taxonomies": {}},
        {"post_types": {"post": {"count": ["Ensure this value is greater than or equal to 0."]}}},
        id="count-negative",
    ),
    pytest.param(
        {"post_types": {"post": {"count": 3}}, "taxonomies": {}},
        {"post_types": {"post": {"label": ["This field is required."]}}},
        id="label-missing",
    ),
    pytest.param(
        {"post_types": {"post": {"label": "Posts"}}, "taxonomies": {}},
        {"post_types": {"post": {"count": ["This field is required."]}}},
        id="count-missing",
    ),
    pytest.param(
        {"post_types": {"post": entry(label=5)}, "taxonomies": {}},
        {"post_types": {"post": {"label": ["Not a valid string."]}}},
        id="label-int",
    ),
    pytest.param(
        {"post_types": {"post": entry(fetch_limit=0)}, "taxonomies": {}},
        {"post_types": {"post": {"fetch_limit": ["Ensure this value is greater than or equal to 1."]}}},
        id="fetch-limit-0",
    ),
    pytest.param(
        {"post_types": {"post": entry(fetch_limit="100")}, "taxonomies": {}},
        {"post_types": {"post": {"fetch_limit": ["A valid integer is required."]}}},
        id="fetch-limit-string",
    ),
    pytest.param(
        {"post_types": {"post": entry(enabled="yes")}, "taxonomies": {}},
        {"post_types": {"post": {"enabled": ["Must be a valid boolean."]}}},
        id="enabled-string",
    ),
    pytest.param(
        {"post_types": {"post": entry(enabled=1)}, "taxonomies": {}},
        {"post_types": {"post": {"enabled": ["Must be a valid boolean."]}}},
        id="enabled-int",
    ),
    pytest.param(
        {"taxonomies": {}},
        {"post_types": ["This field is required."]},
        id="post-types-missing",
    ),
    pytest.param(
        {"post_types": [], "taxonomies": None},
        {
            "post_types": ['Expected a dictionary of items but got type "list".'],
            "taxonomies": ["This field may not be null."],
        },
        id="maps-wrong-type",
    ),
    pytest.param(
        {"post_types": {"post": "Posts"}, "taxonomies": {}},
        {"post_types": {"post": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}}},
        id="entry-not-object",
    ),
    pytest.param(
        [1, 2],
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        id="body-list",
    ),
    pytest.param(
        {"post_types": {"post": {"count": "1", "fetch_limit": 0}}, "taxonomies": {"t": entry(count=1.5)}},
        {
            "post_types": {
                "post": {
                    "label": ["This field is required."],
                    "count": ["A valid integer is required."],
                    "fetch_limit": ["Ensure this value is greater than or equal to 1."],
                }
            },
            "taxonomies": {"t": {"count": ["A valid integer is required."]}},
        },
        id="several-errors-at-once",
    ),
]


@pytest.mark.parametrize("body, errors", BAD_STRUCTURES)
def test_update_structure_rejects_bad_types_with_nested_field_errors(
    world: World, client: httpx.Client, body: Any, errors: Dict[str, Any]
) -> None:
    iid = world.server.add_integration(world.site_a)
    r = client.post("/integration/integrations/%d/update-structure/" % iid, json=body)
    assert r.status_code == 400
    assert r.json() == errors
    assert "content_types" not in world.server.get_integration(iid)["config_json"]


def test_update_structure_body_over_1_mib_is_413_and_exactly_1_mib_is_accepted(
    world: World, client: httpx.Client
) -> None:
    iid = world.server.add_integration(world.site_a)
    url = "/integration/integrations/%d/update-structure/" % iid
    base = json.dumps({"post_types": {}, "taxonomies": {}, "pad": ""}).encode()
    exact = base.replace(b'"pad": ""', b'"pad": "' + b"x" * (1024 * 1024 - len(base)) + b'"')
    assert len(exact) == 1024 * 1024
    headers = {"Content-Type": "application/json"}
    r = client.post(url, content=exact, headers=headers)
    assert r.status_code == 200, r.text
    over = exact.replace(b'"pad": "', b'"pad": "y', 1)
    r = client.post(url, content=over, headers=headers)
    assert r.status_code == 413
    assert "detail" in r.json()
    # the connection is still usable afterwards
    assert client.get("/auth/me/").status_code == 200


def test_invalid_json_is_400_json_parse_error(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    url = "/integration/integrations/%d/update-structure/" % iid
    for raw in (b"{not json", b'{"post_types": NaN}', b"\xff\xfe"):
        r = client.post(url, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json()["detail"].startswith("JSON parse error - ")


def test_non_json_content_type_is_415(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    r = client.post(
        "/integration/integrations/%d/update-structure/" % iid,
        content=json.dumps(structure()),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415


def test_chunked_request_body_is_accepted(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    raw = json.dumps(structure()).encode()

    def gen() -> Iterator[bytes]:
        yield raw[:10]
        yield raw[10:]

    r = client.post(
        "/integration/integrations/%d/update-structure/" % iid,
        content=gen(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- content-types


def test_content_types_before_first_push_has_empty_maps_and_null_time(world: World, client: httpx.Client) -> None:
    iid = create_integration(client, world.site_a)
    ct = data_of(client.get("/integration/integrations/%d/content-types/" % iid))
    assert ct["post_types"] == {} and ct["taxonomies"] == {}
    assert ct["last_structure_fetch"] is None
    assert set(ct) == {
        "post_types",
        "taxonomies",
        "last_structure_fetch",
        "plugin_connection_enabled",
        "two_way_sync_enabled",
    }


def test_content_types_after_push_include_synced_count(world: World, client: httpx.Client) -> None:
    server = world.server
    iid = create_integration(client, world.site_a)
    pushed = data_of(client.post("/integration/integrations/%d/update-structure/" % iid, json=structure()))
    server.set_synced_count(iid, "post_types", "post", 45)
    server.set_synced_count(iid, "taxonomies", "category", 10)
    ct = data_of(client.get("/integration/integrations/%d/content-types/" % iid))
    assert ct["post_types"]["post"] == {
        "label": "Posts",
        "count": 123,
        "synced_count": 45,
        "enabled": True,
        "fetch_limit": 100,
    }
    assert ct["post_types"]["page"]["synced_count"] == 0
    assert ct["taxonomies"]["category"]["synced_count"] == 10
    assert ct["taxonomies"]["post_tag"]["synced_count"] == 0
    assert list(ct["post_types"]) == ["post", "page", "product"]
    assert ct["last_structure_fetch"] == pushed["last_structure_fetch"]
    assert ct["plugin_connection_enabled"] is True and ct["two_way_sync_enabled"] is True
    with pytest.raises(ValueError):
        server.set_synced_count(iid, "posts", "post", 1)


def test_site_level_synced_counts_apply_to_any_integration_of_the_site(world: World, client: httpx.Client) -> None:
    world.server.set_site_synced_count(world.site_a, "post", 5)
    world.server.set_site_synced_count(world.site_a, "category", 3)
    iid = create_integration(client, world.site_a)
    client.post("/integration/integrations/%d/update-structure/" % iid, json=structure())
    ct = data_of(client.get("/integration/integrations/%d/content-types/" % iid))
    assert ct["post_types"]["post"]["synced_count"] == 5
    assert ct["taxonomies"]["category"]["synced_count"] == 3
    assert ct["post_types"]["page"]["synced_count"] == 0


# ---------------------------------------------------------------- recording


def test_every_request_is_recorded(world: World, client: httpx.Client) -> None:
    iid = world.server.add_integration(world.site_a)
    world.server.clear_requests()
    client.get("/integration/integrations/", params={"site_id": world.site_a, "platform": "wordpress"})
    client.post("/integration/integrations/%d/update-structure/" % iid, json=structure())
    client.post("/integration/integrations/%d/update-structure/" % iid, content=b"{bad", headers={"Content-Type": "application/json"})
    reqs = list(world.server.requests)
    assert len(reqs) == 3
    assert all(isinstance(r, RecordedRequest) for r in reqs)
    first, second, third = reqs
    assert first.method == "GET"
    assert first.path == "/api/v1/integration/integrations/"
    assert first.query == {"site_id": str(world.site_a), "platform": "wordpress"}
    assert first.target.startswith("/api/v1/integration/integrations/?")
    assert first.headers["authorization"] == "Bearer " + KEY_A
    assert first.headers["accept"] == "application/json"
    assert first.body is None and first.status == 200
    assert second.method == "POST" and second.body == structure() and second.status == 200
    assert second.headers["content-type"] == "application/json"
    assert third.body is None and third.raw_body == b"{bad" and third.status == 400
    assert [r.path for r in world.server.requests_to("update-structure", "POST")] == [second.path, third.path]


def test_recording_is_thread_safe_under_concurrent_clients(world: World) -> None:
    world.server.clear_requests()
    errors = []

    def worker() -> None:
        try:
            with world.client() as c:
                for _ in range(10):
                    assert c.get("/auth/me/").status_code == 200
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(world.server.requests) == 80


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 401, 403, 404])
def test_fault_status_returns_the_chosen_code_then_normal_service(
    world: World, client: httpx.Client, status: int
) -> None:
    world.server.inject("status", status=status)
    r = client.get("/auth/me/")
    assert r.status_code == status
    assert "detail" in r.json()
    assert world.server.requests[-1].fault == "status"
    assert client.get("/auth/me/").status_code == 200


def test_fault_status_503_with_retry_after_seconds_and_http_date(world: World, client: httpx.Client) -> None:
    date = formatdate(time.time() + 3, usegmt=True)
    world.server.inject("status", status=503, headers={"Retry-After": "2"})
    world.server.inject("status", status=429, retry_after=date)
    r1 = client.get("/auth/me/")
    r2 = client.get("/auth/me/")
    assert (r1.status_code, r1.headers["retry-after"]) == (503, "2")
    assert (r2.status_code, r2.headers["retry-after"]) == (429, date)


def test_fault_status_with_html_and_empty_bodies(world: World, client: httpx.Client) -> None:
    world.server.inject("status", status=502, body="<html><body>Bad gateway</body></html>")
    world.server.inject("status", status=500, body=None)
    world.server.inject("status", status=400, body={"success": False, "error": "nope", "errors": {"a.b": ["c"]}})
    r = client.get("/auth/me/")
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    r = client.get("/auth/me/")
    assert r.status_code == 500 and r.content == b""
    r = client.get("/auth/me/")
    assert r.json()["errors"] == {"a.b": ["c"]}


def test_fault_html_returns_html_body(world: World, client: httpx.Client) -> None:
    world.server.inject("html")
    world.server.inject("html", status=403, body="<html>Forbidden by WAF</html>")
    r = client.get("/auth/me/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError):
        r.json()
    r = client.get("/auth/me/")
    assert r.status_code == 403 and "WAF" in r.text


def test_fault_not_json_returns_garbage_with_200(world: World, client: httpx.Client) -> None:
    world.server.inject("not_json")
    r = client.get("/auth/me/")
    assert r.status_code == 200
    assert r.content == b"<<garbage"
    with pytest.raises(ValueError):
        r.json()


def test_fault_wrong_shape_returns_unexpected_json(world: World, client: httpx.Client) -> None:
    world.server.inject("wrong_shape")
    world.server.inject("wrong_shape")
    world.server.inject("wrong_shape", body={"results": "not-a-list", "next": 5})
    assert isinstance(client.get("/auth/me/").json(), list)
    assert isinstance(client.get("/auth/sites/").json(), dict)
    assert client.get("/auth/sites/").json() == {"results": "not-a-list", "next": 5}


def test_fault_reset_makes_the_client_see_a_transport_error(world: World, client: httpx.Client) -> None:
    world.server.inject("reset")
    with pytest.raises(httpx.TransportError):
        client.get("/auth/me/")
    world.server.inject("reset", partial=b"")
    with pytest.raises(httpx.TransportError):
        client.get("/auth/me/")
    assert client.get("/auth/me/").status_code == 200


def test_fault_hang_gives_a_read_timeout_and_is_released_by_stop(world: World) -> None:
    server = world.server
    server.inject("hang", seconds=30)
    with world.client(timeout=httpx.Timeout(5.0, read=0.3)) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/auth/me/")
        assert time.monotonic() - started < 2
    # a second hanging request is still pending on the server when it stops
    server.inject("hang", seconds=30)
    result: Dict[str, Any] = {}

    def call() -> None:
        try:
            with world.client(timeout=httpx.Timeout(5.0)) as c:
                c.get("/auth/me/")
        except Exception as exc:
            result["exc"] = exc

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 3
    while server.pending_faults and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    t.join(5)
    assert not t.is_alive()
    assert isinstance(result.get("exc"), httpx.TransportError)
    assert server.thread_count() == 0


def test_fault_hang_ends_after_its_seconds(world: World) -> None:
    world.server.inject("hang", seconds=0.2)
    with world.client() as c:
        with pytest.raises(httpx.TransportError):
            c.get("/auth/me/")


def test_fault_stall_after_headers_gives_a_read_timeout_on_the_body(world: World) -> None:
    world.server.inject("stall_after_headers", seconds=10, content_length=50, body_prefix=b'{"id"')
    with world.client(timeout=httpx.Timeout(5.0, read=0.3)) as c:
        with c.stream("GET", "/auth/me/") as r:
            assert r.status_code == 200
            assert r.headers["content-length"] == "50"
            with pytest.raises(httpx.ReadTimeout):
                r.read()


def test_fault_huge_streams_a_body_of_the_given_size(world: World, client: httpx.Client) -> None:
    world.server.inject("huge", size=3 * 1024 * 1024 + 7)
    r = client.get("/auth/me/")
    assert r.status_code == 200
    assert len(r.content) == 3 * 1024 * 1024 + 7
    assert r.headers["content-length"] == str(3 * 1024 * 1024 + 7)
    assert json.loads(r.content)["data"].startswith("xxx")


def test_fault_huge_default_is_50_mb_and_a_client_may_stop_reading(world: World, client: httpx.Client) -> None:
    world.server.inject("huge")
    world.server.inject("huge", size=2 * 1024 * 1024, chunked=True)
    with client.stream("GET", "/auth/me/") as r:
        assert r.headers["content-length"] == str(50 * 1024 * 1024)
        got = 0
        for chunk in r.iter_bytes():
            got += len(chunk)
            if got > 1024 * 1024:
                break  # a careful client caps the body
    with client.stream("GET", "/auth/me/") as r:
        assert "content-length" not in r.headers
        assert sum(len(c) for c in r.iter_bytes()) == 2 * 1024 * 1024
    assert client.get("/auth/me/").status_code == 200


def test_fault_redirect_returns_3xx_with_location(world: World, client: httpx.Client) -> None:
    world.server.inject("redirect", location="http://evil.invalid/api/v1/auth/me/")
    world.server.inject("redirect", status=301, location="https://api.igny8.com/api/v1/auth/me/")
    r = client.get("/auth/me/")
    assert r.status_code == 302 and r.headers["location"] == "http://evil.invalid/api/v1/auth/me/"
    r = client.get("/auth/me/")
    assert r.status_code == 301 and r.headers["location"].startswith("https://api.igny8.com/")


def test_fault_delay_answers_normally_after_a_pause(world: World, client: httpx.Client) -> None:
    world.server.inject("delay", seconds=0.3)
    started = time.monotonic()
    assert client.get("/auth/me/").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_faults_are_consumed_in_order_with_counts_and_path_matching(world: World, client: httpx.Client) -> None:
    server = world.server
    server.inject("status", count=2, path_contains="/auth/sites/", status=503)
    server.inject("status", status=500)
    server.inject("status", status=429, path_contains="/auth/me/", method="POST")
    assert client.get("/auth/me/").status_code == 500  # the first fault does not match this path
    assert client.get("/auth/sites/").status_code == 503
    assert client.get("/auth/sites/").status_code == 503
    assert client.get("/auth/sites/").status_code == 200
    assert client.get("/auth/me/").status_code == 200  # POST-only fault does not match GET
    assert server.pending_faults == 1
    server.clear_faults()
    assert server.pending_faults == 0
    server.inject("status", count=None, status=503)
    assert [client.get("/auth/me/").status_code for _ in range(4)] == [503] * 4
    server.clear_faults()
    assert client.get("/auth/me/").status_code == 200
    with pytest.raises(ValueError):
        server.inject("explode")


# ---------------------------------------------------------------- lifecycle


def test_restart_on_the_same_port_keeps_state(world: World) -> None:
    server = world.server
    port = server.port
    iid = server.add_integration(world.site_a)
    with world.client() as c:
        assert c.get("/auth/me/").status_code == 200  # leaves a keep-alive connection open
        server.stop()
        assert not server.running
        with pytest.raises(httpx.TransportError):
            c.get("/auth/me/")
        with pytest.raises(httpx.ConnectError):
            c.get("/auth/me/")
        server.start()
        assert server.port == port
        assert c.get("/integration/integrations/%d/content-types/" % iid).status_code == 200


def test_stop_shuts_down_and_joins_all_threads(world: World) -> None:
    server = world.server
    clients = [world.client() for _ in range(3)]
    for c in clients:
        assert c.get("/auth/me/").status_code == 200  # idle keep-alive connections
    assert server.thread_count() >= 2
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert server.thread_count() == 0
    server.stop()  # idempotent
    for c in clients:
        c.close()


def test_context_manager_starts_and_stops() -> None:
    with ContractServer(page_size=5) as server:
        server.add_account("A", "a@example.com", "igny8_ctx")
        r = httpx.get(server.base_url + "/auth/me/", headers={"Authorization": "Bearer igny8_ctx"}, timeout=TIMEOUT)
        assert r.status_code == 200
        assert server.base_url == "http://127.0.0.1:%d/api/v1" % server.port
    assert not server.running and server.thread_count() == 0


def test_listening_socket_is_reusable_right_after_stop() -> None:
    server = ContractServer().start()
    port = server.port
    server.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


# ---------------------------------------------------------------- demo CLI


def _spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_line(proc: subprocess.Popen, timeout: float = 5.0) -> str:
    out: Dict[str, str] = {}
    t = threading.Thread(target=lambda: out.setdefault("line", proc.stdout.readline()))
    t.daemon = True
    t.start()
    t.join(timeout)
    return out.get("line", "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_cli_serves_the_seeded_site_and_exits_cleanly_on_signal(sig: int) -> None:
    proc = _spawn(
        "--port", "0",
        "--site-url", "http://sample.test",
        "--api-key", "igny8_demo_cli",
        "--email", "demo@example.com",
        "--synced", "post=5",
        "--synced", "category=3",
    )
    try:
        line = _read_line(proc)
        assert line.startswith("listening on http://127.0.0.1:") and line.rstrip().endswith("/api/v1"), line
        base = line.split(" ", 2)[2].strip()
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer igny8_demo_cli"}, timeout=TIMEOUT) as c:
            assert data_of(c.get("/auth/me/"))["email"] == "demo@example.com"
            sites = data_of(c.get("/auth/sites/"))["results"]
            assert [s["url"] for s in sites] == ["http://sample.test"]
            r = c.post("/integration/integrations/", json={"site": sites[0]["id"], "platform": "wordpress"})
            iid = data_of(r)["id"]
            c.post("/integration/integrations/%d/update-structure/" % iid, json=structure())
            ct = data_of(c.get("/integration/integrations/%d/content-types/" % iid))
            assert ct["post_types"]["post"]["synced_count"] == 5
            assert ct["taxonomies"]["category"]["synced_count"] == 3
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0
        assert "igny8_demo_cli" not in (proc.stdout.read() + proc.stderr.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


# ---------------------------------------------------------------- HTTPS (ssl_context)

import ssl  # noqa: E402

import trustme  # noqa: E402


@pytest.fixture(scope="module")
def tls_ca() -> "trustme.CA":
    return trustme.CA()


def _server_context(ca: "trustme.CA", **issue: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", **issue).configure_cert(context)
    return context


def _client_context(ca: "trustme.CA") -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def tls_world(tls_ca: "trustme.CA") -> Iterator[World]:
    yield from _make_world(ssl_context=_server_context(tls_ca))


def test_https_base_url_and_api_over_tls(tls_world: World, tls_ca: "trustme.CA") -> None:
    server = tls_world.server
    assert server.scheme == "https"
    assert server.origin == "https://127.0.0.1:%d" % server.port
    assert server.base_url == "https://127.0.0.1:%d/api/v1" % server.port
    with tls_world.client(verify=_client_context(tls_ca)) as c:
        assert data_of(c.get("/auth/me/"))["email"] == "dev@igny8.com"
        iid = create_integration(c, tls_world.site_a)
        r = c.post("/integration/integrations/%d/update-structure/" % iid, json=structure())
        assert r.status_code == 200, r.text
        page = data_of(c.get("/auth/sites/"))
        assert page["next"].startswith(server.origin + "/api/v1/auth/sites/")  # DRF links keep the scheme
        assert data_of(c.get(page["next"]))["results"]
    assert server.requests[0].headers["authorization"] == "Bearer " + KEY_A


def test_https_by_localhost_name(tls_ca: "trustme.CA") -> None:
    with ContractServer("localhost", ssl_context=_server_context(tls_ca)) as server:
        assert server.base_url.startswith("https://localhost:")
        r = httpx.get(server.base_url + "/auth/me/", verify=_client_context(tls_ca), timeout=TIMEOUT)
        assert r.status_code == 401


def test_plain_http_server_is_unchanged() -> None:
    with ContractServer() as server:
        assert server.scheme == "http" and server.base_url.startswith("http://127.0.0.1:")


def test_untrusted_client_gets_a_certificate_error_and_the_server_sees_no_request(tls_world: World) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        with tls_world.client() as c:  # the system's CAs, not ours
            c.get("/auth/me/")
    assert tls_world.server.requests == []
    # The refused handshake is not a server error (checked by _make_world) and
    # the server keeps serving.
    assert tls_world.server.running


def test_expired_certificate_is_refused_by_a_verifying_client(tls_ca: "trustme.CA") -> None:
    from datetime import timedelta

    now = datetime.now(timezone.utc)
    context = _server_context(tls_ca, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    with ContractServer(ssl_context=context) as server:
        with pytest.raises(httpx.ConnectError, match="expired"):
            httpx.get(server.base_url + "/auth/me/", verify=_client_context(tls_ca), timeout=TIMEOUT)
        assert server.requests == [] and server.errors == []


def test_plain_http_client_on_the_tls_port_does_not_break_the_server(tls_world: World, tls_ca: "trustme.CA") -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls_world.server.base_url.replace("https://", "http://") + "/auth/me/", timeout=TIMEOUT)
    with tls_world.client(verify=_client_context(tls_ca)) as c:
        assert c.get("/auth/me/").status_code == 200


def test_a_client_that_never_handshakes_blocks_nobody_and_stop_releases_it(tls_ca: "trustme.CA") -> None:
    server = ContractServer(ssl_context=_server_context(tls_ca)).start()
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        r = httpx.get(server.base_url + "/auth/me/", verify=_client_context(tls_ca), timeout=TIMEOUT)
        assert r.status_code == 401
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert server.thread_count() == 0
        assert server.errors == []
    finally:
        silent.close()
        server.stop()


def test_faults_over_tls(tls_world: World, tls_ca: "trustme.CA") -> None:
    server = tls_world.server
    verify = _client_context(tls_ca)
    with tls_world.client(verify=verify) as c:
        server.inject("status", status=503, retry_after=2)
        r = c.get("/auth/me/")
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        server.inject("html")
        assert "<html>" in c.get("/auth/me/").text
        server.inject("huge", size=3 * 1024 * 1024)
        assert len(c.get("/auth/me/").content) == 3 * 1024 * 1024
        server.inject("redirect", location="https://elsewhere.invalid/")
        assert c.get("/auth/me/").headers["location"] == "https://elsewhere.invalid/"
    with tls_world.client(verify=verify) as c:
        server.inject("reset")
        with pytest.raises(httpx.TransportError):
            c.get("/auth/me/")
    with tls_world.client(verify=verify, timeout=httpx.Timeout(0.5)) as c:
        server.inject("stall_after_headers", seconds=10)
        with pytest.raises(httpx.ReadTimeout):
            c.get("/auth/me/")
        server.inject("hang", seconds=10)
        with pytest.raises(httpx.ReadTimeout):
            c.get("/auth/me/")
    with tls_world.client(verify=verify) as c:
        assert c.get("/auth/me/").status_code == 200
    started = time.monotonic()
    server.stop()  # releases the hanging handlers
    assert time.monotonic() - started < 5


def test_certificate_can_be_swapped_between_stop_and_start(tls_world: World, tls_ca: "trustme.CA") -> None:
    server = tls_world.server
    port = server.port
    other_ca = trustme.CA()
    server.stop()
    server.ssl_context = _server_context(other_ca)
    server.start()
    assert server.port == port
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/auth/me/", verify=_client_context(tls_ca), timeout=TIMEOUT)
    r = httpx.get(server.base_url + "/auth/me/", verify=_client_context(other_ca), timeout=TIMEOUT)
    assert r.status_code == 401
    server.stop()
    server.ssl_context = None
    server.start()
    assert server.base_url.startswith("http://")
    assert httpx.get(server.base_url + "/auth/me/", timeout=TIMEOUT).status_code == 401


def test_fault_drip_sends_one_byte_per_interval_and_is_released_by_stop(world: World) -> None:
    server = world.server
    body = b'{"detail": "slow"}'
    server.inject("drip", interval=0.05, body=body)
    started = time.monotonic()
    with world.client(timeout=httpx.Timeout(0.5)) as c:
        r = c.get("/auth/me/")  # each byte within the read timeout
    assert r.status_code == 200 and r.content == body
    assert time.monotonic() - started >= 0.05 * len(body)
    assert server.requests[-1].fault == "drip"
    server.inject("drip", interval=10)
    with world.client(timeout=httpx.Timeout(0.3)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/auth/me/")
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
