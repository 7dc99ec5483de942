"""Finding this WordPress's site and integration on the backend, as the
contract says: the site by id, or by its home URL (scheme, case, ``www.``,
default port and trailing slash ignored); the integration found or created.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from igny8_agent.client import BackendClient
from igny8_agent.errors import BackendError, SiteError
from igny8_agent.urls import site_key


class SiteIndex:
    """The account's sites (``GET sites/``) by id and by URL as the contract
    compares them, for finding many subsites' sites in one listing."""

    def __init__(self, sites: list) -> None:
        self.sites = [s for s in sites if isinstance(s, dict) and "id" in s]
        self._by_key: Dict[Any, List[dict]] = {}
        for record in self.sites:
            key = site_key(str(record.get("url", "")))
            if key is not None:
                self._by_key.setdefault(key, []).append(record)

    def with_id(self, site_id: int) -> List[dict]:
        return [s for s in self.sites if _as_int(s.get("id")) == site_id]

    def matching(self, url: str) -> List[dict]:
        key = site_key(url)
        return list(self._by_key.get(key, [])) if key is not None else []


def resolve_site(client: Optional[BackendClient], site_id: Optional[int], home: str, siteurl: str,
                 listed: Optional[SiteIndex] = None) -> dict:
    """The backend's site for this WordPress: by id when given, else by URL.
    ``listed``: the account's sites, when fetched once for many subsites."""
    index = listed if listed is not None else SiteIndex(client.sites())
    if site_id is not None:
        matches = index.with_id(site_id)
    else:
        matches = index.matching(home)
        if not matches and siteurl:
            matches = index.matching(siteurl)
    if not matches:
        where = f"id {site_id}" if site_id is not None else home or siteurl or "(no home URL)"
        raise SiteError(f"Site not found: no site of this account matches {where}; check the URL in IGNY8 or use --site-id")
    if len(matches) > 1:
        ids = ", ".join(str(s["id"]) for s in matches)
        raise SiteError(f"several sites of this account match {home} (ids {ids}); choose one with --site-id")
    if matches[0].get("is_active") is False:
        raise SiteError(f"Site is not active: site {matches[0]['id']} is disabled in IGNY8")
    return matches[0]


def find_or_create_integration(client: BackendClient, site_id: int, site_url: str) -> int:
    existing = _first_integration(client, site_id)
    if existing is not None:
        return existing
    try:
        return int(client.create_integration(site_id, site_url)["id"])
    except BackendError as exc:
        # A create retried after a timeout may have gone through the first
        # time: the backend then refuses a second one (400). Look again.
        again = _first_integration(client, site_id) if exc.status == 400 else None
        if again is None:
            raise
        return again


def _first_integration(client: BackendClient, site_id: int) -> Optional[int]:
    for item in client.integrations(site_id):
        if item.get("is_active", True) is not False and _as_int(item.get("id")) is not None:
            return int(item["id"])
    return None


def _as_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
