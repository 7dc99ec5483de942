"""Shared fixtures: real MariaDB databases with WordPress's own schema.

Every test run creates its own databases (``igny8_test_<random>``) with the
tables WordPress 6.x creates, fills them the way WordPress stores data, and
drops them afterwards. The server is the local MariaDB (127.0.0.1:3306, root,
empty password; ``IGNY8_TEST_DB_*`` override).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pymysql
import pytest

from wp_schema import create_site_sql

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SAMPLE_DIR = Path(os.environ.get("IGNY8_SAMPLE_DIR") or TESTS / "fixtures" / "wordpress-sample")

DB_HOST = os.environ.get("IGNY8_TEST_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("IGNY8_TEST_DB_PORT", "3306"))
DB_USER = os.environ.get("IGNY8_TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("IGNY8_TEST_DB_PASSWORD", "")


def admin_connect(database: Optional[str] = None) -> "pymysql.connections.Connection":
    return pymysql.connect(
        host=DB_HOST, port=DB_PORT, user=DB_USER, password=DB_PASSWORD,
        database=database, charset="utf8mb4", autocommit=True, connect_timeout=5,
    )


# -- PHP serialization, as WordPress writes options and ACF definitions ------


def php_serialize(value: object) -> str:
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, float):
        return f"d:{value!r};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        body = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
        return f"a:{len(value)}:{{{body}}}"
    raise TypeError(type(value))


# -- one WordPress database ---------------------------------------------------


class WordPressDB:
    """A throwaway database with WordPress's tables, and helpers to fill it."""

    def __init__(self, name: str, prefix: str = "wp_") -> None:
        self.name = name
        self.prefix = prefix
        self.conn = admin_connect(name)
        self._next_id = {"posts": 1}

    def table(self, name: str, blog_id: int = 1) -> str:
        return f"`{self.prefix}{'' if blog_id == 1 else f'{blog_id}_'}{name}`"

    def execute(self, sql: str, args: Sequence = ()) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(args) or None)

    def query(self, sql: str, args: Sequence = ()) -> list:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(args) or None)
            return list(cur.fetchall())

    # WordPress data

    def set_option(self, name: str, value: object, blog_id: int = 1) -> None:
        text = value if isinstance(value, str) else php_serialize(value)
        self.execute(
            f"REPLACE INTO {self.table('options', blog_id)} (option_name, option_value, autoload)"
            " VALUES (%s, %s, 'yes')",
            (name, text),
        )

    def install(self, home: str = "https://example.com", blog_id: int = 1, plugins: Sequence[str] = ()) -> None:
        """What wp_install() leaves: siteurl/home, the first post, page and category."""
        self.set_option("siteurl", home, blog_id)
        self.set_option("home", home, blog_id)
        self.set_option("blogname", "Test site", blog_id)
        self.set_option("active_plugins", list(plugins), blog_id)
        self.add_posts("post", "publish", 1, blog_id=blog_id)
        self.add_posts("page", "publish", 1, blog_id=blog_id)
        self.add_posts("page", "draft", 1, blog_id=blog_id)
        self.add_term("category", "Uncategorized", blog_id=blog_id)

    def add_posts(self, post_type: str, status: str = "publish", n: int = 1, *,
                  content: str = "", parent: int = 0, blog_id: int = 1) -> List[int]:
        rows = []
        for _ in range(n):
            rows.append((post_type, status, f"{post_type} item", content, parent))
        with self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.table('posts', blog_id)} (post_author, post_date, post_date_gmt,"
                " post_content, post_title, post_excerpt, post_status, post_name, to_ping, pinged,"
                " post_modified, post_modified_gmt, post_content_filtered, post_parent, post_type)"
                " VALUES (1, NOW(), UTC_TIMESTAMP(), %s, %s, '', %s, '', '', '', NOW(), UTC_TIMESTAMP(),"
                " '', %s, %s)",
                [(c, t, s, p, pt) for pt, s, t, c, p in rows],
            )
            first = cur.lastrowid
        return list(range(first, first + n))

    def add_term(self, taxonomy: str, name: str, parent: int = 0, blog_id: int = 1) -> int:
        slug = name.lower().replace(" ", "-")
        with self.conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self.table('terms', blog_id)} (name, slug, term_group) VALUES (%s, %s, 0)",
                (name, slug),
            )
            term_id = cur.lastrowid
            cur.execute(
                f"INSERT INTO {self.table('term_taxonomy', blog_id)}"
                " (term_id, taxonomy, description, parent, count) VALUES (%s, %s, '', %s, 0)",
                (term_id, taxonomy, parent),
            )
            return cur.lastrowid

    def add_terms(self, taxonomy: str, n: int, blog_id: int = 1) -> None:
        for i in range(n):
            self.add_term(taxonomy, f"{taxonomy} {i}", blog_id=blog_id)

    def add_subsite(self, blog_id: int, domain: str, path: str = "/", home: Optional[str] = None) -> None:
        for statement in create_site_sql(self.prefix, multisite=True, subsite_ids=[blog_id])[-10:]:
            self.execute(statement)
        self.execute(
            f"INSERT INTO `{self.prefix}blogs` (blog_id, site_id, domain, path, registered, last_updated)"
            " VALUES (%s, 1, %s, %s, NOW(), NOW())",
            (blog_id, domain, path),
        )
        self.install(home or f"https://{domain}{path.rstrip('/')}", blog_id=blog_id)


