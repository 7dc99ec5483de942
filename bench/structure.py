"""Benchmark `igny8-agent structure` against synthetic WordPress databases.

For each size N (number of rows in wp_posts) this script

1. builds (or reuses) a database ``igny8_bench_<N>`` with WordPress 6.x's real
   schema (tests/wp_schema.py) filled in a few INSERT ... SELECT statements
   from MariaDB's SEQUENCE engine: posts spread over types and statuses the
   way a WooCommerce shop has them, N/50 terms, a handful of options;
2. writes a throwaway WordPress root whose wp-config.php points at it;
3. times, in the same loop iteration and rotating the order,
   a. the agent as a whole process (wall time, and peak RSS via GNU time),
   b. the SQL floor: the statements the agent sends, run by one `mariadb`
      client process,
   c. the interpreter floor: ``python -c "import typer, pymysql"``;
4. prints the medians and whether the targets are met.

Run it with the project's virtualenv python; see bench/README.md.
It is a report: it exits 0 whether the targets are met or not, and non-zero
only when the benchmark itself cannot run (or the agent's counts are wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pymysql

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

from wp_schema import create_site_sql  # noqa: E402

DB_HOST = os.environ.get("IGNY8_TEST_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("IGNY8_TEST_DB_PORT", "3306"))
DB_USER = os.environ.get("IGNY8_TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("IGNY8_TEST_DB_PASSWORD", "")

PREFIX = "wp_"
DB_NAME_RE = re.compile(r"\Aigny8_bench_(\d+)\Z")
# Bump when the generated data changes, so that old databases are rebuilt.
BUILD_VERSION = "3"
MARKER_OPTION = "igny8_bench_build"

# Targets (see README): the SQL-floor target applies at SQL_TARGET_MIN_SIZE
# posts and above, the interpreter-floor target at INTERP_TARGET_MAX_SIZE and
# below, the memory target everywhere.
SQL_TARGET_RATIO = 1.3
SQL_TARGET_MIN_SIZE = 1_000_000
INTERP_TARGET_RATIO = 1.3
INTERP_TARGET_MAX_SIZE = 10_000
RSS_TARGET_MB = 45.0

ACTIVE_PLUGINS = 'a:1:{i:0;s:27:"woocommerce/woocommerce.php";}'
HOME = "https://bench.example"

# What igny8_agent/wordpress.py (read_site on a single site whose wp-config.php
# does not define MULTISITE, with WooCommerce active) and database.py
# (ReadOnlySession) send, in order. Kept in sync by check_sql_drift(), which
# records what the agent really sends and warns when it differs.
AGENT_SQL = [
    "SET NAMES utf8mb4",  # pymysql, on connect
    "SET AUTOCOMMIT = 0",  # pymysql, autocommit=False
    "SET SESSION max_statement_time = 10",
    "SET SESSION lock_wait_timeout = 10",
    "SET SESSION innodb_lock_wait_timeout = 10",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    "SELECT post_type, SUM(post_status = 'publish') FROM `{p}posts` GROUP BY post_type",
    "SELECT taxonomy, COUNT(*) FROM `{p}term_taxonomy` GROUP BY taxonomy",
    "SELECT 1 FROM `{p}blogs` LIMIT 0",
    "SELECT option_name, option_value FROM `{p}options`"
    " WHERE option_name IN ('home', 'siteurl', 'active_plugins', 'stylesheet', 'template', 'stylesheet_root',"
    " 'template_root', 'cptui_post_types', 'cptui_taxonomies')"
    " OR option_name = (SELECT CONCAT('theme_mods_', option_value) FROM `{p}options`"
    " WHERE option_name = 'stylesheet' LIMIT 1)",
    "SELECT attribute_name, attribute_label, attribute_public FROM `{p}woocommerce_attribute_taxonomies`",
    "ROLLBACK",
]


def agent_sql(prefix: str = PREFIX) -> List[str]:
    return [s.replace("{p}", prefix) for s in AGENT_SQL]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def connect(database: Optional[str] = None, autocommit: bool = True):
    return pymysql.connect(
        host=DB_HOST, port=DB_PORT, user=DB_USER, password=DB_PASSWORD, database=database,
        charset="utf8mb4", autocommit=autocommit, connect_timeout=5, read_timeout=3600,
        write_timeout=3600,
    )


def db_name(size: int) -> str:
    return f"igny8_bench_{size}"


# -- building the databases -------------------------------------------------------

# Post types and statuses by ``b = ID % 100`` and ``s = (ID DIV 100) % 20``:
# 60% post, 10% page, 10% product, 15% revision, 3% attachment, 1% nav menu
# items, 0.5% product variations, 0.5% auto-drafts. post/page/product rows are
# 75% publish; the rest draft, pending, private, future, trash.
_POST_TYPE = (
    "CASE WHEN b < 60 THEN 'post' WHEN b < 70 THEN 'page' WHEN b < 80 THEN 'product'"
    " WHEN b < 95 THEN 'revision' WHEN b < 98 THEN 'attachment' WHEN b = 98 THEN 'nav_menu_item'"
    " WHEN s % 2 = 0 THEN 'product_variation' ELSE 'post' END"
)
_POST_STATUS = (
    "CASE WHEN b >= 80 AND b < 98 THEN 'inherit' WHEN b = 98 THEN 'publish'"
    " WHEN b = 99 THEN IF(s % 2 = 0, 'publish', 'auto-draft')"
    " WHEN s = 0 THEN 'draft' WHEN s = 1 THEN 'pending' WHEN s = 2 THEN 'private'"
    " WHEN s = 3 THEN 'future' WHEN s = 4 THEN 'trash' ELSE 'publish' END"
)

# Taxonomies of the generated terms by ``t = term_id % 20``.
_TAXONOMY = (
    "CASE WHEN t < 2 THEN 'category' WHEN t < 13 THEN 'post_tag' WHEN t < 15 THEN 'product_cat'"
    " WHEN t < 18 THEN 'product_tag' WHEN t = 18 THEN 'pa_color' ELSE 'pa_size' END"
)
# Terms every WooCommerce shop has, after the generated ones.
_FIXED_TERMS = (
    [("product_type", n) for n in ("simple", "grouped", "variable", "external")]
    + [("product_visibility", n) for n in (
        "exclude-from-search", "exclude-from-catalog", "featured", "outofstock",
        "rated-1", "rated-2", "rated-3", "rated-4", "rated-5")]
    + [("nav_menu", "main-menu"), ("nav_menu", "footer")]
)

_WC_ATTRIBUTES_TABLE = (
    "CREATE TABLE `{p}woocommerce_attribute_taxonomies` (\n"
    "  `attribute_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n"
    "  `attribute_name` varchar(200) NOT NULL,\n"
    "  `attribute_label` varchar(200) DEFAULT NULL,\n"
    "  `attribute_type` varchar(20) NOT NULL,\n"
    "  `attribute_orderby` varchar(20) NOT NULL,\n"
    "  `attribute_public` int(1) NOT NULL DEFAULT 1,\n"
    "  PRIMARY KEY (`attribute_id`),\n"
    "  KEY `attribute_name` (`attribute_name`(20))\n"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci"
)

# Secondary indexes of wp_posts: dropped before the bulk insert and rebuilt by
# one ALTER TABLE afterwards (a sorted index build instead of a million random
# B-tree inserts into a small buffer pool).
_POSTS_KEY_RE = re.compile(r"^\s*(KEY `(\w+)` \(.*\)),?$", re.M)


def _posts_secondary_keys(create_posts: str) -> List[Tuple[str, str]]:
    return [(m.group(2), m.group(1)) for m in _POSTS_KEY_RE.finditer(create_posts)]


def database_state(size: int) -> str:
    """'ready', 'missing' or 'stale' (exists but not a finished build of this size)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE %s", (db_name(size),))
        if not cur.fetchall():
            return "missing"
        try:
            cur.execute(
                f"SELECT option_value FROM `{db_name(size)}`.`{PREFIX}options` WHERE option_name = %s",
                (MARKER_OPTION,),
            )
            row = cur.fetchone()
        except pymysql.MySQLError:
            return "stale"
    return "ready" if row and row[0] == f"{BUILD_VERSION}:{size}" else "stale"


