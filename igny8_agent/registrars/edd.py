"""Easy Digital Downloads 3.x (``includes/post-types.php``): downloads and
their categories and tags. Orders, customers and discounts live in EDD's own
tables; the ``edd_payment`` / ``edd_discount`` / ``edd_log`` post types of
EDD 2 are registered, non-public, only while their rows may still exist."""

from __future__ import annotations

from igny8_agent.registrars import Found, Known, SiteContext

NAME = "easy-digital-downloads"
PLUGINS = (
    "easy-digital-downloads/easy-digital-downloads.php",
    "easy-digital-downloads-pro/easy-digital-downloads.php",
)
OPTIONS = ()


def register(site: SiteContext) -> Found:
    # The labels come from edd_get_label_plural()/_singular(): "Downloads" and
    # "Download Categories"/"Download Tags" unless a PHP filter renames them.
    found = Found(
        {"download": Known("Downloads", True, NAME)},
        {
            "download_category": Known("Download Categories", True, NAME),
            "download_tag": Known("Download Tags", True, NAME),
        },
    )
    for legacy, label in (("edd_payment", "Payments"), ("edd_discount", "Discounts"), ("edd_log", "Logs")):
        if site.has_rows(legacy):
            found.post_types[legacy] = Known(label, False, NAME)
    return found
