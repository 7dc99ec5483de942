"""Which post types and taxonomies a site has, and the payload that says so.

Combines, in order of precedence (last wins):

1. what the tables hold (unknown types get a label made from the slug);
2. well-known plugin types that are never public (forms, builders, orders);
3. WooCommerce's own registrations, when it is active or its rows exist;
4. definitions plugins keep in the database (CPT UI, ACF, WooCommerce
   attribute taxonomies) — true labels, public flags, and types registered but
   still empty;
5. WordPress core's own types and labels;
6. the operator's include / exclude lists.

``attachment`` and ``post_format`` are left out, as the contract says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Mapping, Optional

from igny8_agent import catalog
from igny8_agent.catalog import Known
from igny8_agent.settings import Settings
from igny8_agent.wordpress import SiteFacts

POST_TYPES = "post_types"
TAXONOMIES = "taxonomies"
KINDS = (POST_TYPES, TAXONOMIES)
TITLES = {POST_TYPES: "Post Types", TAXONOMIES: "Taxonomies"}  # as the IGNY8 frontend heads them


@dataclass
class ContentType:
    slug: str
    label: str
    count: int
    enabled: bool
    fetch_limit: int
    source: str  # core, woocommerce, custom-post-type-ui, advanced-custom-fields, database

    def entry(self) -> dict:
        return {
            "label": self.label,
            "count": self.count,
            "enabled": self.enabled,
            "fetch_limit": self.fetch_limit,
        }


@dataclass
class Structure:
    site_url: str
    post_types: Dict[str, ContentType] = field(default_factory=dict)
    taxonomies: Dict[str, ContentType] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    def kind(self, kind: str) -> Dict[str, ContentType]:
        return self.post_types if kind == POST_TYPES else self.taxonomies

    def content_types(self) -> dict:
        """The ``post_types`` / ``taxonomies`` part of the payload."""
        return {kind: {slug: t.entry() for slug, t in self.kind(kind).items()} for kind in KINDS}


def build_structure(facts: SiteFacts, settings: Settings) -> Structure:
    structure = Structure(site_url=facts.site_url, warnings=list(facts.warnings))
    for kind in KINDS:
        counts = facts.post_type_counts if kind == POST_TYPES else facts.taxonomy_counts
        known = _known_types(kind, facts)
        rules = settings.listing(kind)
        slugs = set(counts) | {s for s, k in known.items() if _registered(k, facts)}
        slugs |= set(rules.include)
        listed = structure.kind(kind)
        for slug in sorted(slugs, key=_display_order(kind)):
            info = known.get(slug)
            public = info.public if info else slug not in _non_public(kind)
            if slug in catalog.EXCLUDED_BY_CONTRACT:
                public = False
            if slug in rules.exclude or not (public or slug in rules.include):
                continue
            per_type = settings.type_settings(kind, slug)
            listed[slug] = ContentType(
                slug=slug,
                label=info.label if info else catalog.label_from_slug(slug),
                count=int(counts.get(slug, 0)),
                enabled=per_type.enabled,
                fetch_limit=per_type.fetch_limit,
                source=(info.plugin or "core") if info else "database",
            )
    if not structure.post_types:
        structure.warnings.append("no public post types found")
    if not structure.taxonomies:
        structure.warnings.append("no public taxonomies found")
    return structure


def build_payload(
    structure: Structure,
    settings: Settings,
    agent_version: str,
    now: Optional[datetime] = None,
) -> dict:
    """The body of ``update-structure`` exactly as the contract shows it."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    body = structure.content_types()
    body.update(
        {
            "plugin_connection_enabled": settings.plugin_connection_enabled,
            "two_way_sync_enabled": settings.two_way_sync_enabled,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "site_url": structure.site_url,
            "agent_version": agent_version,
        }
    )
    return body


def _known_types(kind: str, facts: SiteFacts) -> Mapping[str, Known]:
    if kind == POST_TYPES:
        layers = (catalog.WOOCOMMERCE_POST_TYPES, facts.defined_post_types, catalog.CORE_POST_TYPES)
    else:
        layers = (catalog.WOOCOMMERCE_TAXONOMIES, facts.defined_taxonomies, catalog.CORE_TAXONOMIES)
    merged: Dict[str, Known] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _registered(info: Known, facts: SiteFacts) -> bool:
    """Whether WordPress would register this type even with no rows: core
    always, plugins while they are active."""
    return not info.plugin or info.plugin in facts.active_plugins


def _display_order(kind: str):
    """Core types first, in WordPress's own order, then the rest by slug."""
    core = list(catalog.CORE_POST_TYPES if kind == POST_TYPES else catalog.CORE_TAXONOMIES)
    return lambda slug: (core.index(slug), "") if slug in core else (len(core), slug)


def _non_public(kind: str) -> frozenset:
    return catalog.NON_PUBLIC_POST_TYPES if kind == POST_TYPES else catalog.NON_PUBLIC_TAXONOMIES