def build_database(size: int) -> float:
    """(Re)create ``igny8_bench_<size>``; returns the build time in seconds."""
    name = db_name(size)
    p = PREFIX
    terms = max(size // 50, 20)
    started = time.perf_counter()
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci")
        cur.execute(f"USE `{name}`")
        statements = create_site_sql(p) + [_WC_ATTRIBUTES_TABLE.replace("{p}", p)]
        posts_sql = next(s for s in statements if s.startswith(f"CREATE TABLE `{p}posts`"))
        keys = _posts_secondary_keys(posts_sql)
        if not keys:
            raise RuntimeError("found no secondary keys in the posts table definition")
        for statement in statements:
            cur.execute(statement)
        cur.execute(f"ALTER TABLE `{p}posts` " + ", ".join(f"DROP KEY `{k}`" for k, _ in keys))

        cur.execute("SET SESSION unique_checks = 0")
        cur.execute("SET SESSION foreign_key_checks = 0")
        cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")  # zero dates as WordPress
        cur.execute("START TRANSACTION")
        cur.execute(
            f"INSERT INTO `{p}posts` (ID, post_author, post_date, post_date_gmt, post_content,"
            " post_title, post_excerpt, post_status, comment_status, ping_status, post_password,"
            " post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered,"
            " post_parent, guid, menu_order, post_type, post_mime_type, comment_count)"
            " SELECT ID, 1 + ID % 5, d, d,"
            "  IF(ty = 'attachment', '', REPEAT('Lorem ipsum dolor sit amet, consectetur. ', 1 + ID % 6)),"
            "  CONCAT(ty, ' ', ID), '', st,"
            "  IF(ty IN ('post', 'product'), 'open', 'closed'), 'closed', '',"
            "  IF(ty = 'revision', CONCAT(ID - b, '-revision-v1'), CONCAT(ty, '-', ID)), '', '',"
            "  d, d, '', IF(b >= 80 AND b < 98, ID - b, 0),"
            f"  CONCAT('{HOME}/?p=', ID), IF(ty = 'nav_menu_item', b, 0), ty,"
            "  IF(ty = 'attachment', 'image/jpeg', ''), IF(ty = 'post', ID % 4, 0)"
            " FROM ("
            f"  SELECT ID, b, s, {_POST_TYPE} AS ty, {_POST_STATUS} AS st, d FROM ("
            "   SELECT seq AS ID, seq % 100 AS b, (seq DIV 100) % 20 AS s,"
            "          TIMESTAMP'2012-01-01 00:00:00' + INTERVAL (seq * 2) MINUTE AS d"
            f"   FROM seq_1_to_{size}) AS raw) AS gen"
        )
        cur.execute(
            f"INSERT INTO `{p}terms` (term_id, name, slug, term_group)"
            f" SELECT seq, CONCAT('Term ', seq), CONCAT('term-', seq), 0 FROM seq_1_to_{terms}"
        )
        cur.execute(
            f"INSERT INTO `{p}term_taxonomy` (term_taxonomy_id, term_id, taxonomy, description, parent, count)"
            f" SELECT seq, seq, {_TAXONOMY}, '', 0, seq % 37"
            f" FROM (SELECT seq, seq % 20 AS t FROM seq_1_to_{terms}) AS gen"
        )
        for i, (taxonomy, slug) in enumerate(_FIXED_TERMS, start=terms + 1):
            cur.execute(f"INSERT INTO `{p}terms` (term_id, name, slug) VALUES (%s, %s, %s)", (i, slug, slug))
            cur.execute(
                f"INSERT INTO `{p}term_taxonomy` (term_taxonomy_id, term_id, taxonomy, description)"
                " VALUES (%s, %s, %s, '')",
                (i, i, taxonomy),
            )
        cur.execute(
            f"INSERT INTO `{p}woocommerce_attribute_taxonomies`"
            " (attribute_name, attribute_label, attribute_type, attribute_orderby, attribute_public)"
            " VALUES ('color', 'Color', 'select', 'menu_order', 1), ('size', 'Size', 'select', 'menu_order', 0)"
        )
        cur.executemany(
            f"INSERT INTO `{p}options` (option_name, option_value, autoload) VALUES (%s, %s, 'yes')",
            [("siteurl", HOME), ("home", HOME), ("blogname", "Bench shop"),
             ("active_plugins", ACTIVE_PLUGINS), ("template", "twentytwentyfour")],
        )
        cur.execute(
            f"INSERT INTO `{p}options` (option_name, option_value, autoload)"
            " SELECT CONCAT('bench_option_', seq), REPEAT('x', seq % 200), IF(seq % 3, 'yes', 'no')"
            " FROM seq_1_to_300"
        )
        cur.execute(
            f"INSERT INTO `{p}users` (user_login, user_pass, user_nicename, user_email, user_registered, display_name)"
            " VALUES ('admin', '', 'admin', 'admin@bench.example', NOW(), 'admin')"
        )
        cur.execute("COMMIT")

        inserted = time.perf_counter()
        cur.execute(f"ALTER TABLE `{p}posts` " + ", ".join(f"ADD {definition}" for _, definition in keys))
        indexed = time.perf_counter()
        cur.execute(f"ANALYZE TABLE `{p}posts`, `{p}term_taxonomy`, `{p}terms`, `{p}options`")
        cur.fetchall()
        # Last, so that an interrupted build is never mistaken for a finished one.
        cur.execute(
            f"INSERT INTO `{p}options` (option_name, option_value, autoload) VALUES (%s, %s, 'no')",
            (MARKER_OPTION, f"{BUILD_VERSION}:{size}"),
        )
    done = time.perf_counter()
    log(f"{name}: insert {inserted - started:.1f} s, posts indexes {indexed - inserted:.1f} s,"
        f" analyze {done - indexed:.1f} s")
    return done - started


def drop_databases() -> List[str]:
    dropped = []
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'igny8\\_bench\\_%'")
        for (name,) in cur.fetchall():
            if DB_NAME_RE.match(name):
                cur.execute(f"DROP DATABASE `{name}`")
                dropped.append(name)
    return dropped


# -- the WordPress root and the processes we time ---------------------------------


def write_wordpress_root(root: Path, database: str) -> None:
    """Core marker files and a wp-config.php like WordPress's sample."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-load.php").write_text("<?php // core\n")
    (root / "wp-config.php").write_text(
        "<?php\n"
        f"define( 'DB_NAME', '{database}' );\n"
        f"define( 'DB_USER', '{DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{DB_HOST}:{DB_PORT}' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\n"
        "define( 'DB_COLLATE', '' );\n"
        f"$table_prefix = '{PREFIX}';\n"
        "define( 'WP_DEBUG', false );\n"
        "if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    # The active theme (the database's template option), so that every run
    # also pays for the theme scan, as on a real site.
    theme = root / "wp-content" / "themes" / "twentytwentyfour"
    (theme / "patterns").mkdir(parents=True, exist_ok=True)
    (theme / "style.css").write_text("/*\nTheme Name: Twenty Twenty-Four\n*/\n")
    (theme / "functions.php").write_text(
        "<?php\nadd_action( 'init', function () { register_block_pattern_category( 'page', array( 'label' => 'Pages' ) ); } );\n"
    )
    for n in range(40):
        (theme / "patterns" / f"pattern-{n:02d}.php").write_text("<?php /** Title: Pattern */ ?>\n" + "<!-- wp:group -->\n" * 200)


def agent_environment(tmp: Path, pyc_cache: bool = True) -> Dict[str, str]:
    """Environment of the agent and of the interpreter floor.

    With ``pyc_cache`` (the default) Python may cache bytecode, in a directory
    of our own (PYTHONPYCACHEPREFIX), as an installed agent has it: pip
    compiles .pyc files at install time, while a PYTHONDONTWRITEBYTECODE=1
    environment would recompile the agent's modules on every run.
    """
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("IGNY8_DB_", "IGNY8_WP_PATH", "IGNY8_URL", "IGNY8_TABLE_PREFIX", "IGNY8_API"))
    }
    env["IGNY8_CONFIG_DIR"] = str(tmp / "etc")
    env["IGNY8_STATE_DIR"] = str(tmp / "state")
    if pyc_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


GNU_TIME = shutil.which("time") or ""  # GNU time (Debian: apt-get install time)


def timed(argv: Sequence[str], env: Dict[str, str], ok: Sequence[int] = (0,)) -> Tuple[float, float]:
    """Run argv to completion: (wall ms, peak RSS MB of that process).

    The peak RSS comes from GNU time (``%M``), which forks the command from a
    ~1 MB process. os.wait4 on our own child would be wrong here: Linux
    carries the RSS high-water mark of the forked copy of this benchmark
    (~30 MB, pymysql loaded) across exec into the child's ru_maxrss, so every
    command would read about as big as the benchmark itself. Without GNU time
    wait4 is used and the figure is only an upper bound (see rss_method).
    """
    with tempfile.NamedTemporaryFile(prefix="igny8-bench-rss-") as rss, tempfile.TemporaryFile() as errors:
        full = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else list(argv)
        started = time.perf_counter()
        proc = subprocess.Popen(full, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - started) * 1000.0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            errors.seek(0)
            detail = errors.read().decode("utf-8", "replace").strip()
            raise RuntimeError(f"{' '.join(argv[:2])} ... exited {proc.returncode}: {detail}")
        if GNU_TIME:
            peak_kib = int(Path(rss.name).read_text().split()[-1])
        else:
            peak_kib = usage.ru_maxrss
    return wall, peak_kib / 1024.0


def rss_method() -> str:
    return "GNU time %M" if GNU_TIME else "os.wait4 ru_maxrss (upper bound: includes this script's RSS at fork)"


SQL_OK = (0, 1)  # the client exits 1 after the expected wp_blogs error (--force)


def mariadb_argv(database: str) -> List[str]:
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise RuntimeError("the mariadb client is not installed")
    # --force: the agent probes for wp_blogs, which a single site lacks (an error it expects)
    return [client, "--force", "-h", DB_HOST, "-P", str(DB_PORT), "-u", DB_USER, database,
            "-e", ";\n".join(agent_sql()) + ";"]


def client_environment() -> Dict[str, str]:
    env = dict(os.environ)
    if DB_PASSWORD:
        env["MYSQL_PWD"] = DB_PASSWORD
    return env


# -- sanity checks ---------------------------------------------------------------

_RECORDER = r"""
import json, sys
from pymysql.connections import Connection
from pymysql.constants import COMMAND
seen = []
original = Connection._execute_command
def record(self, command, sql):
    if command == COMMAND.COM_QUERY:
        seen.append(sql.decode("utf-8", "replace") if isinstance(sql, (bytes, bytearray)) else sql)
    return original(self, command, sql)
Connection._execute_command = record
from igny8_agent.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
finally:
    with open(sys.argv[1], "w") as handle:
        json.dump(seen, handle)
"""


def check_sql_drift(python: str, root: Path, env: Dict[str, str], tmp: Path) -> List[str]:
    """What the agent really sends, compared with AGENT_SQL; returns the differences."""
    out = tmp / "agent-sql.json"
    subprocess.run(
        [python, "-c", _RECORDER, str(out), "structure", "--path", str(root), "--format", "json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=600,
    )
    norm = lambda s: " ".join(s.split())  # noqa: E731
    sent = [norm(s) for s in json.loads(out.read_text())]
    ours = [norm(s) for s in agent_sql()]
    if sent == ours:
        return []
    return [f"agent sends:  {s}" for s in sent if s not in ours] + [
        f"bench floor has: {s}" for s in ours if s not in sent
    ] or ["same statements in a different order"]


def verify_counts(agent: str, root: Path, env: Dict[str, str], size: int) -> None:
    """The agent's JSON counts must equal what SQL says; raise if not."""
    out = subprocess.run(
        [agent, "structure", "--path", str(root), "--format", "json"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"agent failed (exit {out.returncode}): {out.stderr.strip()}")
    body = json.loads(out.stdout)
    with connect(db_name(size)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{PREFIX}posts`")
        total = cur.fetchone()[0]
        cur.execute(
            f"SELECT post_type, COUNT(*) FROM `{PREFIX}posts` IGNORE INDEX (type_status_date)"
            " WHERE post_status = 'publish' GROUP BY post_type"
        )
        published = {t: int(c) for t, c in cur.fetchall()}
        cur.execute(f"SELECT taxonomy, COUNT(*) FROM `{PREFIX}term_taxonomy` IGNORE INDEX (taxonomy) GROUP BY taxonomy")
        terms = {t: int(c) for t, c in cur.fetchall()}
    problems = []
    if total != size:
        problems.append(f"{PREFIX}posts has {total} rows, expected {size}")
    for kind, truth in (("post_types", published), ("taxonomies", terms)):
        for slug, entry in body.get(kind, {}).items():
            if entry["count"] != truth.get(slug, 0):
                problems.append(f"{kind}.{slug}: agent says {entry['count']}, SQL says {truth.get(slug, 0)}")
    expected = {
        "post_types": ({"post", "page", "product"}, {"revision", "attachment", "nav_menu_item", "product_variation"}),
        "taxonomies": ({"category", "post_tag", "product_cat", "product_tag", "pa_color"},
                       {"pa_size", "product_type", "product_visibility", "nav_menu"}),
    }
    for kind, (listed, hidden) in expected.items():
        have = set(body.get(kind, {}))
        problems += [f"{kind}.{s} missing from the agent's output" for s in sorted(listed - have)]
        problems += [f"{kind}.{s} listed but not public" for s in sorted(hidden & have)]
    if problems:
        raise RuntimeError(f"agent output disagrees with the database at {size} posts:\n  " + "\n  ".join(problems))


# -- measuring -------------------------------------------------------------------


def measure(size: int, runs: int, python: str, agent: str, tmp: Path, pyc_cache: bool = True) -> Dict:
    root = tmp / f"site-{size}"
    write_wordpress_root(root, db_name(size))
    env = agent_environment(tmp, pyc_cache)
    client_env = client_environment()
    commands = {
        "agent": ([agent, "structure", "--path", str(root), "--format", "json"], env),
        "sql": (mariadb_argv(db_name(size)), client_env),
        "interp": ([python, "-c", "import typer, pymysql"], env),
    }
    verify_counts(agent, root, env, size)
    drift = check_sql_drift(python, root, env, tmp)
    for _ in range(2):  # warm-up: page cache, .pyc files, buffer pool
        for name, (argv, e) in commands.items():
            timed(argv, e, ok=SQL_OK if name == "sql" else (0,))
    samples: Dict[str, List[Tuple[float, float]]] = {k: [] for k in commands}
    order = list(commands)
    for i in range(runs):
        for name in order[i % len(order):] + order[:i % len(order)]:  # rotate who goes first
            argv, e = commands[name]
            samples[name].append(timed(argv, e, ok=SQL_OK if name == "sql" else (0,)))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    result = {
        "size": size,
        "runs": runs,
        "agent_ms": med([w for w, _ in samples["agent"]]),
        "sql_ms": med([w for w, _ in samples["sql"]]),
        "interp_ms": med([w for w, _ in samples["interp"]]),
        "agent_rss_mb": max(r for _, r in samples["agent"]),
        "sql_rss_mb": max(r for _, r in samples["sql"]),
        "interp_rss_mb": max(r for _, r in samples["interp"]),
        "samples_ms": {k: [round(w, 1) for w, _ in v] for k, v in samples.items()},
        "sql_drift": drift,
    }
    # Ratios: the median of the per-iteration ratios (the three ran back to
    # back, so they share that moment's machine noise); the ratio of the
    # medians is kept too.
    for floor in ("sql", "interp"):
        result[f"agent_{floor}_ratio"] = med(
            [a / f for (a, _), (f, _) in zip(samples["agent"], samples[floor])])
        result[f"agent_{floor}_ratio_of_medians"] = result["agent_ms"] / result[f"{floor}_ms"]
    result["targets"] = targets(result)
    return result


TARGET_LABELS = {
    "sql": f"agent <= {SQL_TARGET_RATIO}x SQL floor (at >= {SQL_TARGET_MIN_SIZE:,} posts)",
    "interp": f"agent <= {INTERP_TARGET_RATIO}x interpreter floor (at <= {INTERP_TARGET_MAX_SIZE:,} posts)",
    "rss": f"agent peak RSS < {RSS_TARGET_MB:g} MB (every size)",
}


def targets(r: Dict) -> Dict[str, Optional[bool]]:
    """True / False per target; None where a target does not apply at this size."""
    return {
        "sql": r["agent_sql_ratio"] <= SQL_TARGET_RATIO if r["size"] >= SQL_TARGET_MIN_SIZE else None,
        "interp": r["agent_interp_ratio"] <= INTERP_TARGET_RATIO if r["size"] <= INTERP_TARGET_MAX_SIZE else None,
        "rss": r["agent_rss_mb"] < RSS_TARGET_MB,
    }


def _verdict(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def print_table(results: List[Dict]) -> None:
    headers = ["size", "agent ms", "SQL floor ms", "agent/SQL", "interp floor ms", "agent/interp",
               "agent peak RSS MB", "targets met?"]
    rows = []
    for r in results:
        short = [f"{key} {_verdict(ok)}" for key, ok in r["targets"].items() if ok is not None]
        rows.append([
            f"{r['size']:,}", f"{r['agent_ms']:.0f}", f"{r['sql_ms']:.0f}", f"{r['agent_sql_ratio']:.2f}x",
            f"{r['interp_ms']:.0f}", f"{r['agent_interp_ratio']:.2f}x", f"{r['agent_rss_mb']:.1f}",
            ", ".join(short),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = lambda cells: " | ".join(c.rjust(w) if i < 7 else c.ljust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()
    for key, label in TARGET_LABELS.items():
        verdicts = [r["targets"][key] for r in results if r["targets"][key] is not None]
        if verdicts:
            print(f"{_verdict(all(verdicts)):4}  {label}")
        else:
            print(f"n/a   {label}: no size in range")
    for r in results:
        for line_ in r["sql_drift"]:
            print(f"WARNING: at {r['size']:,} posts the SQL floor is stale: {line_}")


# -- main ------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated numbers of posts (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per size; medians are reported (default: 7)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary WordPress root and config/state directories and print where")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the databases even if they exist")
    parser.add_argument("--drop", action="store_true", help="drop every igny8_bench_<N> database and exit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--no-pyc-cache", dest="pyc_cache", action="store_false",
                        help="run the agent with the environment's bytecode settings as they are"
                             " (by default .pyc files are cached in a temporary PYTHONPYCACHEPREFIX)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if not args.sizes or any(s < 100 for s in args.sizes):
        parser.error("--sizes must be at least 100 each")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (pymysql.MySQLError, RuntimeError, subprocess.SubprocessError) as exc:
        log(f"error: {exc}")
        return 1


def run(args: argparse.Namespace) -> int:
    if args.drop:
        dropped = drop_databases()
        log(f"dropped {len(dropped)} database(s): {', '.join(dropped) or '-'}")
        return 0

    bin_dir = Path(sys.executable).parent
    python = sys.executable
    agent = bin_dir / "igny8-agent"
    if not agent.exists():
        log(f"error: {agent} not found: run this script with the python of the venv where igny8-agent is installed")
        return 2

    builds: Dict[int, Optional[float]] = {}
    for size in args.sizes:
        state = "stale" if args.rebuild else database_state(size)
        if state == "ready":
            log(f"{db_name(size)}: reusing (--rebuild to rebuild)")
            builds[size] = None
        else:
            log(f"{db_name(size)}: building {size:,} posts ...")
            builds[size] = build_database(size)
            log(f"{db_name(size)}: built in {builds[size]:.1f} s")

    tmp = Path(tempfile.mkdtemp(prefix="igny8-bench-"))
    results = []
    try:
        for size in args.sizes:
            log(f"{db_name(size)}: measuring, {args.runs} runs ...")
            r = measure(size, args.runs, python, str(agent), tmp, args.pyc_cache)
            r["build_s"] = builds[size]
            results.append(r)
    finally:
        if args.keep:
            log(f"kept the WordPress roots and config/state directories in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps({
            "pyc_cache": args.pyc_cache,
            "rss_method": rss_method(),
            "targets": {"sql_ratio": SQL_TARGET_RATIO, "sql_min_size": SQL_TARGET_MIN_SIZE,
                        "interp_ratio": INTERP_TARGET_RATIO, "interp_max_size": INTERP_TARGET_MAX_SIZE,
                        "rss_mb": RSS_TARGET_MB},
            "results": results,
        }, indent=2))
    else:
        for size, seconds in builds.items():
            if seconds is not None:
                print(f"built {db_name(size)} in {seconds:.1f} s")
        print_table(results)
        if not GNU_TIME:
            print(f"NOTE: peak RSS by {rss_method()}; install GNU time for exact figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
