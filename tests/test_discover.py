"""`discover`: the WordPress installs under some directories, each with
whether this agent has it connected -- bounded in depth and time, never
following links, changing nothing.

The agent runs as a process with ROOT arguments inside tmp_path (never the
machine's /var/www); the connected case goes through a real `connect`
against the loopback contract server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_agent, write_wp_config
from igny8_agent import discover as discover_module
from igny8_agent.discover import discover, expand_roots

OTHER = 65534  # another user (nobody)


def core(root: Path, version: str = "6.5.2") -> Path:
    """WordPress's core files, without a wp-config.php."""
    (root / "wp-includes").mkdir(parents=True, exist_ok=True)
    (root / "wp-admin").mkdir(exist_ok=True)
    (root / "wp-content" / "plugins").mkdir(parents=True, exist_ok=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-load.php").write_text("<?php // core\n")
    (root / "wp-includes" / "version.php").write_text(
        "<?php\n/**\n * WordPress Version\n */\n"
        f"$wp_version = '{version}';\n$wp_db_version = 57155;\n$required_php_version = '7.0.0';\n")
    return root


def install(root: Path, version: str = "6.5.2", extra: str = "") -> Path:
    write_wp_config(core(root, version), "wp_unused", extra=extra)
    return root


def run_discover(*args: str, env=None) -> subprocess.CompletedProcess:
    return run_agent("discover", *args, env=env, timeout=60)


def found(result) -> dict:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def paths_of(data: dict) -> list:
    return [i["path"] for i in data["installs"]]


@pytest.fixture
def env(tmp_path):
    return {"IGNY8_CONFIG_DIR": str(tmp_path / "etc"), "IGNY8_STATE_DIR": str(tmp_path / "state")}


@pytest.fixture
def hosting(tmp_path):
    """A hosting tree: installs the walk must find and places it must not look."""
    www = tmp_path / "www"
    install(www / "shop", "6.5.2", extra="define( 'MULTISITE', true );")
    core(www / "split" / "public_html", "6.4.3")  # wp-config.php one level up, as WordPress allows
    (www / "split" / "wp-config.php").write_text("<?php\n$table_prefix = 'wp_';\n")
    install(www / "shop" / "addon.example.org", "6.3.1")  # cPanel's addon domain inside an install
    install(www / "bedrock" / "web" / "wp", "6.2")  # core in a subdirectory, wp-config.php above it
    (www / "bedrock" / "web" / "wp" / "wp-config.php").unlink()
    (www / "bedrock" / "web" / "wp-config.php").write_text("<?php\n$table_prefix = 'wp_';\n")
    core(www / "unzipped")  # core, never set up: no wp-config.php
    # Never entered: an install's wp-content, node_modules, vendor, .git, hidden directories.
    install(www / "shop" / "wp-content" / "plugins" / "bundled")
    install(www / "app" / "node_modules" / "pkg" / "wp")
    install(www / "app" / "vendor" / "johnpbloch" / "wordpress")
    install(www / "app" / ".git" / "wp")
    install(www / ".trash" / "oldsite")
    # A link loop, and a link to an install outside the tree: never followed.
    (www / "shop" / "loop").symlink_to("..")
    (www / "loop-abs").symlink_to(www)
    install(tmp_path / "elsewhere" / "secret")
    (www / "link-out").symlink_to(tmp_path / "elsewhere")
    # Deeper than the default --max-depth (4 below the root).
    install(www / "d1" / "d2" / "d3" / "d4" / "d5" / "deep")
    return www


def test_finds_exactly_the_installs_and_skips_links_heavy_and_hidden_dirs(hosting, env):
    data = found(run_discover(str(hosting), "--format", "json", env=env))
    assert paths_of(data) == [str(hosting / p) for p in (
        "bedrock/web/wp", "shop", "shop/addon.example.org", "split/public_html")]
    by_path = {Path(i["path"]).relative_to(hosting).as_posix(): i for i in data["installs"]}
    assert by_path["shop"]["version"] == "6.5.2" and by_path["shop"]["multisite"] is True
    assert by_path["shop/addon.example.org"]["version"] == "6.3.1"
    assert by_path["shop/addon.example.org"]["multisite"] is False
    assert by_path["split/public_html"]["wp_config"] == str(hosting / "split" / "wp-config.php")
    assert by_path["split/public_html"]["version"] == "6.4.3"
    assert by_path["bedrock/web/wp"]["wp_config"] == str(hosting / "bedrock" / "web" / "wp-config.php")
    for item in data["installs"]:
        assert item["owner"] == discover_module.trust.user_name(os.getuid())
        assert item["connected"] is False and item["sites"] == []
    summary = data["summary"]
    assert summary["installs"] == 4 and summary["connected"] == 0
    assert summary["without_wp_config"] == 1  # "unzipped"
    assert summary["beyond_max_depth"] == 1  # d1/.../d4's child d5
    assert summary["cut_short"] is False and summary["unreadable_dirs"] == 0


def test_max_depth_bounds_the_walk_and_is_counted(hosting, env):
    deep = str(hosting / "d1" / "d2" / "d3" / "d4" / "d5" / "deep")
    assert deep not in paths_of(found(run_discover(str(hosting), "--json", env=env)))
    deeper = found(run_discover(str(hosting), "--json", "--max-depth", "6", env=env))
    assert deep in paths_of(deeper) and deeper["summary"]["beyond_max_depth"] == 0
    shallow = found(run_discover(str(hosting), "--json", "--max-depth", "0", env=env))
    assert shallow["installs"] == [] and shallow["summary"]["beyond_max_depth"] > 0


def test_a_root_that_is_an_install_and_several_roots_each_found_once(hosting, env):
    (hosting.parent / "www-link").symlink_to(hosting)  # a root given through a link: the same directories
    data = found(run_discover(str(hosting / "shop"), str(hosting), str(hosting.parent / "www-link"), "--json", env=env))
    assert paths_of(data)[:2] == [str(hosting / "shop"), str(hosting / "shop" / "addon.example.org")]
    assert sorted(paths_of(data)) == sorted(set(paths_of(data))) and len(data["installs"]) == 4
    assert data["roots"] == [str(hosting / "shop"), str(hosting), str(hosting.parent / "www-link")]
    assert data["summary"]["without_wp_config"] == 1 and data["summary"]["beyond_max_depth"] == 1  # each walked once


def test_a_root_that_does_not_exist_is_one_line_and_exit_3(tmp_path, env):
    result = run_discover(str(tmp_path / "nope"), env=env)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"igny8-agent: error: {tmp_path / 'nope'} does not exist; give directories to search, "
        "or none for the usual places"]
    as_json = run_discover(str(tmp_path / "nope"), "--json", env=env)
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["exit_code"] == 3


