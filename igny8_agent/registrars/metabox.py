"""MB Custom Post Types & Custom Taxonomies (Meta Box), also bundled in Meta
Box Lite and Meta Box AIO: each definition is a post of type
``mb-post-type`` / ``mb-taxonomy`` whose ``post_content`` is the JSON of the
``register_post_type()`` / ``register_taxonomy()`` arguments plus ``slug``.
Only published definitions are registered (a draft is switched off); labels
are stored unescaped; missing flags take WordPress's defaults."""

from __future__ import annotations

import json

from igny8_agent.registrars import POST_TYPES, TAXONOMIES, Found, Known, SiteContext, from_args, text, valid_slug

NAME = "mb-custom-post-type"
PLUGINS = (
    "mb-custom-post-type/mb-custom-post-type.php",
    "meta-box-lite/meta-box-lite.php",
    "meta-box-aio/meta-box-aio.php",
)
OPTIONS = ()
MAX_DEFINITION = 256 * 1024  # bytes of JSON in one definition


def register(site: SiteContext) -> Found:
    found = Found({"mb-post-type": Known("Post Types", False, NAME), "mb-taxonomy": Known("Taxonomies", False, NAME)})
    if not site.has_rows("mb-post-type", "mb-taxonomy"):
        return found
    rows = site.session.query(
        f"SELECT post_type, post_content FROM {site.table('posts')}"
        " WHERE post_type IN ('mb-taxonomy', 'mb-post-type') AND post_status = 'publish'"
        " ORDER BY post_type DESC, menu_order, post_date DESC, ID"
    )
    for post_type, content in rows:
        kind = POST_TYPES if text(post_type) == "mb-post-type" else TAXONOMIES
        args = _json(content)
        if args is None:
            site.warnings.append(f"ignored a Meta Box {text(post_type)} definition that is not valid JSON")
            continue
        slug = text(args.get("slug")).strip()
        if valid_slug(kind, slug):
            found.kind(kind)[slug] = from_args(kind, args, NAME)
    return found


def _json(content: object):
    raw = content if isinstance(content, (bytes, bytearray)) else text(content).encode()
    if len(raw) > MAX_DEFINITION:
        return None
    try:
        data = json.loads(raw, parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
