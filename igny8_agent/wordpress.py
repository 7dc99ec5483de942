"""Reading one WordPress site's facts from its tables.

Everything here is a few aggregate queries inside one read-only session:
post counts by type, term counts by taxonomy, a handful of options, and the
type definitions that plugins keep in the database (WooCommerce attribute
taxonomies, Custom Post Type UI, ACF 6.1+). Nothing is pulled row by row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from igny8_agent.catalog import WOOCOMMERCE, Known, woocommerce_attribute_label
from igny8_agent.database import ReadOnlySession, quote_identifier
from igny8_agent.errors import ConfigError, DatabaseError, ParseError
from igny8_agent.phpserialize import PHPObject, maybe_unserialize
from igny8_agent.urls import site_key

_PREFIX = re.compile(r"\A[A-Za-z0-9_]*\Z")

CPTUI = "custom-post-type-ui"
ACF = "advanced-custom-fields"


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
    active_plugins: Set[str] = field(default_factory=set)  # plugin folder names
    defined_post_types: Dict[str, Known] = field(default_factory=dict)  # from plugin data
    defined_taxonomies: Dict[str, Known] = field(default_factory=dict)
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
) -> SiteFacts:
    """Read the facts of the main site, or of the subsite that ``url`` names.

    ``multisite`` is what wp-config.php says (``MULTISITE``); None means it
    does not say, and the presence of ``{prefix}blogs`` decides.
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
        multisite = bool(session.existing_tables([blogs_table]))
    if multisite:
        facts.blog_id = _find_blog(session, blogs_table, url, main_blog_id)
    elif url:
        _check_single_site_url(session, base_prefix, url)
    facts.multisite = multisite
    if facts.blog_id != main_blog_id:
        facts.table_prefix = f"{base_prefix}{facts.blog_id}_"

    _read_options(session, facts)
    if multisite:
        _read_network_plugins(session, base_prefix, main_site_id, facts)
    if not counts_first:
        _read_counts(session, facts)
    _read_plugin_definitions(session, facts)
    return facts


# -- where the site lives ------------------------------------------------------


def _find_blog(session: ReadOnlySession, blogs_table: str, url: Optional[str], main_blog_id: int) -> int:
    if not url:
        return main_blog_id
    wanted = site_key(url)
    if wanted is None:
        raise ConfigError(f"--url {url!r} is not a URL")
    rows = session.query(
        f"SELECT blog_id, domain, path FROM {quote_identifier(blogs_table)}"
        " WHERE deleted = 0 AND archived = 0 AND spam = 0"
    )
    best: Optional[int] = None
    best_len = -1
    for blog_id, domain, path in rows:
        key = site_key(f"{_text(domain)}{_text(path)}")
        if key is None or (key.host, key.port) != (wanted.host, wanted.port):
            continue
        # The longest subsite path that the URL starts with, as WordPress's get_site_by_path().
        if (wanted.path + "/").startswith(key.path + "/") and len(key.path) > best_len:
            best, best_len = int(blog_id), len(key.path)
    if best is None:
        raise ConfigError(f"no site of this multisite network matches --url {url}")
    return best


def _check_single_site_url(session: ReadOnlySession, prefix: str, url: str) -> None:
    options = _options(session, prefix, ("home", "siteurl"))
    wanted = site_key(url)
    if wanted is None or all(site_key(_text(v)) != wanted for v in options.values()):
        raise ConfigError(
            f"--url {url} does not match this single-site install (home is {_text(options.get('home', '?'))})"
        )


# -- what the site holds -------------------------------------------------------

_OPTIONS = ("home", "siteurl", "active_plugins", "cptui_post_types", "cptui_taxonomies")


def _options(session: ReadOnlySession, prefix: str, names: tuple) -> Dict[str, object]:
    """The options' values as stored (bytes): serialized ones are parsed from
    the exact bytes, as PHP does; text is decoded where it is used."""
    marks = ", ".join(["%s"] * len(names))
    rows = session.query(
        f"SELECT option_name, option_value FROM {quote_identifier(prefix + 'options')}"
        f" WHERE option_name IN ({marks})",
        names,
    )
    return {_text(name): value for name, value in rows}


def _read_options(session: ReadOnlySession, facts: SiteFacts) -> None:
    options = _options(session, facts.table_prefix, _OPTIONS)
    facts.home = _text(options.get("home")).strip()
    facts.siteurl = _text(options.get("siteurl")).strip()
    plugins = _unserialize(options.get("active_plugins"), "active_plugins", facts)
    if isinstance(plugins, dict):
        facts.active_plugins.update(_plugin_folder(p) for p in plugins.values() if isinstance(p, str))
    for option, target in (
        ("cptui_post_types", facts.defined_post_types),
        ("cptui_taxonomies", facts.defined_taxonomies),
    ):
        data = _unserialize(options.get(option), option, facts)
        if isinstance(data, dict):
            for slug, definition in data.items():
                known = _definition(definition, CPTUI, fallback_slug=str(slug))
                if known is not None:
                    target[known[0]] = known[1]


