"""WooCommerce (``WC_Post_Types``): products and their taxonomies, orders and
coupons (never public), and one ``pa_<name>`` taxonomy per product attribute
in ``{prefix}woocommerce_attribute_taxonomies``, public per
``attribute_public`` and labelled "Product <label>"."""

from __future__ import annotations

from igny8_agent.database import NoSuchTable
from igny8_agent.registrars import Found, Known, SiteContext, label_text, php_truthy, text

NAME = "woocommerce"
PLUGINS = ("woocommerce/woocommerce.php",)
OPTIONS = ()

POST_TYPES = {
    "product": Known("Products", True, NAME),
    "product_variation": Known("Variations", False, NAME),
    "shop_order": Known("Orders", False, NAME),
    "shop_order_refund": Known("Refunds", False, NAME),
    "shop_order_placehold": Known("Orders", False, NAME),
    "shop_coupon": Known("Coupons", False, NAME),
}

TAXONOMIES = {
    "product_type": Known("Product type", False, NAME),
    "product_visibility": Known("Product visibility", False, NAME),
    "product_cat": Known("Product categories", True, NAME),
    "product_tag": Known("Product tags", True, NAME),
    "product_shipping_class": Known("Product shipping classes", True, NAME),
}


def register(site: SiteContext) -> Found:
    found = Found(dict(POST_TYPES), dict(TAXONOMIES))
    # Asked directly, not through information_schema, which hides a table the
    # user may not read: that is an error (AccessDenied), not "no attributes".
    try:
        rows = site.session.query(
            "SELECT attribute_name, attribute_label, attribute_public FROM "
            + site.table("woocommerce_attribute_taxonomies")
        )
    except NoSuchTable:
        return found  # WooCommerce never created its table here
    for name, label, public in rows:
        name = text(name)
        found.taxonomies["pa_" + name] = Known(
            "Product " + (label_text(label) or name), php_truthy(text(public)), NAME
        )
    return found
