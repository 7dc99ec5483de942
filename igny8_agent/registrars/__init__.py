"""Who registers which post types and taxonomies on a site, without PHP.

WordPress keeps rows in its tables, not registrations: whether a type exists,
is public and what it is called is decided by PHP code on every request. Each
module in this package stands for one source of that code — WordPress core, a
plugin, the active theme — and has the same shape:

``NAME``
    the source's name, shown as the type's source;
``PLUGINS``
    the plugin main files (``folder/file.php``) that make it active; empty
    for sources that are always there (core, the theme and mu-plugins);
``OPTIONS``
    the ``wp_options`` rows it reads (fetched for all sources in one query);
``register(site) -> Found``
    the post types and taxonomies it registers, each with WordPress's label
    (``labels->name``) and ``public`` flag, as the source's own code
    computes them.

Sources run in WordPress's loading order (core, plugins, then mu-plugins and
the theme's code); a later registration of a slug replaces an earlier one,
as ``register_post_type()`` does. Adding a source is one new module here and
one line in :data:`SOURCES`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from igny8_agent.database import ReadOnlySession, quote_identifier
from igny8_agent.errors import ParseError
from igny8_agent.phpserialize import PHPObject, maybe_unserialize
from igny8_agent.sitefiles import SiteFiles, ThemeDirs

POST_TYPES = "post_types"
TAXONOMIES = "taxonomies"


class Known(NamedTuple):
    """One registration: WordPress's ``labels->name`` as text, and ``public``."""

    label: str
    public: bool
    source: str = "core"


@dataclass
class Found:
    post_types: Dict[str, Known] = field(default_factory=dict)
    taxonomies: Dict[str, Known] = field(default_factory=dict)

    def kind(self, kind: str) -> Dict[str, Known]:
        return self.post_types if kind == POST_TYPES else self.taxonomies

    def update(self, other: "Found") -> None:
        self.post_types.update(other.post_types)
        self.taxonomies.update(other.taxonomies)


@dataclass
class SiteContext:
    """What a source may look at: the site's tables (through the read-only
    session), its options, its active plugins and its files."""

    session: ReadOnlySession
    prefix: str  # this blog's table prefix
    options: Mapping[str, object]  # option_name -> raw value (bytes)
    post_type_counts: Mapping[str, int]  # every post_type found in the rows
    taxonomy_counts: Mapping[str, int]
    active_plugins: FrozenSet[str]  # "folder/file.php", lower case
    files: Optional[SiteFiles] = None  # None when wp-config.php was not used
    warnings: List[str] = field(default_factory=list)
    registered: Found = field(default_factory=Found)  # by the sources run so far
    _code: object = None

    def table(self, name: str) -> str:
        return quote_identifier(self.prefix + name)

    def option_text(self, name: str) -> str:
        return text(self.options.get(name)).strip()

    def option_value(self, name: str) -> object:
        """An option as PHP's ``get_option()`` would see it (unserialized)."""
        return unserialize(self.options.get(name), f"option {name}", self.warnings)

    def has_rows(self, *post_types: str) -> bool:
        return any(t in self.post_type_counts for t in post_types)

    @property
    def themes(self) -> Optional[ThemeDirs]:
        """The active theme's directory and its parent's, if found on disk."""
        if self.files is None:
            return None
        return self.files.themes(
            self.option_text("stylesheet"), self.option_text("template"),
            self.option_text("stylesheet_root"), self.option_text("template_root"),
        )

    @property
    def code(self):
        """What the active theme and the mu-plugins register in PHP (scanned once)."""
        if self._code is None:
            from igny8_agent.phpscan import scan_code

            mods = self.option_value("theme_mods_" + self.option_text("stylesheet"))
            self._code = scan_code(self.files, self.themes, mods if isinstance(mods, dict) else {}, self.warnings)
        return self._code

    @property
    def code_notes(self) -> List[str]:
        """What the code scan could not read (nothing when it did not run)."""
        return list(self._code.notes) if self._code is not None else []


