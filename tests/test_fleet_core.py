"""The pieces a run over many sites is built of: the network's subsites,
one snapshot per site on a shared connection, the account's sites by URL,
the worst exit code, and the file work done once per run instead of once
per site. (The runs themselves, end to end: tests/test_fleet.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from igny8_agent import files, wpconfig
from igny8_agent.cli import worst_exit
from igny8_agent.database import DbSettings, ReadOnlySession
from igny8_agent.matching import SiteIndex
from igny8_agent.multisite import Network, Subsite

from conftest import DB_HOST, DB_PASSWORD, DB_PORT, DB_USER


def _network(*rows):
    return Network([Subsite(blog_id, domain, path, not why, why) for blog_id, domain, path, why in rows])


def test_a_subdirectory_network_names_a_subsite_by_its_first_path_segment():
    net = _network((1, "net.test", "/", ""), (2, "net.test", "/shop/", ""), (3, "net.test", "/blog/", ""))
    assert net.find("https://net.test/shop/cart/").blog_id == 2
    assert net.find("http://www.NET.test/blog").blog_id == 3
    assert net.find("https://net.test/").blog_id == 1
    assert net.find("https://net.test/shopx/") is None  # a mistyped subsite is not the main site
    assert net.find("https://other.test/shop/") is None


def test_a_subdomain_network_names_a_subsite_by_its_host_alone():
    net = _network((1, "net.test", "/", ""), (2, "shop.net.test", "/", ""))
    assert net.find("https://shop.net.test/any/page/").blog_id == 2
    assert net.find("https://net.test/shop/").blog_id == 1


def test_archived_deleted_and_spam_subsites_are_found_only_when_asked_for():
    net = _network((1, "net.test", "/", ""), (2, "net.test", "/old/", "archived"), (3, "net.test", "/x/", "spam"))
    assert [s.blog_id for s in net.served()] == [1]
    assert net.find("https://net.test/old/") is None
    found = net.find("https://net.test/old/", served_only=False)
    assert (found.blog_id, found.served, found.why_not) == (2, False, "archived")


def test_the_account_sites_are_found_by_url_as_the_contract_compares_them():
    index = SiteIndex([{"id": 1, "url": "https://www.Example.com/"}, {"id": 2, "url": "http://example.com/shop"},
                       {"id": 3, "url": "https://example.com/shop/"}, "junk", {"url": "no id"}])
    assert [s["id"] for s in index.matching("http://example.com")] == [1]
    assert [s["id"] for s in index.matching("https://EXAMPLE.com/shop/")] == [2, 3]
    assert index.matching("https://example.com/blog") == []
    assert [s["id"] for s in index.with_id(3)] == [3]


@pytest.mark.parametrize("codes, worst", [
    ([], 0), ([0, 0], 0), ([0, 7, 6], 6), ([6, 4], 4), ([4, 5], 5), ([5, 3], 3), ([3, 1], 1), ([1, 130, 0], 130),
])
def test_a_run_over_many_sites_exits_with_the_worst_code(codes, worst):
    assert worst_exit(codes) == worst


def test_each_site_gets_its_own_snapshot_on_one_shared_connection(wpdb):
    """Rows added between two sites' reads are seen by the second site, not
    the first; and the connection is the same one throughout."""
    session = ReadOnlySession(DbSettings(name=wpdb.name, user=DB_USER, password=DB_PASSWORD, host=DB_HOST,
                                         port=DB_PORT))
    table = wpdb.table("posts")
    try:
        with session.snapshot():
            first = session.query(f"SELECT COUNT(*) FROM {table}")[0][0]
            thread_id = session.query("SELECT CONNECTION_ID()")[0][0]
            wpdb.add_posts("post", "publish", 3)
            assert session.query(f"SELECT COUNT(*) FROM {table}")[0][0] == first  # its own snapshot
        with session.snapshot():
            assert session.query(f"SELECT COUNT(*) FROM {table}")[0][0] == first + 3
            assert session.query("SELECT CONNECTION_ID()")[0][0] == thread_id
            with pytest.raises(Exception):
                session.query(f"DELETE FROM {table}")  # still a read-only transaction
    finally:
        session.close()
    assert wpdb.query(f"SELECT COUNT(*) FROM {table}")[0][0] == first + 3


def test_a_sweep_removes_every_dead_writers_temp_file_and_keeps_a_live_ones(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    try:
        kept = [f".a.state.json.{live.pid}-x1.tmp", "b.state.json", "c.tmp", ".hidden"]
        gone = [f".a.state.json.{dead.pid}-x2.tmp", f".b.toml.{dead.pid}-x3.tmp", ".c.toml.abc.tmp"]
        for name in kept + gone:
            (tmp_path / name).write_text("x")
        files.sweep_stale_temp_files(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    finally:
        live.kill()
        live.wait(timeout=30)


def test_deferred_directory_syncs_happen_once_per_directory_at_the_end(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(files, "_fsync_dir", lambda folder: synced.append(folder))
    with files.directory_syncs_deferred():
        for i in range(5):
            files.write_atomic(tmp_path / f"s{i}.json", b"{}")
        assert synced == []
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"s{i}.json" for i in range(5)]  # whole, already
    assert synced == [tmp_path]
    files.write_atomic(tmp_path / "after.json", b"{}")
    assert synced == [tmp_path, tmp_path]  # outside a run: at once, as before


def test_a_run_reads_one_wp_config_once_and_a_changed_environment_again(tmp_path, monkeypatch):
    config = tmp_path / "wp-config.php"
    config.write_text("<?php define('DB_NAME', getenv('THE_DB') ?: 'wp'); $table_prefix = 'wp_';")
    walks = []
    real = wpconfig._walk_uncached
    monkeypatch.setattr(wpconfig, "_walk_uncached", lambda *a: walks.append(a) or real(*a))
    env = {"THE_DB": "one"}
    with wpconfig.remember_walks():
        assert wpconfig.read_wp_config(config, env).constants["DB_NAME"] == "one"
        assert wpconfig.read_wp_config(config, dict(env)).constants["DB_NAME"] == "one"
        assert len(walks) == 1
        assert wpconfig.read_wp_config(config, {"THE_DB": "two"}).constants["DB_NAME"] == "two"
        assert len(walks) == 2
    wpconfig.read_wp_config(config, env)
    assert len(walks) == 3  # outside a run nothing is remembered


def test_a_networks_activated_plugins_are_read_once_per_run_and_count_for_every_subsite(make_wpdb):
    from conftest import php_serialize
    from igny8_agent.wordpress import read_site

    db = make_wpdb(multisite=True)
    db.install("http://net.test", plugins=["hello.php"])
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'net.test', '/', NOW(), NOW())")
    for blog_id in (2, 3):
        db.add_subsite(blog_id, "net.test", f"/s{blog_id}/")
    db.execute("INSERT INTO wp_sitemeta (site_id, meta_key, meta_value) VALUES (1, 'active_sitewide_plugins', %s)",
               (php_serialize({"woocommerce/woocommerce.php": 1700000000}),))
    session = ReadOnlySession(DbSettings(name=db.name, user=DB_USER, password=DB_PASSWORD, host=DB_HOST, port=DB_PORT))
    asked = []
    query = session.query
    session.query = lambda sql, args=(): asked.append(sql) or query(sql, args)
    memo: dict = {}
    try:
        for blog_id in (2, 3):
            with session.snapshot():
                facts = read_site(session, "wp_", multisite=True, blog_id=blog_id, network_plugins=memo)
            assert "woocommerce/woocommerce.php" in facts.active_plugins and facts.blog_id == blog_id
    finally:
        session.close()
    assert sum("active_sitewide_plugins" in sql for sql in asked) == 1