def _create_database(prefix: str, multisite: bool = False) -> WordPressDB:
    name = f"igny8_test_{secrets.token_hex(6)}"
    with admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci")
    db = WordPressDB(name, prefix)
    for statement in create_site_sql(prefix, multisite=multisite):
        db.execute(statement)
    return db


def drop_database(name: str) -> None:
    with admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="session")
def mariadb_server() -> None:
    """Fail loudly (never skip) when the test database server is not reachable."""
    try:
        admin_connect().close()
    except pymysql.MySQLError as exc:
        pytest.fail(f"MariaDB is not reachable at {DB_HOST}:{DB_PORT}: {exc}", pytrace=False)


@pytest.fixture
def make_wpdb(mariadb_server) -> Iterator:
    """Factory: ``make_wpdb(prefix="wp_", multisite=False)`` -> WordPressDB, dropped after the test."""
    made: List[WordPressDB] = []

    def make(prefix: str = "wp_", multisite: bool = False) -> WordPressDB:
        db = _create_database(prefix, multisite)
        made.append(db)
        return db

    yield make
    for db in made:
        db.conn.close()
        drop_database(db.name)


@pytest.fixture
def wpdb(make_wpdb) -> WordPressDB:
    """A fresh single-site WordPress database (prefix ``wp_``), installed."""
    db = make_wpdb()
    db.install()
    return db