def test_the_summary_goes_to_stderr(hosting, env):
    result = run_discover(str(hosting), "--json", env=env)
    assert result.stderr.strip().splitlines() == [
        "igny8-agent: 4 WordPress installs, 0 connected; 1 without wp-config.php; "
        "1 deeper than --max-depth not searched"]


def test_csv_and_yaml_hold_the_same_installs(hosting, env):
    import yaml

    rows = list(csv.reader(io.StringIO(found_text(run_discover(str(hosting), "--format", "csv", env=env)))))
    assert rows[0] == ["path", "version", "multisite", "owner", "connected", "sites", "wp_config"]
    assert [r[0] for r in rows[1:]] == [str(hosting / p) for p in (
        "bedrock/web/wp", "shop", "shop/addon.example.org", "split/public_html")]
    assert rows[2][1:3] == ["6.5.2", "yes"] and rows[2][4] == "no"
    data = yaml.safe_load(found_text(run_discover(str(hosting), "--format", "yaml", env=env)))
    assert data["installs"] == found(run_discover(str(hosting), "--json", env=env))["installs"]
    assert data["summary"]["installs"] == 4


def found_text(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_connected_site_is_shown_connected_with_its_config_name(site, tmp_path):
    connected = site.connect()
    assert connected.returncode == 0, connected.stderr
    install(tmp_path / "other")  # beside it, never connected
    env = {"IGNY8_CONFIG_DIR": str(tmp_path / "etc"), "IGNY8_STATE_DIR": str(tmp_path / "state")}
    data = found(run_discover(str(tmp_path), "--json", env=env))
    by_path = {i["path"]: i for i in data["installs"]}
    assert set(by_path) == {str(site.path), str(tmp_path / "other")}
    config = next((tmp_path / "etc" / "sites").glob("*.toml"))
    state = json.loads(next((tmp_path / "state").glob("*.state.json")).read_text())
    assert by_path[str(site.path)]["connected"] is True
    assert by_path[str(site.path)]["sites"] == [{
        "name": config.stem, "config": str(config), "state": str(tmp_path / "state" / f"{config.stem}.state.json"),
        "url": "", "connected": True, "site_id": state["site_id"], "site_url": state["site_url"],
        "api_url": state["api_url"], "problem": "",
    }]
    assert by_path[str(tmp_path / "other")]["connected"] is False
    assert data["summary"]["connected"] == 1

    table = run_discover(str(tmp_path), "--format", "table", env=dict(env, COLUMNS="250"))
    assert table.returncode == 0, table.stderr
    cells = {row[0]: row for row in (
        [c.strip() for c in x.strip("│ ").split("│")] for x in table.stdout.splitlines() if x.startswith("│"))}
    assert cells[str(site.path)] == [str(site.path), "", "no", site.path.owner(), config.stem]
    assert cells[str(tmp_path / "other")] == [str(tmp_path / "other"), "6.5.2", "no", site.path.owner(), "no"]

    disconnected = site.run("disconnect")
    assert disconnected.returncode == 0, disconnected.stderr
    after = {i["path"]: i for i in found(run_discover(str(tmp_path), "--json", env=env))["installs"]}
    assert after[str(site.path)]["connected"] is False
    assert [s["name"] for s in after[str(site.path)]["sites"]] == [config.stem]

    state_file = tmp_path / "state" / f"{config.stem}.state.json"
    state_file.write_text("{not json")
    os.chmod(state_file, 0o600)
    damaged = run_discover(str(tmp_path), "--json", env=env)
    entry = {i["path"]: i for i in found(damaged)["installs"]}[str(site.path)]
    assert entry["connected"] is False and entry["sites"][0]["problem"].startswith(f"the state file {state_file} is damaged")
    assert f"igny8-agent: warning: the state file {state_file} is damaged" in damaged.stderr


def test_a_config_the_agent_refuses_is_a_warning_not_a_failure(hosting, tmp_path, env):
    sites = tmp_path / "etc" / "sites"
    sites.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "etc", 0o700)
    bad = sites / "shop.toml"
    bad.write_text(f'[wordpress]\npath = "{hosting / "shop"}"\n')
    os.chmod(bad, 0o666)  # writable by anyone: the agent never reads it
    result = run_discover(str(hosting), "--json", env=env)
    data = found(result)
    assert len(data["installs"]) == 4 and data["warnings"] and f"refusing the config file {bad}" in data["warnings"][0]
    assert f"igny8-agent: warning: refusing the config file {bad}" in result.stderr


