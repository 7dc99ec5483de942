"""Polylang (and Polylang Pro): languages and translation groups are terms of
its own taxonomies, none of them public. Polylang adds no content type, and
counts over all languages are what WordPress's admin reports, so the table
counts stand as they are."""

from __future__ import annotations

from igny8_agent.registrars import Found, Known, SiteContext

NAME = "polylang"
PLUGINS = ("polylang/polylang.php", "polylang-pro/polylang.php")
OPTIONS = ()


def register(site: SiteContext) -> Found:
    return Found(
        {},
        {
            "language": Known("Languages", False, NAME),
            "term_language": Known("Term Languages", False, NAME),
            "post_translations": Known("Post Translations", False, NAME),
            "term_translations": Known("Term Translations", False, NAME),
        },
    )
