"""Pods 2.x/3.x: each pod is a post of type ``_pods_pod`` (``post_name`` the
slug, ``post_title`` the plural label) with its settings in postmeta.

As ``PodsInit::setup_content_types()`` does it: only pods of ``type``
``post_type`` or ``taxonomy`` (the default is ``post_type``) in status
``publish`` or ``draft`` are registered; a pod named like a type already
registered extends that type instead; ``public`` defaults to true; the label
is ``post_title``, else the slug in words. Advanced Content Types
(``type`` ``pod``, their own table) and settings pages are not WordPress types.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict

from igny8_agent.registrars import (
    POST_TYPES, TAXONOMIES, Found, Known, SiteContext, label_text, php_truthy, text, valid_slug,
)

NAME = "pods"
PLUGINS = ("pods/init.php",)
OPTIONS = ()

INTERNAL = {
    "_pods_pod": Known("Pods", False, NAME),
    "_pods_group": Known("Pod Groups", False, NAME),
    "_pods_field": Known("Pod Fields", False, NAME),
    "_pods_template": Known("Pod Templates", False, NAME),
    "_pods_page": Known("Pod Pages", False, NAME),
}
_KINDS = {"post_type": POST_TYPES, "taxonomy": TAXONOMIES}


def register(site: SiteContext) -> Found:
    found = Found(dict(INTERNAL))
    if not site.has_rows("_pods_pod"):
        return found
    pods: Dict[int, dict] = defaultdict(dict)
    for pod_id, slug, title, key, value in site.session.query(
        f"SELECT p.ID, p.post_name, p.post_title, m.meta_key, m.meta_value FROM {site.table('posts')} p"
        f" LEFT JOIN {site.table('postmeta')} m ON m.post_id = p.ID AND m.meta_key IN ('type', 'public')"
        " WHERE p.post_type = '_pods_pod' AND p.post_status IN ('publish', 'draft')"
        " ORDER BY p.menu_order, p.post_title, p.ID"
    ):
        pod = pods[int(pod_id)]
        pod.setdefault("name", text(slug).strip())
        pod.setdefault("label", label_text(title))
        if key is not None and text(value) != "":  # Pods skips empty meta values
            pod[text(key)] = text(value)

    for kind in (TAXONOMIES, POST_TYPES):  # Pods registers its taxonomies first
        for pod in pods.values():
            slug = pod["name"]
            if _KINDS.get(pod.get("type", "post_type")) != kind or not valid_slug(kind, slug):
                continue
            if slug in site.registered.kind(kind):
                continue  # extends an existing type: nothing new is registered
            label = pod["label"] or " ".join(w[:1].upper() + w[1:] for w in slug.replace("_", " ").split())
            public = php_truthy(pod["public"]) if "public" in pod else True
            found.kind(kind)[slug] = Known(label, public, NAME)
    return found
