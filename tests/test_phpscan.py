"""The static scan of theme and mu-plugin PHP for register_post_type() /
register_taxonomy() calls and CPT UI's switch filters."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

from igny8_agent.phpscan import UNKNOWN, scan_code
from igny8_agent.registrars import Found, SiteContext, theme
from igny8_agent.sitefiles import SiteFiles


def make_site(tmp_path: Path, files: Dict[str, str], child: str = "") -> SiteFiles:
    for rel, text in files.items():
        path = tmp_path / "wp-content" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "wp-content" / "themes" / "parent").mkdir(parents=True, exist_ok=True)
    return SiteFiles.of(tmp_path, {})


def registered(tmp_path: Path, files: Dict[str, str], mods=None, child: str = "") -> Found:
    site_files = make_site(tmp_path, files)
    context = SiteContext(
        session=None, prefix="wp_", post_type_counts={}, taxonomy_counts={}, active_plugins=frozenset(),
        files=site_files,
        options={"stylesheet": child or "parent", "template": "parent"},
    )
    context._code = scan_code(site_files, context.themes, mods or {}, context.warnings)
    return theme.register(context), context


def test_a_literal_call_in_a_hooked_closure_is_read_with_its_label_and_public_flag(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/functions.php": """<?php
add_action('init', function () {
    register_post_type('vessel', array('labels' => array('name' => 'Vessels'), 'public' => true));
    register_taxonomy('berth', 'vessel', ['label' => __('Berths', 'td'), 'public' => false]);
});"""})
    assert found.post_types["vessel"].label == "Vessels" and found.post_types["vessel"].public
    assert found.taxonomies["berth"] == ("Berths", False, "theme")


def test_wordpress_defaults_apply_to_missing_arguments(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/functions.php": """<?php
register_post_type('plain');
register_taxonomy('tagged', 'post');
register_taxonomy('nested', 'post', array('hierarchical' => true));"""})
    assert found.post_types["plain"] == ("Posts", False, "theme")  # post types: not public by default
    assert found.taxonomies["tagged"] == ("Tags", True, "theme")  # taxonomies: public by default
    assert found.taxonomies["nested"].label == "Categories"


def test_a_helper_function_is_read_once_per_call_with_its_default_parameters(tmp_path):
    found, _ = registered(tmp_path, {
        "themes/parent/inc/helpers.php": """<?php
function my_type( $slug, $plural, $public = true ) {
    register_post_type( $slug, array( 'labels' => array( 'name' => $plural ), 'public' => $public ) );
}""",
        "themes/parent/functions.php": """<?php
require __DIR__ . '/inc/helpers.php';
add_action('init', function () {
    my_type( 'event', __( 'Events', 'td' ) );
    my_type( 'slot', _x( 'Slots', 'post type', 'td' ), false );
});"""})
    assert found.post_types["event"] == ("Events", True, "theme")
    assert found.post_types["slot"] == ("Slots", False, "theme")


def test_local_variables_assigned_before_the_call_are_used(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/functions.php": """<?php
add_action('init', function () {
    $labels = array( 'name' => _x( 'Regattas', 'general name', 'td' ) );
    $args = [ 'labels' => $labels, 'public' => true ];
    register_post_type( 'regatta', $args );
});"""})
    assert found.post_types["regatta"] == ("Regattas", True, "theme")


def test_theme_mod_conditions_and_early_returns_are_decided(tmp_path):
    code = """<?php