def _read_network_plugins(session: ReadOnlySession, base_prefix: str, site_id: int, facts: SiteFacts) -> None:
    try:
        rows = session.query(
            f"SELECT meta_value FROM {quote_identifier(base_prefix + 'sitemeta')}"
            " WHERE site_id = %s AND meta_key = 'active_sitewide_plugins'",
            (site_id,),
        )
    except DatabaseError:
        return  # a network without sitemeta has no network-activated plugins
    for (value,) in rows:
        plugins = _unserialize(value, "active_sitewide_plugins", facts)
        if isinstance(plugins, dict):
            facts.active_plugins.update(_plugin_folder(str(p)) for p in plugins)


def _read_counts(session: ReadOnlySession, facts: SiteFacts) -> None:
    posts = quote_identifier(facts.table_prefix + "posts")
    term_taxonomy = quote_identifier(facts.table_prefix + "term_taxonomy")
    # One pass over the (post_type, post_status, ...) index: every type found,
    # and its published rows (wp_count_posts()->publish).
    for post_type, published in session.query(
        f"SELECT post_type, SUM(post_status = 'publish') FROM {posts} GROUP BY post_type"
    ):
        facts.post_type_counts[_text(post_type)] = int(published or 0)
    for taxonomy, count in session.query(
        f"SELECT taxonomy, COUNT(*) FROM {term_taxonomy} GROUP BY taxonomy"
    ):
        facts.taxonomy_counts[_text(taxonomy)] = int(count)


def _read_plugin_definitions(session: ReadOnlySession, facts: SiteFacts) -> None:
    # ACF 6.1+ keeps post types and taxonomies it registers as posts; only
    # published ones are registered (disabled ones have status acf-disabled).
    acf_kinds = {"acf-post-type": facts.defined_post_types, "acf-taxonomy": facts.defined_taxonomies}
    if any(kind in facts.post_type_counts for kind in acf_kinds):
        posts = quote_identifier(facts.table_prefix + "posts")
        rows = session.query(
            f"SELECT post_type, post_content FROM {posts}"
            " WHERE post_type IN ('acf-post-type', 'acf-taxonomy') AND post_status = 'publish'"
        )
        for kind, content in rows:
            data = _unserialize(content, f"ACF {_text(kind)} definition", facts)
            slug_key = "post_type" if _text(kind) == "acf-post-type" else "taxonomy"
            known = _definition(data, ACF, slug_key=slug_key)
            if known is not None:
                acf_kinds[_text(kind)][known[0]] = known[1]

    # WooCommerce attribute taxonomies: pa_<name>, public per attribute_public.
    if WOOCOMMERCE in facts.active_plugins or any(t.startswith("pa_") for t in facts.taxonomy_counts):
        table = quote_identifier(facts.table_prefix + "woocommerce_attribute_taxonomies")
        try:
            rows = session.query(f"SELECT attribute_name, attribute_label, attribute_public FROM {table}")
        except DatabaseError:
            rows = []  # WooCommerce never created its table here
        for name, label, public in rows:
            name, label = _text(name), _text(label)
            facts.defined_taxonomies["pa_" + name] = Known(
                woocommerce_attribute_label(label or name), bool(int(public or 0)), WOOCOMMERCE
            )


# -- helpers -------------------------------------------------------------------


def _unserialize(value: object, what: str, facts: SiteFacts) -> object:
    if value is None:
        return None
    try:
        return maybe_unserialize(value)
    except ParseError:
        facts.warnings.append(f"ignored corrupt serialized data in {what}")
        return None


def _definition(data: object, plugin: str, *, fallback_slug: str = "", slug_key: str = "name"):
    """(slug, Known) from a CPT UI or ACF definition array, or None."""
    if isinstance(data, PHPObject):
        data = data.properties
    if not isinstance(data, dict):
        return None
    slug = str(data.get(slug_key) or fallback_slug).strip()
    if not slug:
        return None
    labels = data.get("labels")
    label = ""
    if isinstance(labels, dict):
        label = str(labels.get("name") or "")
    label = label or str(data.get("label") or "") or slug
    return slug, Known(label, _truthy(data.get("public", True)), plugin)


def _truthy(value: object) -> bool:
    """PHP-ish truth of a stored flag: CPT UI stores "true"/"false" strings."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def _plugin_folder(plugin_file: str) -> str:
    """``woocommerce/woocommerce.php`` -> ``woocommerce``; ``advanced-custom-fields-pro/acf.php`` -> ACF."""
    folder = plugin_file.split("/", 1)[0].lower()
    if folder.startswith(ACF):
        return ACF
    return folder.removesuffix(".php")


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