def test_discover_changes_nothing(hosting, tmp_path, env):
    def snapshot():
        seen = []
        for top, dirs, files in os.walk(tmp_path):  # links are not followed
            for name in dirs + files:
                info = os.lstat(os.path.join(top, name))
                seen.append((os.path.join(top, name), info.st_mtime_ns, info.st_mode))
        return sorted(seen)

    before = snapshot()
    for fmt in ("json", "table", "csv", "yaml"):
        assert run_discover(str(hosting), "--format", fmt, env=env).returncode == 0
    assert snapshot() == before
    assert not (tmp_path / "etc").exists() and not (tmp_path / "state").exists()


def test_the_timeout_cuts_a_huge_walk_short_and_says_so(tmp_path, env):
    big = tmp_path / "big"
    for i in range(100):
        for j in range(100):
            (big / f"a{i:03}" / f"b{j:03}" / "c").mkdir(parents=True)
    install(big / "zzz" / "last")  # walked last, in name order

    whole = found(run_discover(str(big), "--json", "--timeout", "60", env=env))
    assert paths_of(whole) == [str(big / "zzz" / "last")] and whole["summary"]["cut_short"] is False

    started = time.monotonic()
    result = run_discover(str(big), "--json", "--timeout", "0.05", env=env)
    took = time.monotonic() - started
    data = found(result)
    assert data["summary"]["cut_short"] is True and data["installs"] == []
    assert 0.05 <= data["summary"]["seconds"] < min(0.05 + 0.5, whole["summary"]["seconds"])
    assert took < 10
    assert "cut short after" in result.stderr and "the list is incomplete (raise --timeout)" in result.stderr