function optional_types() {
    if ( get_theme_mod( 'ferries', false ) ) {
        register_post_type( 'ferry', array( 'label' => 'Ferries', 'public' => true ) );
    } else {
        register_post_type( 'no_ferry', array( 'label' => 'No Ferries', 'public' => true ) );
    }
    if ( get_theme_mod( 'cruises' ) ) {
        register_post_type( 'cruise', array( 'label' => 'Cruises', 'public' => true ) );
    }
}
add_action( 'init', 'optional_types' );
function late() {
    if ( ! get_theme_mod( 'late', true ) ) { return; }
    register_post_type( 'late_type', array( 'label' => 'Late', 'public' => true ) );
}
add_action( 'init', 'late' );"""
    found, _ = registered(tmp_path / "a", {"themes/parent/functions.php": code}, mods={"ferries": True, "cruises": False})
    assert set(found.post_types) == {"ferry", "late_type"}
    found, _ = registered(tmp_path / "b", {"themes/parent/functions.php": code}, mods={"late": False})
    assert set(found.post_types) == {"no_ferry"}


def test_a_condition_that_cannot_be_decided_is_assumed_true(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/functions.php": """<?php
if ( class_exists( 'Something' ) ) {
    register_post_type( 'guarded', array( 'label' => 'Guarded', 'public' => true ) );
}"""})
    assert "guarded" in found.post_types


def test_a_function_nothing_calls_or_hooks_registers_nothing(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/functions.php": """<?php
function never_hooked() { register_post_type( 'ghost', array( 'label' => 'Ghosts', 'public' => true ) ); }"""})
    assert "ghost" not in found.post_types


def test_an_unreadable_public_flag_is_not_guessed_but_noted(tmp_path):
    found, context = registered(tmp_path, {"themes/parent/functions.php": """<?php
register_post_type( 'mystery', array( 'label' => 'Mystery', 'public' => get_option( 'x' ) ) );
register_post_type( 'unlabelled', array( 'labels' => some_labels(), 'public' => true ) );"""})
    assert "mystery" not in found.post_types
    assert any("mystery" in note for note in context.code.notes)
    assert found.post_types["unlabelled"].label == "Unlabelled"


def test_text_outside_php_tags_comments_and_strings_are_not_code(tmp_path):
    found, _ = registered(tmp_path, {"themes/parent/single.php": """<h1>register_post_type('html', array('public' => true));</h1>
<?php /* register_post_type('commented', array('public' => true)); */
// register_post_type('line', array('public' => true));
echo "register_post_type('quoted', array('public' => true))"; ?>
register_post_type('after', array('public' => true));"""})
    assert found.post_types == {}


def test_vendor_node_modules_big_files_and_symlinks_are_skipped(tmp_path):
    call = "<?php register_post_type('{0}', array('label' => 'X', 'public' => true));"
    files = {
        "themes/parent/vendor/lib/a.php": call.format("vendored"),
        "themes/parent/node_modules/b.php": call.format("noded"),
        "themes/parent/big.php": call.format("big") + " " * (1024 * 1024),
        "themes/parent/ok.php": call.format("ok"),
    }
    outside = tmp_path / "outside.php"
    outside.write_text(call.format("linked"))
    make_site(tmp_path, files)
    os.symlink(outside, tmp_path / "wp-content" / "themes" / "parent" / "link.php")
    os.mkfifo(tmp_path / "wp-content" / "themes" / "parent" / "fifo.php")
    found, _ = registered(tmp_path, {})
    assert set(found.post_types) == {"ok"}


def test_the_child_theme_and_mu_plugins_are_scanned_and_an_inactive_theme_is_not(tmp_path):
    call = "<?php register_post_type('{0}', array('label' => 'X', 'public' => true));"
    found, _ = registered(tmp_path, {
        "themes/parent/functions.php": call.format("from_parent"),
        "themes/child/functions.php": call.format("from_child"),
        "themes/other/functions.php": call.format("from_other"),
        "mu-plugins/site.php": call.format("from_mu"),
        "mu-plugins/sub/nested.php": call.format("not_loaded"),  # WordPress loads only the top level
    }, child="child")
    assert set(found.post_types) == {"from_parent", "from_child", "from_mu"}
    assert found.post_types["from_mu"].source == "mu-plugin"


def test_cptui_switch_filters_are_found(tmp_path):
    _, context = registered(tmp_path, {"mu-plugins/off.php": """<?php
add_filter( 'cptui_disable_closure_reason_tax', '__return_true' );
add_filter( 'cptui_disable_cpt', function ( $off, $post_type ) {
    return ( isset( $post_type['name'] ) && 'seasonal' === $post_type['name'] ) ? true : $off;
}, 10, 2 );"""})
    assert context.code.filter_returns_true("cptui_disable_closure_reason_tax")
    assert context.code.slugs_matched_by("cptui_disable_cpt") == {"seasonal"}
    assert not context.code.filter_returns_true("cptui_disable_other_tax")


def test_unknown_is_a_single_marker():
    assert repr(UNKNOWN) == "UNKNOWN"
