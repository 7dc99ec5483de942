"""Reading one WordPress site's facts from its tables.

Everything here is a few aggregate queries inside one read-only session:
post counts by type, term counts by taxonomy, the options that say which
plugins and theme are active, and then what each active source registers
(:mod:`igny8_agent.registrars`). Nothing is pulled row by row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from igny8_agent import registrars
from igny8_agent.database import AccessDenied, NoSuchTable, ReadOnlySession, quote_identifier
from igny8_agent.errors import ConfigError
from igny8_agent.registrars import (
    POST_TYPES, TAXONOMIES, Found, SiteContext, plugin_files, text as _text, unserialize, valid_slug,
)
from igny8_agent.sitefiles import SiteFiles
from igny8_agent.multisite import Network
from igny8_agent.urls import site_key

_PREFIX = re.compile(r"\A[A-Za-z0-9_]*\Z")


def validate_table_prefix(prefix: object) -> str:
    """WordPress's own rule (wp-settings.php): letters, digits and underscores."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigError(
            f"table prefix {prefix!r} is invalid: WordPress allows only letters, digits and underscores"
        )
    return prefix


@dataclass
class SiteFacts:
    """What the tables say about one site."""

    table_prefix: str  # the blog's own prefix (wp_ or wp_2_ on a subsite)
    blog_id: int = 1
    multisite: bool = False
    home: str = ""
    siteurl: str = ""
    post_type_counts: Dict[str, int] = field(default_factory=dict)  # publish rows; every type found
    taxonomy_counts: Dict[str, int] = field(default_factory=dict)  # term_taxonomy rows
    active_plugins: Set[str] = field(default_factory=set)  # plugin files, "folder/file.php"
    registered: Found = field(default_factory=Found)  # what the active sources register
    notes: List[str] = field(default_factory=list)  # registrations the code scan could not read
    warnings: List[str] = field(default_factory=list)

    @property
    def site_url(self) -> str:
        return self.home or self.siteurl


def read_site(
    session: ReadOnlySession,
    base_prefix: str,
    *,
    multisite: Optional[bool] = None,
    url: Optional[str] = None,
    main_blog_id: int = 1,
    main_site_id: int = 1,
    files: Optional[SiteFiles] = None,
    blog_id: Optional[int] = None,
    network_plugins: Optional[Dict[Tuple[str, int], Tuple[Set[str], List[str]]]] = None,
) -> SiteFacts:
    """Read the facts of the main site, or of the subsite that ``url`` names.

    ``multisite`` is what wp-config.php says (``MULTISITE``); None means it
    does not say, and the presence of ``{prefix}blogs`` decides. ``blog_id``:
    the subsite's id when the caller has read ``{prefix}blogs`` already (a
    whole network in one run), so it is not looked up again;
    ``network_plugins``: a run's memo of the network-activated plugins, read
    with the first subsite and shared by the network's others.
    """
    base_prefix = validate_table_prefix(base_prefix)
    blogs_table = base_prefix + "blogs"
    facts = SiteFacts(table_prefix=base_prefix, blog_id=main_blog_id)
    # Without --url the main site's tables are {base_prefix}..., multisite or
    # not: the expensive counts go out first, so they overlap whatever the
    # caller does meanwhile (see prefetch.py).
    counts_first = not url
    if counts_first:
        _read_counts(session, facts)

    if multisite is None:
        multisite = _has_blogs_table(session, blogs_table, facts)
    if multisite:
        facts.blog_id = blog_id if blog_id is not None else _find_blog(session, blogs_table, url, main_blog_id)
    elif url:
        _check_single_site_url(session, base_prefix, url)
    facts.multisite = multisite
    if facts.blog_id != main_blog_id:
        facts.table_prefix = f"{base_prefix}{facts.blog_id}_"

    options = _read_options(session, facts)
    if multisite:
        key = (base_prefix, main_site_id)
        if network_plugins is not None and key in network_plugins:
            plugins, warnings = network_plugins[key]
            facts.active_plugins.update(plugins)
            facts.warnings.extend(warnings)
        else:
            network = SiteFacts(table_prefix=base_prefix)
            _read_network_plugins(session, base_prefix, main_site_id, network)
            facts.active_plugins.update(network.active_plugins)
            facts.warnings.extend(network.warnings)
            if network_plugins is not None:
                network_plugins[key] = (set(network.active_plugins), list(network.warnings))
    if not counts_first:
        _read_counts(session, facts)
    site = SiteContext(
        session=session,
        prefix=facts.table_prefix,
        options=options,
        post_type_counts=facts.post_type_counts,
        taxonomy_counts=facts.taxonomy_counts,
        active_plugins=frozenset(facts.active_plugins),
        files=files,
        warnings=facts.warnings,
    )
    facts.registered = registrars.collect(site)
    facts.notes = site.code_notes
    return facts


# -- where the site lives ------------------------------------------------------


def _has_blogs_table(session: ReadOnlySession, blogs_table: str, facts: SiteFacts) -> bool:
    """Multisite, when wp-config.php does not say: is ``{prefix}blogs`` there?

    WordPress itself goes by ``MULTISITE`` alone, so a user who may not read
    the table (to whom an absent table looks the same) reads a single site,
    with a warning rather than an error.
    """
    try:
        return bool(session.existing_tables([blogs_table]))
    except AccessDenied:
        facts.warnings.append(
            f"cannot read {blogs_table} (no SELECT grant), so this is read as a single site;"
            " on a multisite network define MULTISITE in wp-config.php"
        )
        return False


