"""Custom Post Type UI 1.x: every definition lives in two options,
``cptui_post_types`` and ``cptui_taxonomies`` (serialized arrays keyed by
slug), and is registered on ``init``.

As ``cptui_register_single_post_type()`` / ``_taxonomy()`` compute it:
``labels->name`` is the ``label`` entry, replaced by a non-empty
``labels['name']``; flags are the strings "true"/"false" read by
``get_disp_boolean()``. A missing ``public`` means false for a post type and
true for a taxonomy. CPT UI has no "inactive" flag: a definition is switched
off only by the PHP filters ``cptui_disable_{slug}_cpt`` / ``_tax`` or
``cptui_disable_cpt`` / ``cptui_disable_tax``, which the code scan finds in
the theme and mu-plugins.
"""

from __future__ import annotations

from igny8_agent.registrars import (
    POST_TYPES, TAXONOMIES, Found, Known, SiteContext, label_text, php_truthy, text, valid_slug,
)

NAME = "custom-post-type-ui"
PLUGINS = ("custom-post-type-ui/custom-post-type-ui.php",)
OPTIONS = ("cptui_post_types", "cptui_taxonomies")

_HOOK = {POST_TYPES: "cpt", TAXONOMIES: "tax"}


def register(site: SiteContext) -> Found:
    found = Found()
    for kind, option in ((TAXONOMIES, "cptui_taxonomies"), (POST_TYPES, "cptui_post_types")):
        definitions = site.option_value(option)
        if not isinstance(definitions, dict):
            continue
        for key, definition in definitions.items():
            if not isinstance(definition, dict):
                continue
            slug = text(definition.get("name", key)).strip()
            if not valid_slug(kind, slug) or _switched_off(site, kind, slug):
                continue
            found.kind(kind)[slug] = Known(_label(definition), _public(kind, definition.get("public")), NAME)
    return found


def _label(definition: dict) -> str:
    labels = definition.get("labels")
    if isinstance(labels, dict) and php_truthy(labels.get("name")):
        return label_text(labels["name"])
    return label_text(definition.get("label"))


def get_disp_boolean(value: object) -> bool:
    """CPT UI's own reading of its "true"/"false" strings."""
    return text(value) not in ("", "0", "false")


def _public(kind: str, value: object) -> bool:
    if kind == TAXONOMIES:
        return not (php_truthy(value) and not get_disp_boolean(value))
    return get_disp_boolean(value)


def _switched_off(site: SiteContext, kind: str, slug: str) -> bool:
    suffix = _HOOK[kind]
    code = site.code
    return code.filter_returns_true(f"cptui_disable_{slug}_{suffix}") or slug in code.slugs_matched_by(
        f"cptui_disable_{suffix}"
    )