@pytest.fixture(scope="session")
def sample_answers() -> Dict:
    return json.loads((SAMPLE_DIR / "wordpress-answers.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def sample_db(mariadb_server) -> Iterator[str]:
    """The database WordPress itself made (WooCommerce included), loaded once per run."""
    name = f"igny8_test_sample_{secrets.token_hex(6)}"
    with admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    load_sql_file(name, SAMPLE_DIR / "sample.sql")
    yield name
    drop_database(name)


def load_sql_file(database: str, path: Path) -> None:
    """Load a mysqldump file with the mariadb client, as the fixture's README says."""
    args = ["mariadb", "-h", DB_HOST, "-P", str(DB_PORT), "-u", DB_USER, database]
    env = dict(os.environ, MYSQL_PWD=DB_PASSWORD) if DB_PASSWORD else None
    with path.open("rb") as handle:
        subprocess.run(args, stdin=handle, check=True, env=env, timeout=120)


# -- a WordPress install on disk ---------------------------------------------


def write_wp_config(root: Path, db_name: str, prefix: str = "wp_", host: Optional[str] = None,
                    user: Optional[str] = None, password: Optional[str] = None, extra: str = "") -> Path:
    """A WordPress root with core marker files and a wp-config.php like the stock sample."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-load.php").write_text("<?php // core\n")
    config = root / "wp-config.php"
    config.write_text(
        "<?php\n"
        "/** The base configuration for WordPress */\n"
        f"define( 'DB_NAME', '{db_name}' );\n"
        f"define( 'DB_USER', '{user if user is not None else DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{password if password is not None else DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{host or f'{DB_HOST}:{DB_PORT}'}' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\n"
        "define( 'DB_COLLATE', '' );\n"
        f"$table_prefix = '{prefix}';\n"
        f"{extra}\n"
        "define( 'WP_DEBUG', false );\n"
        "if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    return root


@pytest.fixture
def agent_env(tmp_path, monkeypatch) -> Dict[str, str]:
    """Config and state directories of the agent inside tmp_path."""
    env = {
        "IGNY8_CONFIG_DIR": str(tmp_path / "etc"),
        "IGNY8_STATE_DIR": str(tmp_path / "state"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith(("IGNY8_DB_", "IGNY8_WP_PATH", "IGNY8_URL", "IGNY8_TABLE_PREFIX", "IGNY8_API")):
            monkeypatch.delenv(name, raising=False)
    return env


def run_agent(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
              input: Optional[str] = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The agent as a separate process, as cron and operators run it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "igny8_agent", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, input=input, timeout=timeout,
    )


# -- the backend and a connected-site harness (end-to-end tests) -------------

from contract_server import ContractServer  # noqa: E402

API_KEY = "igny8_e2eKey-0123456789abcdefABCDEF"
HOME = "https://example.com"


@pytest.fixture
def backend():
    """The contract server on loopback: one account (API_KEY), its site for HOME and another."""
    server = ContractServer(page_size=2).start()
    account = server.add_account("Acme", "dev@igny8.com", API_KEY)
    server.site_id = server.add_site(account, "https://www.Example.com/", name="Example")
    server.other_site = server.add_site(account, "https://other.example.org", name="Other")
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path, wpdb, agent_env, backend):
    """A WordPress root on a fresh database, the agent's environment pointed at
    the loopback backend with the file keyring, and helpers to run the agent."""
    wpdb.set_option("home", HOME)
    wpdb.add_posts("post", "publish", 4)
    root = write_wp_config(tmp_path / "wordpress", wpdb.name)
    env = dict(agent_env, IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url)

    class Site:
        db = wpdb
        path = root
        state_dir = tmp_path / "state"

        def run(self, *args, input=None, extra_env=None, timeout=60):
            return run_agent(*args, "--path", str(root), env=dict(env, **(extra_env or {})),
                             input=input, timeout=timeout)

        def connect(self, *args, key=API_KEY):
            return self.run("connect", "--api-key-stdin", *args, input=key + "\n")

        def status(self):
            result = self.run("status", "--json")
            return result, json.loads(result.stdout) if result.stdout.strip() else None

        def state(self):
            files = list(self.state_dir.glob("*.state.json"))
            return json.loads(files[0].read_text()) if files else None

    return Site()




# -- the WordPress-made sites with real plugins (tests/fixtures/real-plugins) ---

import real_plugins  # noqa: E402


@pytest.fixture(scope="session")
def real_plugin_site(mariadb_server, tmp_path_factory) -> Iterator:
    """Factory: ``real_plugin_site("fx_cptui")`` -> the site's root, with its
    database loaded into MariaDB (once per run) and its files laid out."""
    loaded: Dict[str, Path] = {}

    def load(name: str) -> Path:
        if name not in loaded:
            db = f"igny8_test_{name}_{secrets.token_hex(4)}"
            with admin_connect() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci")
            databases.append(db)
            load_sql_file(db, real_plugins.FIXTURES / f"{name}.sql")
            loaded[name] = real_plugins.lay_out_site(
                name, tmp_path_factory.mktemp(name) / "site", db_name=db, user=DB_USER,
                password=DB_PASSWORD, host=f"{DB_HOST}:{DB_PORT}",
            )
        return loaded[name]

    databases: List[str] = []
    yield load
    for db in databases:
        drop_database(db)
