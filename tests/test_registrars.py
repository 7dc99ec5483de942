"""What the agent lists on sites WordPress built with real plugins, a theme
that registers types in PHP, and leftovers of deactivated plugins — checked
against WordPress's own answers (tests/fixtures/real-plugins)."""

from __future__ import annotations

import json
from typing import Dict

import pytest

import real_plugins
from conftest import run_agent, write_wp_config
from igny8_agent import registrars


def structure(root, env, *extra) -> Dict:
    result = run_agent("structure", "--path", str(root), "--format", "json", *extra, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", real_plugins.NAMES)
def test_listed_types_labels_and_counts_equal_wordpress_answers(name, real_plugin_site, agent_env):
    body = structure(real_plugin_site(name), agent_env)
    expected = real_plugins.expected_structure(name)
    for kind in real_plugins.KINDS:
        got = {slug: (entry["label"], entry["count"]) for slug, entry in body[kind].items()}
        assert got == expected[kind], kind


@pytest.mark.parametrize("name", real_plugins.NAMES)
def test_types_nothing_registers_are_reported_as_leftovers_and_not_listed(name, real_plugin_site, agent_env):
    body = structure(real_plugin_site(name), agent_env, "--leftovers")
    for kind, slugs in real_plugins.db_only(name).items():
        for slug in slugs:
            assert slug not in body[kind]
            assert slug in body["leftovers"][kind]


def test_a_leftover_on_the_include_list_is_listed(real_plugin_site, agent_env):
    root = real_plugin_site("fx_leftovers")
    result = run_agent("config", "type", "trail_guide", "--post-type", "--list", "include", "--path", str(root),
                       env=agent_env)
    assert result.returncode == 0, result.stderr
    body = structure(root, agent_env)
    assert body["post_types"]["trail_guide"]["count"] == 3
    assert body["post_types"]["trail_guide"]["label"] == "Trail Guide"


def test_every_source_has_the_registrar_shape():
    for source in registrars.SOURCES:
        assert isinstance(source.NAME, str) and source.NAME
        assert isinstance(source.PLUGINS, tuple) and all("/" in p for p in source.PLUGINS)
        assert isinstance(source.OPTIONS, tuple)
        assert callable(source.register)


@pytest.mark.parametrize("plugin, active", [
    ("pods/init.php", True),
    ("pods-3.2.8/init.php", True),  # unpacked from a release zip
    ("podsx/init.php", False),
    ("pods/other.php", False),
])
def test_a_plugin_is_recognised_by_its_folder_and_main_file(plugin, active):
    assert registrars.plugin_active(("pods/init.php",), frozenset({plugin})) is active


# -- The Events Calendar (no WordPress-made fixture: rows as TEC stores them) ----

TEC = "the-events-calendar/the-events-calendar.php"
TEC_PRO = "events-calendar-pro/events-calendar-pro.php"


def test_events_calendar_lists_events_and_categories_but_venues_only_with_pro(wpdb, tmp_path, agent_env):
    wpdb.set_option("active_plugins", [TEC])
    wpdb.add_posts("tribe_events", "publish", 3)
    wpdb.add_posts("tribe_venue", "publish", 2)
    wpdb.add_posts("tribe-ea-record", "tribe-ea-success", 1)
    wpdb.add_term("tribe_events_cat", "Concerts")
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    body = structure(root, agent_env, "--leftovers")
    assert body["post_types"]["tribe_events"] == {"label": "Events", "count": 3, "enabled": False, "fetch_limit": 100}
    assert body["taxonomies"]["tribe_events_cat"]["label"] == "Event Categories"
    assert "tribe_venue" not in body["post_types"] and "tribe_venue" not in body["leftovers"]["post_types"]

    wpdb.set_option("active_plugins", [TEC, TEC_PRO])
    assert structure(root, agent_env)["post_types"]["tribe_venue"]["label"] == "Venues"

    wpdb.set_option("active_plugins", [])
    body = structure(root, agent_env, "--leftovers")
    assert "tribe_events" not in body["post_types"] and body["leftovers"]["post_types"]["tribe_events"] == 3


def test_a_network_activated_plugin_registers_on_every_subsite(make_wpdb, tmp_path, agent_env):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.add_subsite(2, "network.test", "/shop/")
    db.add_posts("forum", "publish", 2, blog_id=2)
    db.execute("INSERT INTO wp_sitemeta (site_id, meta_key, meta_value) VALUES (1, 'active_sitewide_plugins', %s)",
               ('a:1:{s:19:"bbpress/bbpress.php";i:1700000000;}',))
    root = write_wp_config(tmp_path / "wp", db.name, extra="define('MULTISITE', true);")
    body = structure(root, agent_env, "--url", "https://network.test/shop/")
    assert body["post_types"]["forum"] == {"label": "Forums", "count": 2, "enabled": False, "fetch_limit": 100}


@pytest.mark.parametrize("url", ["https://network.test/typo/", "https://elsewhere.test/shop/", "https://shop.network.test/"])
def test_a_url_that_names_no_subsite_is_a_configuration_error(make_wpdb, tmp_path, agent_env, url):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.add_subsite(2, "network.test", "/shop/")
    root = write_wp_config(tmp_path / "wp", db.name, extra="define('MULTISITE', true);")
    result = run_agent("structure", "--path", str(root), "--url", url, "--format", "json", env=agent_env)
    assert result.returncode == 3, result.stdout
    assert "no site of this multisite network" in result.stderr and "Traceback" not in result.stderr
