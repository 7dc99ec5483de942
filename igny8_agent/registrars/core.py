"""WordPress core: the types ``create_initial_post_types()`` and
``create_initial_taxonomies()`` register on every request (6.x labels)."""

from __future__ import annotations

from igny8_agent.registrars import Found, Known, SiteContext

NAME = "core"
PLUGINS = ()
OPTIONS = ("home", "siteurl", "active_plugins", "stylesheet", "template", "stylesheet_root", "template_root")

POST_TYPES = {
    "post": Known("Posts", True),
    "page": Known("Pages", True),
    "attachment": Known("Media", True),
    "revision": Known("Revisions", False),
    "nav_menu_item": Known("Navigation Menu Items", False),
    "custom_css": Known("Custom CSS", False),
    "customize_changeset": Known("Changesets", False),
    "oembed_cache": Known("oEmbed Responses", False),
    "user_request": Known("User Requests", False),
    "wp_block": Known("Patterns", False),
    "wp_template": Known("Templates", False),
    "wp_template_part": Known("Template Parts", False),
    "wp_global_styles": Known("Global Styles", False),
    "wp_navigation": Known("Navigation Menus", False),
    "wp_font_family": Known("Font Families", False),
    "wp_font_face": Known("Font Faces", False),
}

TAXONOMIES = {
    "category": Known("Categories", True),
    "post_tag": Known("Tags", True),
    "nav_menu": Known("Navigation Menus", False),
    "link_category": Known("Link Categories", False),
    "post_format": Known("Formats", True),
    "wp_theme": Known("Themes", False),
    "wp_template_part_area": Known("Template Part Areas", False),
    "wp_pattern_category": Known("Pattern Categories", False),
}


def register(site: SiteContext) -> Found:
    return Found(dict(POST_TYPES), dict(TAXONOMIES))
