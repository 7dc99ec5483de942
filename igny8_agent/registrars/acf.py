"""Advanced Custom Fields 6.1+ (free and PRO): post types and taxonomies made
in ACF's admin are posts of type ``acf-post-type`` / ``acf-taxonomy``
(``post_name`` is ACF's key, ``post_content`` the serialized settings), and
with Local JSON also ``<key>.json`` files in the active theme's ``acf-json/``.

As ``ACF_Post_Type::register_post_types()`` does it: a definition is active
when its post is published (``acf-disabled`` when switched off); a JSON file
with the same key overrides the post's settings (its ``active`` flag too);
a file with no post is registered on its own. ``public`` defaults to true,
``labels`` pass through ``esc_html()``, and a slug WordPress core already
registered is left alone. Taxonomies are registered before post types.
"""

from __future__ import annotations

import json
from typing import Dict

from igny8_agent.registrars import (
    POST_TYPES, TAXONOMIES, Found, Known, SiteContext, from_args, php_truthy, text, unserialize, valid_slug,
)
from igny8_agent.sitefiles import read_file, top_level_files

NAME = "advanced-custom-fields"
PLUGINS = ("advanced-custom-fields/acf.php", "advanced-custom-fields-pro/acf.php")
OPTIONS = ()

_STORAGE = {"acf-post-type": POST_TYPES, "acf-taxonomy": TAXONOMIES}
_SLUG_KEY = {POST_TYPES: "post_type", TAXONOMIES: "taxonomy"}
_KEY_PREFIX = {"post_type_": POST_TYPES, "taxonomy_": TAXONOMIES}

INTERNAL = {
    "acf-field-group": Known("Field Groups", False, NAME),
    "acf-field": Known("Fields", False, NAME),
    "acf-post-type": Known("Post Types", False, NAME),
    "acf-taxonomy": Known("Taxonomies", False, NAME),
    "acf-ui-options-page": Known("Options Pages", False, NAME),
}


def register(site: SiteContext) -> Found:
    found = Found(dict(INTERNAL))
    definitions: Dict[str, dict] = {}  # ACF key -> settings, with "active" and the kind
    if site.has_rows(*_STORAGE):
        for post_id, post_type, key, status, content in site.session.query(
            f"SELECT ID, post_type, post_name, post_status, post_content FROM {site.table('posts')}"
            " WHERE post_type IN ('acf-post-type', 'acf-taxonomy')"
            " AND post_status IN ('publish', 'acf-disabled') ORDER BY menu_order, post_title, ID"
        ):
            settings = unserialize(content, f"ACF {text(post_type)} definition", site.warnings)
            if isinstance(settings, dict):
                settings = dict(settings, active=text(status) == "publish", _kind=_STORAGE[text(post_type)])
                definitions[text(key) or f"#{post_id}"] = settings
    for key, settings in _local_json(site).items():
        merged = dict(definitions.get(key, {"active": True}))
        merged.update(settings)
        definitions[key] = merged

    for kind in (TAXONOMIES, POST_TYPES):
        for settings in definitions.values():
            if settings.get("_kind") != kind or not php_truthy(settings.get("active", True)):
                continue
            slug = text(settings.get(_SLUG_KEY[kind])).strip()
            if not valid_slug(kind, slug) or slug in site.registered.kind(kind):
                continue
            args = dict(settings)
            args["public"] = settings.get("public", True)  # ACF's default, unlike WordPress's
            args.pop("label", None)  # ACF passes labels only
            found.kind(kind)[slug] = from_args(kind, args, NAME)
    return found


def _local_json(site: SiteContext) -> Dict[str, dict]:
    """Definitions in the active theme's ``acf-json/`` (ACF's default load path)."""
    themes = site.themes
    if themes is None or themes.stylesheet is None:
        return {}
    found: Dict[str, dict] = {}
    for path in top_level_files(themes.stylesheet / "acf-json", ".json"):
        data = read_file(path)
        if data is None:
            continue
        try:
            settings = json.loads(data, parse_constant=lambda _: None)
        except (ValueError, RecursionError):
            site.warnings.append(f"ignored ACF Local JSON file {path.name}: not valid JSON")
            continue
        if not isinstance(settings, dict):
            continue
        key = text(settings.get("key"))
        kind = next((k for prefix, k in _KEY_PREFIX.items() if key.startswith(prefix)), None)
        if kind is not None:
            found[key] = dict(settings, _kind=kind)
    return found
