"""The active theme (child and parent) and the mu-plugins: types registered
in their PHP, read by the static scan in :mod:`igny8_agent.phpscan`.

They load after the plugins, so their registrations come last. A call whose
``public`` flag cannot be read is not guessed: it is left out with a note
(``structure --leftovers`` shows the notes), and the include list can add
the type.
"""

from __future__ import annotations

import re

from igny8_agent.registrars import POST_TYPES, Found, Known, SiteContext, from_args, valid_slug

NAME = "theme"
PLUGINS = ()
OPTIONS = ()


def register(site: SiteContext) -> Found:
    found = Found()
    if site.files is None:
        return found
    from igny8_agent.phpeval import UNKNOWN

    code = site.code
    for reg in code.registrations:
        slug = reg.slug
        if reg.kind == POST_TYPES:
            slug = re.sub(r"[^a-z0-9_\-]", "", slug.lower())  # register_post_type()'s sanitize_key()
        if not valid_slug(reg.kind, slug):
            code.notes.append(f"{reg.where}: {slug!r} is not a slug WordPress accepts")
            continue
        args = reg.args if isinstance(reg.args, dict) else None
        if args is None or args.get("public") is UNKNOWN:
            code.notes.append(f"{reg.where}: whether {slug!r} is public cannot be read without PHP")
            continue
        known = from_args(reg.kind, _known_parts(args, UNKNOWN), reg.source)
        if known.label == "" or _label_unknown(args, UNKNOWN):
            known = Known(_words(slug), known.public, reg.source)
            code.notes.append(f"{reg.where}: the label of {slug!r} cannot be read without PHP")
        found.kind(reg.kind)[slug] = known
    return found


def _known_parts(args: dict, UNKNOWN: object) -> dict:
    """The arguments with unreadable values dropped (WordPress's default then applies)."""
    out = {k: v for k, v in args.items() if v is not UNKNOWN}
    if isinstance(out.get("labels"), dict):
        out["labels"] = {k: v for k, v in out["labels"].items() if v is not UNKNOWN}
    return out


def _label_unknown(args: dict, UNKNOWN: object) -> bool:
    labels = args.get("labels")
    name = labels.get("name") if isinstance(labels, dict) else None
    return labels is UNKNOWN or name is UNKNOWN or (name is None and args.get("label") is UNKNOWN)


def _words(slug: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in slug.replace("-", " ").replace("_", " ").split()) or slug
