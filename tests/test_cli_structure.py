"""`igny8-agent structure`, `--version`, `--help` and exit codes, as a real process."""

from __future__ import annotations

import json

import pytest

from conftest import DB_HOST, DB_PORT, run_agent, write_wp_config


def test_structure_json_of_the_wordpress_made_sample_matches_wordpress(tmp_path, agent_env, sample_db, sample_answers):
    root = write_wp_config(tmp_path / "site", sample_db)
    result = run_agent("structure", "--path", str(root), "--format", "json", env=agent_env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"post_types", "taxonomies"}
    for kind in ("post_types", "taxonomies"):
        for slug, answer in sample_answers[kind].items():
            listed = answer["public"] and slug not in ("attachment", "post_format")
            assert (slug in body[kind]) == listed, slug
            if listed:
                count = answer["counts"]["publish"] if kind == "post_types" else answer["term_count"]
                assert body[kind][slug]["label"] == answer["name"]
                assert body[kind][slug]["count"] == count
                assert type(body[kind][slug]["count"]) is int


def test_structure_defaults_to_json_when_not_a_terminal(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    result = run_agent("structure", "--path", str(root), env=agent_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["post_types"]["post"]["count"] == 1


def test_structure_table_format_shows_labels_and_counts(tmp_path, agent_env, wpdb):
    wpdb.add_posts("post", "publish", 1233)
    root = write_wp_config(tmp_path / "site", wpdb.name)
    result = run_agent("structure", "--path", str(root), "--format", "table", env=agent_env)
    assert result.returncode == 0, result.stderr
    assert "Posts" in result.stdout and "1,234" in result.stdout and "Categories" in result.stdout


def test_structure_walks_up_from_a_subdirectory(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    sub = root / "wp-content" / "uploads"
    sub.mkdir(parents=True)
    result = run_agent("structure", env=agent_env, cwd=sub)
    assert result.returncode == 0, result.stderr


def test_structure_finds_wp_config_one_level_above_the_root(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "outer" / "public", wpdb.name)
    (root / "wp-config.php").rename(tmp_path / "outer" / "wp-config.php")
    result = run_agent("structure", "--path", str(root), env=agent_env)
    assert result.returncode == 0, result.stderr


def test_environment_overrides_reach_a_site_whose_config_is_dynamic(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name, host="x")
    text = (root / "wp-config.php").read_text().replace("'x'", "$_host . ':3306'")
    (root / "wp-config.php").write_text(text)
    bad = run_agent("structure", "--path", str(root), env=agent_env)
    assert bad.returncode == 3
    assert "DB_HOST" in bad.stderr and "IGNY8_DB_HOST" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    env = dict(agent_env, IGNY8_DB_HOST=f"{DB_HOST}:{DB_PORT}")
    good = run_agent("structure", "--path", str(root), env=env)
    assert good.returncode == 0, good.stderr
    flag = run_agent("structure", "--path", str(root), "--db-host", f"{DB_HOST}:{DB_PORT}", env=agent_env)
    assert flag.returncode == 0, flag.stderr


def test_multisite_url_selects_subsite_and_unknown_url_fails(tmp_path, agent_env, make_wpdb):
    db = make_wpdb(multisite=True)
    db.install("https://net.test")
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'net.test', '/', NOW(), NOW())")
    db.add_subsite(3, "net.test", "/fr/")
    db.add_posts("post", "publish", 4, blog_id=3)
    root = write_wp_config(tmp_path / "site", db.name, extra="define( 'MULTISITE', true );")
    sub = run_agent("structure", "--path", str(root), "--url", "https://net.test/fr/", env=agent_env)
    assert sub.returncode == 0, sub.stderr
    assert json.loads(sub.stdout)["post_types"]["post"]["count"] == 5
    bad = run_agent("structure", "--path", str(root), "--url", "https://net.test.evil/", env=agent_env)
    assert bad.returncode == 3
    assert "no site of this multisite network matches" in bad.stderr


@pytest.mark.parametrize(
    "setup, code, words",
    [
        ("no_wordpress", 3, "no WordPress installation found"),
        ("bad_prefix", 3, "table prefix"),
        ("db_down", 4, "cannot connect"),
        ("socket_missing", 4, "socket /nonexistent/mysqld.sock"),
        ("wrong_password", 4, "access denied"),
        ("not_wordpress", 4, "not a WordPress database"),
        ("unterminated", 3, "unterminated"),
    ],
)
def test_failures_print_one_line_and_a_documented_exit_code(tmp_path, agent_env, make_wpdb, setup, code, words):
    db = make_wpdb()
    root = tmp_path / "site"
    if setup == "no_wordpress":
        root.mkdir()
    elif setup == "bad_prefix":
        write_wp_config(root, db.name, prefix="wp_`; DROP TABLE wp_users; -- ")
    elif setup == "db_down":
        write_wp_config(root, db.name, host="127.0.0.1:1")
    elif setup == "socket_missing":
        write_wp_config(root, db.name, host="localhost:/nonexistent/mysqld.sock")
    elif setup == "wrong_password":
        write_wp_config(root, db.name, user="nobody_igny8", password="s3cret-pw")
    elif setup == "not_wordpress":
        write_wp_config(root, db.name, prefix="other_")
    elif setup == "unterminated":
        write_wp_config(root, db.name)
        (root / "wp-config.php").write_text("<?php define('DB_NAME', 'x);\n")
    result = run_agent("structure", "--path", str(root), "--format", "json", env=agent_env)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr
    assert result.stdout == ""


def test_version_and_help_on_every_command():
    version = run_agent("--version")
    assert version.returncode == 0 and version.stdout.startswith("igny8-agent ")
    top = run_agent("--help")
    assert top.returncode == 0 and "Exit codes" in top.stdout
    commands = ["structure", "connect", "sync", "status", "disconnect", "config", "schedule",
                "config show", "config type", "config sync", "config backend",
                "schedule install", "schedule remove", "schedule show"]
    for name in commands:
        sub = run_agent(*name.split(), "--help")
        assert sub.returncode == 0 and "--help" in sub.stdout, name
        assert "Usage: igny8-agent " + name in " ".join(sub.stdout.split()), name


def test_bad_format_is_a_usage_error():
    result = run_agent("structure", "--format", "xml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