def test_the_deadline_is_checked_before_every_directory(tmp_path, env, monkeypatch):
    big = tmp_path / "big"
    for i in range(50):
        (big / f"d{i:02}").mkdir(parents=True)
    ticks = iter(range(10 ** 6))
    listed = []
    real_list = discover_module._list

    def counting(directory, follow, seen):
        listed.append(directory)
        return real_list(directory, follow, seen)

    monkeypatch.setattr(discover_module, "_list", counting)
    result = discover([str(big)], timeout=10, clock=lambda: next(ticks), environ=env)
    assert result.cut_short is True
    assert len(listed) == 9  # clock ticks 1..9 before the deadline of 10 (tick 0 started it)


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root reads everything without setpriv")
def test_an_unreadable_directory_is_skipped_and_counted(hosting, env):
    locked = hosting / "locked"
    install(locked / "inside")
    os.chmod(locked, 0)
    try:
        # As root, drop the capabilities that let root read any directory.
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, sys.executable, "-m", "igny8_agent", "discover", str(hosting), "--json"],
                                capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
    finally:
        os.chmod(locked, 0o755)
    data = found(result)
    assert str(locked / "inside") not in paths_of(data) and len(data["installs"]) == 4
    assert data["summary"]["unreadable_dirs"] == 1
    assert "1 unreadable directory skipped" in result.stderr


def test_a_path_too_long_to_open_is_counted_unreadable(tmp_path, env):
    top = tmp_path / "long"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters: past PATH_MAX
            os.mkdir("x" * 250, dir_fd=fd)
            child = os.open("x" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    result = discover([str(top)], max_depth=30, environ=env)
    assert result.unreadable_dirs == 1 and result.installs == [] and not result.cut_short


# -- the usual places ------------------------------------------------------------


def test_default_roots_are_the_usual_hosting_layouts():
    assert discover_module.DEFAULT_ROOTS == (
        "/var/www", "/srv/www", "/home/*/public_html", "/home/*/www", "/home/*/htdocs",
        "/var/www/vhosts/*/httpdocs", "/home/*/domains/*/public_html")


def test_globs_expand_missing_roots_are_left_out_and_user_planted_links_not_followed(tmp_path):
    for user in ("alice", "bob"):
        (tmp_path / "home" / user / "public_html").mkdir(parents=True)
    (tmp_path / "home" / "carol").mkdir()
    (tmp_path / "home" / "mallory").mkdir()
    (tmp_path / "home" / "mallory" / "public_html").symlink_to(tmp_path / "home" / "alice")
    if os.geteuid() == 0:
        os.lchown(tmp_path / "home" / "mallory" / "public_html", OTHER, OTHER)
    (tmp_path / "home" / "admin").symlink_to(tmp_path / "home" / "bob")  # a link root owns: followed if root

    roots = expand_roots((str(tmp_path / "home" / "*" / "public_html"), str(tmp_path / "srv" / "www")))
    expected = [str(tmp_path / "home" / u / "public_html") for u in ("alice", "bob")]
    if os.geteuid() == 0:
        expected.insert(0, str(tmp_path / "home" / "admin" / "public_html"))
    assert roots == expected
