"""What WordPress and popular plugins register, known without running PHP.

The database holds rows, not registrations: it does not say which post types
are public or what they are called. This module is the knowledge that fills
the gap — WordPress core's own types and labels (``post.php``,
``taxonomy.php``), WooCommerce's, and well-known plugin types that are never
public (forms, builder templates, orders, logs, scheduled actions).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class Known(NamedTuple):
    label: str  # labels->name, as WordPress shows it
    public: bool
    plugin: str = ""  # "" for WordPress core, else the plugin's folder name


# -- WordPress core (6.x) --------------------------------------------------

CORE_POST_TYPES: Dict[str, Known] = {
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

CORE_TAXONOMIES: Dict[str, Known] = {
    "category": Known("Categories", True),
    "post_tag": Known("Tags", True),
    "nav_menu": Known("Navigation Menus", False),
    "link_category": Known("Link Categories", False),
    "post_format": Known("Formats", True),
    "wp_theme": Known("Themes", False),
    "wp_template_part_area": Known("Template Part Areas", False),
    "wp_pattern_category": Known("Pattern Categories", False),
}

# Left out of the payload by the contract even though WordPress calls them public.
EXCLUDED_BY_CONTRACT: Tuple[str, ...] = ("attachment", "post_format")

# -- WooCommerce -------------------------------------------------------------

WOOCOMMERCE = "woocommerce"

WOOCOMMERCE_POST_TYPES: Dict[str, Known] = {
    "product": Known("Products", True, WOOCOMMERCE),
    "product_variation": Known("Variations", False, WOOCOMMERCE),
    "shop_order": Known("Orders", False, WOOCOMMERCE),
    "shop_order_refund": Known("Refunds", False, WOOCOMMERCE),
    "shop_order_placehold": Known("Orders", False, WOOCOMMERCE),
    "shop_coupon": Known("Coupons", False, WOOCOMMERCE),
}

WOOCOMMERCE_TAXONOMIES: Dict[str, Known] = {
    "product_type": Known("Product type", False, WOOCOMMERCE),
    "product_visibility": Known("Product visibility", False, WOOCOMMERCE),
    "product_cat": Known("Product categories", True, WOOCOMMERCE),
    "product_tag": Known("Product tags", True, WOOCOMMERCE),
    "product_shipping_class": Known("Product shipping classes", True, WOOCOMMERCE),
}


def woocommerce_attribute_label(attribute_label: str) -> str:
    """WooCommerce names an attribute taxonomy "Product <label>"."""
    return f"Product {attribute_label}"


# -- Well-known plugin types that are never public content -----------------
# Forms, page-builder templates, orders, logs, scheduled actions and
# settings-as-posts. Listed so they never reach the payload as "unknown".

NON_PUBLIC_POST_TYPES = frozenset(
    {
        # Advanced Custom Fields
        "acf-field-group", "acf-field", "acf-post-type", "acf-taxonomy",
        "acf-ui-options-page",
        # forms
        "wpcf7_contact_form", "flamingo_contact", "flamingo_inbound",
        "flamingo_outbound", "wpforms", "wpforms_log", "wpforms-log",
        "nf_sub", "frm_form_actions", "frm_styles", "mc4wp-form",
        "gf_form", "feedback", "jetpack_migration",
        # page builders and theme templates
        "elementor_library", "elementor_snippet", "elementor_font",
        "elementor_icons", "e-floating-buttons", "fl-builder-template",
        "fl-theme-layout", "et_pb_layout", "et_template", "et_header_layout",
        "et_body_layout", "et_footer_layout", "et_theme_builder",
        "vc_grid_item", "templatera", "ct_template", "oxy_user_library",
        "brizy_template", "kadence_element", "kadence_form",
        "astra-advanced-hook", "generate_element", "wp_show_posts",
        "wpcode", "custom-css-js", "tablepress_table", "uagb-template",
        "spectra-popup", "blocksy_ct_template",
        # shops, orders, payments, subscriptions
        "shop_subscription", "shop_webhook", "scheduled-action",
        "edd_payment", "edd_log", "edd_discount", "edd_license",
        "edd_license_log", "jp_pay_order", "jp_pay_product",
        "wc_user_membership", "wc_membership_plan", "wc_voucher",
        "give_payment", "give_forms", "memberpressproduct",
        "mepr-transaction", "llms_order", "llms_transaction",
        # logs, queues, caches and settings stored as posts
        "wp_log", "wp_stream", "wflogs", "redirect_rule", "wpseo_redirect",
        "rank_math_schema", "mailpoet_page", "newsletter",
        "postman_sent_mail", "wpml_mail", "wp_mail_smtp", "cookielawinfo",
        "cmplz-dataleak", "cmplz-processing", "amp_validated_url",
        "jetpack-portfolio-feed", "sbi_feed", "wp-rest-api-log",
    }
)

NON_PUBLIC_TAXONOMIES = frozenset(
    {
        "elementor_library_type", "elementor_library_category",
        "elementor_font_type", "layout_category", "layout_pack",
        "layout_type", "scope", "module_width", "et_tb_item_type",
        "fl-builder-template-category", "fl-builder-template-type",
        "action-group", "edd_log_type", "amp_validation_error",
        "amp_template", "wpforms_form_tag", "give_forms_category",
        "translation_priority", "language", "post_translations",
        "term_language", "term_translations", "wp_stream_context",
        "mepr-product-category", "llms_access_plan_visibility",
    }
)


def label_from_slug(slug: str) -> str:
    """A readable label for a type nothing describes: ``my_books`` -> ``My Books``."""
    words = slug.replace("-", " ").replace("_", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or slug