# -- helpers shared by the sources --------------------------------------------


def text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def label_text(value: object) -> str:
    """A label as text: CPT UI, ACF and Pods store ``&amp;``, others ``&``."""
    return html.unescape(text(value)).strip()


def unserialize(value: object, what: str, warnings: List[str]) -> object:
    if value is None:
        return None
    try:
        data = maybe_unserialize(value)
    except ParseError:
        warnings.append(f"ignored corrupt serialized data in {what}")
        return None
    return data.properties if isinstance(data, PHPObject) else data


def php_truthy(value: object) -> bool:
    """PHP's truth: "", "0", 0, 0.0, null, false and empty arrays are false."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


_SLUG = re.compile(r"\A[a-z0-9_-]{1,32}\Z")


def valid_slug(kind: str, slug: object) -> bool:
    """What ``register_post_type()`` (20 characters) and ``register_taxonomy()``
    (32) accept, in ``sanitize_key()``'s alphabet."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        return False
    return len(slug) <= (20 if kind == POST_TYPES else 32)


def default_name(kind: str, hierarchical: bool) -> str:
    """``labels->name`` when neither ``labels['name']`` nor ``label`` is given."""
    if kind == POST_TYPES:
        return "Pages" if hierarchical else "Posts"
    return "Categories" if hierarchical else "Tags"


def from_args(kind: str, args: object, source: str) -> Known:
    """A registration from ``register_post_type()`` / ``register_taxonomy()``
    arguments, with WordPress's defaults: ``public`` false for post types and
    true for taxonomies; the name from ``labels['name']``, else ``label``."""
    if not isinstance(args, dict):
        args = {}
    labels = args.get("labels")
    name: object = labels.get("name") if isinstance(labels, dict) else None
    if not php_truthy(name):
        name = args.get("label")
    label = label_text(name) if php_truthy(name) else default_name(kind, php_truthy(args.get("hierarchical")))
    public = php_truthy(args["public"]) if "public" in args else kind == TAXONOMIES
    return Known(label, public, source)


def plugin_active(plugins: Sequence[str], active: FrozenSet[str]) -> bool:
    """Whether one of ``plugins`` ("folder/file.php") is active. A folder
    with a version suffix (``pods-3.2.8``, as unpacked from a release zip)
    counts as the same plugin."""
    for wanted in plugins:
        folder, _, main = wanted.partition("/")
        for plugin in active:
            got_folder, _, got_main = plugin.partition("/")
            if got_main == main and (got_folder == folder or re.match(re.escape(folder) + r"-\d", got_folder)):
                return True
    return False


def plugin_files(value: object) -> Tuple[str, ...]:
    """The plugin files of ``active_plugins`` (a list) or
    ``active_sitewide_plugins`` (a map of file -> time)."""
    if isinstance(value, dict):
        items = value.values() if all(isinstance(k, int) for k in value) else value.keys()
        return tuple(text(p).strip().lower() for p in items if isinstance(p, (str, bytes)))
    return ()


# -- the sources, in WordPress's loading order ---------------------------------

from igny8_agent.registrars import (  # noqa: E402
    acf, bbpress, core, cptui, edd, events_calendar, metabox, pods, polylang, theme, woocommerce,
)

SOURCES = (core, woocommerce, cptui, acf, pods, metabox, bbpress, edd, polylang, events_calendar, theme)

OPTIONS: Tuple[str, ...] = tuple(dict.fromkeys(name for source in SOURCES for name in source.OPTIONS))


def active_sources(site: SiteContext) -> list:
    return [s for s in SOURCES if not s.PLUGINS or plugin_active(s.PLUGINS, site.active_plugins)]


def collect(site: SiteContext) -> Found:
    """Everything the active sources register, later sources winning."""
    for source in active_sources(site):
        site.registered.update(source.register(site))
    return site.registered