def _find_blog(session: ReadOnlySession, blogs_table: str, url: Optional[str], main_blog_id: int) -> int:
    if not url:
        return main_blog_id
    if site_key(url) is None:
        raise ConfigError(f"--url {url!r} is not a URL")
    found = Network.read(session, blogs_table[: -len("blogs")]).find(url)
    if found is None:
        raise ConfigError(
            f"no site of this multisite network matches --url {url} (the subsites' addresses are in {blogs_table})")
    return found.blog_id


def _check_single_site_url(session: ReadOnlySession, prefix: str, url: str) -> None:
    options = _options(session, prefix, ("home", "siteurl"))
    wanted = site_key(url)
    if wanted is None or all(site_key(_text(v)) != wanted for v in options.values()):
        raise ConfigError(
            f"--url {url} does not match this single-site install (home is {_text(options.get('home', '?'))})"
        )


# -- what the site holds -------------------------------------------------------


def _options(session: ReadOnlySession, prefix: str, names: tuple) -> Dict[str, object]:
    """The options' values as stored (bytes): serialized ones are parsed from
    the exact bytes, as PHP does; text is decoded where it is used."""
    marks = ", ".join(["%s"] * len(names))
    table = quote_identifier(prefix + "options")
    rows = session.query(
        f"SELECT option_name, option_value FROM {table} WHERE option_name IN ({marks})"
        # the active theme's mods, whose name depends on the stylesheet option
        f" OR option_name = (SELECT CONCAT('theme_mods_', option_value) FROM {table}"
        " WHERE option_name = 'stylesheet' LIMIT 1)",
        names,
    )
    return {_text(name): value for name, value in rows}


def _read_options(session: ReadOnlySession, facts: SiteFacts) -> Dict[str, object]:
    options = _options(session, facts.table_prefix, registrars.OPTIONS)
    facts.home = _text(options.get("home")).strip()
    facts.siteurl = _text(options.get("siteurl")).strip()
    plugins = unserialize(options.get("active_plugins"), "active_plugins", facts.warnings)
    facts.active_plugins.update(plugin_files(plugins))
    return options


def _read_network_plugins(session: ReadOnlySession, base_prefix: str, site_id: int, facts: SiteFacts) -> None:
    try:
        rows = session.query(
            f"SELECT meta_value FROM {quote_identifier(base_prefix + 'sitemeta')}"
            " WHERE site_id = %s AND meta_key = 'active_sitewide_plugins'",
            (site_id,),
        )
    except NoSuchTable:
        return  # a network without sitemeta has no network-activated plugins
    for (value,) in rows:
        plugins = unserialize(value, "active_sitewide_plugins", facts.warnings)
        facts.active_plugins.update(plugin_files(plugins))


# kind -> (table, column, what is counted): wp_count_posts()->publish,
# wp_count_terms(hide_empty=false)
_COUNTED = {
    POST_TYPES: ("posts", "post_type", "SUM(post_status = 'publish')"),
    TAXONOMIES: ("term_taxonomy", "taxonomy", "COUNT(*)"),
}


def _read_counts(session: ReadOnlySession, facts: SiteFacts) -> None:
    """Every type found in the rows and its count, in one pass over each
    table's type index.

    A value WordPress could never register (``register_post_type()`` /
    ``register_taxonomy()`` take ``sanitize_key()``'s alphabet, 20 / 32
    characters) is junk, not a type: skipped with a warning.
    """
    for kind, counts in ((POST_TYPES, facts.post_type_counts), (TAXONOMIES, facts.taxonomy_counts)):
        name, column, counted = _COUNTED[kind]
        table = quote_identifier(facts.table_prefix + name)
        odd = []
        for raw, count in session.query(f"SELECT {column}, {counted} FROM {table} GROUP BY {column}"):
            slug = _text(raw)
            if valid_slug(kind, slug):
                counts[slug] = int(count or 0)
            else:
                odd.append(slug)
        junk = [slug for slug in odd if not _counted_as(session, kind, table, slug, counts)]
        if junk:
            shown = ", ".join(repr(slug[:40]) for slug in junk[:5])
            more = f" and {len(junk) - 5} more" if len(junk) > 5 else ""
            facts.warnings.append(
                f"ignored rows of {facts.table_prefix + name} whose {column} is not a valid name: {shown}{more}"
            )


def _counted_as(session: ReadOnlySession, kind: str, table: str, slug: str, counts: Dict[str, int]) -> bool:
    """Whether an odd spelling names a real type's rows.

    GROUP BY compares by the column's collation, as WordPress's own
    ``WHERE post_type = 'post'`` does: where 'POST' equals 'post', a group
    may be shown as 'POST'. Its rows are then counted as WordPress counts
    them for the valid name (asked by that name, in the column's collation).
    """
    name = slug.strip().lower()
    if not valid_slug(kind, name) or name in counts:
        return False
    _table, column, counted = _COUNTED[kind]
    found, count = session.query(f"SELECT COUNT(*), {counted} FROM {table} WHERE {column} = %s", (name,))[0]
    if not found:
        return False
    counts[name] = int(count or 0)
    return True
