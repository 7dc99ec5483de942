"""Self-check for tests/wp_schema.py against the local MariaDB.

Needs MariaDB/MySQL on 127.0.0.1:3306 (root, empty password); if it is not
reachable these tests fail rather than skip.
"""

from __future__ import annotations

import secrets
from typing import Dict, Iterator, List, Tuple

import pymysql
import pytest

from wp_schema import (
    CHARSET,
    COLLATE,
    blog_tables,
    create_site_sql,
    global_tables,
    multisite_tables,
    wp_session_sql_mode,
)

BLOG = [
    "termmeta", "terms", "term_taxonomy", "term_relationships", "commentmeta",
    "comments", "links", "options", "postmeta", "posts",
]
NETWORK = ["blogs", "blogmeta", "registration_log", "signups", "site", "sitemeta"]


@pytest.fixture
def db() -> Iterator[pymysql.connections.Connection]:
    """A throwaway database, dropped afterwards."""
    name = "igny8_schema_check_" + secrets.token_hex(6)
    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="",
        charset="utf8mb4", autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@SESSION.sql_mode")
            cur.execute("SET SESSION sql_mode = %s", (wp_session_sql_mode(cur.fetchone()[0]),))
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET {CHARSET} COLLATE {COLLATE}")
            cur.execute(f"USE `{name}`")
        yield conn
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def _run(conn, statements: List[str]) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def _tables(conn) -> set:
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        return {r[0] for r in cur.fetchall()}


def _indexes(conn, table: str) -> Dict[str, Tuple[bool, List[Tuple[str, object]]]]:
    """index name -> (unique, [(column, sub_part), ...] in Seq_in_index order)."""
    out: Dict[str, Tuple[bool, List[Tuple[str, object]]]] = {}
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SHOW INDEX FROM `{table}`")
        rows = sorted(cur.fetchall(), key=lambda r: (r["Key_name"], r["Seq_in_index"]))
    for r in rows:
        unique, cols = out.setdefault(r["Key_name"], (not r["Non_unique"], []))
        cols.append((r["Column_name"], r["Sub_part"]))
    return out


def _columns(conn, table: str) -> List[str]:
    with conn.cursor() as cur:
        cur.execute(f"SHOW COLUMNS FROM `{table}`")
        return [r[0] for r in cur.fetchall()]


def _check_blog(conn, p: str) -> None:
    posts = _indexes(conn, f"{p}posts")
    assert set(posts) == {"PRIMARY", "post_name", "type_status_date", "post_parent", "post_author"}
    assert posts["PRIMARY"] == (True, [("ID", None)])
    assert posts["post_name"] == (False, [("post_name", 191)])
    assert posts["type_status_date"] == (
        False,
        [("post_type", None), ("post_status", None), ("post_date", None), ("ID", None)],
    )
    assert posts["post_parent"] == (False, [("post_parent", None)])
    assert posts["post_author"] == (False, [("post_author", None)])

    tt = _indexes(conn, f"{p}term_taxonomy")
    assert set(tt) == {"PRIMARY", "term_id_taxonomy", "taxonomy"}
    assert tt["term_id_taxonomy"] == (True, [("term_id", None), ("taxonomy", None)])
    assert tt["taxonomy"] == (False, [("taxonomy", None)])

    options = _indexes(conn, f"{p}options")
    assert options["option_name"] == (True, [("option_name", None)])
    assert _indexes(conn, f"{p}postmeta")["meta_key"] == (False, [("meta_key", 191)])

    with conn.cursor() as cur:
        cur.execute(
            "SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (f"{p}posts",),
        )
        assert cur.fetchone() == ("InnoDB", COLLATE)


@pytest.mark.parametrize("prefix", ["wp_", "wp7x_"])
def test_single_site(db, prefix: str) -> None:
    _run(db, create_site_sql(prefix))
    assert _tables(db) == {prefix + t for t in BLOG + ["users", "usermeta"]}
    _check_blog(db, prefix)
    assert "spam" not in _columns(db, f"{prefix}users")
    # Rows written the way WordPress writes them go in (zero-date defaults too).
    with db.cursor() as cur:
        cur.execute(
            f"INSERT INTO `{prefix}posts` (post_content, post_title, post_excerpt,"
            " to_ping, pinged, post_content_filtered) VALUES ('', 'x', '', '', '', '')"
        )
        cur.execute(f"SELECT post_type, post_status, post_date FROM `{prefix}posts`")
        row = cur.fetchone()
    assert row[:2] == ("post", "publish")


@pytest.mark.parametrize("prefix", ["wp_", "wp7x_"])
def test_multisite_with_subsites(db, prefix: str) -> None:
    _run(db, create_site_sql(prefix, multisite=True, subsite_ids=[2, 3]))
    expected = {prefix + t for t in BLOG + NETWORK + ["users", "usermeta"]}
    for i in (2, 3):
        expected |= {f"{prefix}{i}_{t}" for t in BLOG}
    assert _tables(db) == expected
    for p in (prefix, f"{prefix}2_", f"{prefix}3_"):
        _check_blog(db, p)
    assert _columns(db, f"{prefix}users")[-2:] == ["spam", "deleted"]
    assert _indexes(db, f"{prefix}site")["domain"] == (False, [("domain", 140), ("path", 51)])
    assert _indexes(db, f"{prefix}blogs")["domain"] == (False, [("domain", 50), ("path", 5)])


def test_statement_shape_and_api() -> None:
    stmts = create_site_sql("wp_")
    assert len(stmts) == 12
    posts = [s for s in stmts if s.startswith("CREATE TABLE `wp_posts` (")]
    assert len(posts) == 1
    assert posts[0].endswith(
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci"
    )
    assert "KEY `post_name` (`post_name`(191))" in posts[0]
    assert len(blog_tables("wp_")) == 10
    assert len(global_tables("wp_")) == 2
    assert "`spam`" in global_tables("wp_", multisite=True)[0]
    assert len(multisite_tables("wp_")) == 6
    assert len(create_site_sql("wp_", multisite=True, subsite_ids=(2, 3))) == 2 + 10 + 6 + 20


@pytest.mark.parametrize("bad", ["", "wp-", "wp`", "wp_; DROP", "wp.", "wp_é", None])
def test_prefix_validated(bad) -> None:
    for fn in (blog_tables, global_tables, multisite_tables, create_site_sql):
        with pytest.raises(ValueError):
            fn(bad)


@pytest.mark.parametrize("ids", [[1], [0], [2, 2], ["2"], [True]])
def test_subsite_ids_validated(ids) -> None:
    with pytest.raises(ValueError):
        create_site_sql("wp_", multisite=True, subsite_ids=ids)


def test_subsites_need_multisite() -> None:
    with pytest.raises(ValueError):
        create_site_sql("wp_", subsite_ids=[2])
