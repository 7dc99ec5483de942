"""Which post types and taxonomies a site has, and the payload that says so.

A type is listed when a source active on the site registers it as public
(:mod:`igny8_agent.registrars`: WordPress core, the active plugins it knows,
the active theme and mu-plugins), with that source's label and the count
from the tables. Then the operator's lists apply: ``exclude`` removes a type,
``include`` adds one, even a non-public one or a leftover. ``attachment``
and ``post_format`` are left out, as the contract says.

A type found in the tables that no active source registers is a *leftover*
of a removed or deactivated plugin or theme: WordPress does not show it, so
it is not listed, only reported (``structure --leftovers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional

from igny8_agent.registrars import Known, core
from igny8_agent.settings import Settings
from igny8_agent.wordpress import SiteFacts

# Left out of the payload by the contract even though WordPress calls them public.
EXCLUDED_BY_CONTRACT = ("attachment", "post_format")
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
    source: str  # the registering source (core, a plugin, theme, mu-plugin), or "leftover"

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
    leftovers: Dict[str, Dict[str, int]] = field(default_factory=dict)  # kind -> slug -> rows
    notes: List[str] = field(default_factory=list)  # code the scan could not read
    warnings: List[str] = field(default_factory=list)

    def kind(self, kind: str) -> Dict[str, ContentType]:
        return self.post_types if kind == POST_TYPES else self.taxonomies

    def content_types(self) -> dict:
        """The ``post_types`` / ``taxonomies`` part of the payload."""
        return {kind: {slug: t.entry() for slug, t in self.kind(kind).items()} for kind in KINDS}


def build_structure(facts: SiteFacts, settings: Settings) -> Structure:
    structure = Structure(site_url=facts.site_url, warnings=list(facts.warnings), notes=list(facts.notes))
    for kind in KINDS:
        counts = facts.post_type_counts if kind == POST_TYPES else facts.taxonomy_counts
        registered: Dict[str, Known] = facts.registered.kind(kind)
        rules = settings.listing(kind)
        structure.leftovers[kind] = {s: int(n) for s, n in sorted(counts.items()) if s not in registered}
        listed = structure.kind(kind)
        for slug in sorted(set(registered) | set(rules.include), key=_display_order(kind)):
            info = registered.get(slug)
            public = info is not None and info.public and slug not in EXCLUDED_BY_CONTRACT
            if slug in rules.exclude or not (public or slug in rules.include):
                continue
            per_type = settings.type_settings(kind, slug)
            listed[slug] = ContentType(
                slug=slug,
                label=info.label if info else label_from_slug(slug),
                count=int(counts.get(slug, 0)),
                enabled=per_type.enabled,
                fetch_limit=per_type.fetch_limit,
                source=info.source if info else "leftover",
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


def label_from_slug(slug: str) -> str:
    """A readable label for a type nothing describes: ``my_books`` -> ``My Books``."""
    words = slug.replace("-", " ").replace("_", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or slug


def _display_order(kind: str):
    """Core types first, in WordPress's own order, then the rest by slug."""
    order = list(core.POST_TYPES if kind == POST_TYPES else core.TAXONOMIES)
    return lambda slug: (order.index(slug), "") if slug in order else (len(order), slug)
