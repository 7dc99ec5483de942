"""Generated fleets of WordPress sites on one database server, fast.

* :func:`make_network` - one multisite network with WordPress's real schema:
  the network tables (``wp_blogs``, ``wp_site``, ``wp_sitemeta``, ...), the
  main site's tables and ten ``wp_N_*`` tables per subsite, every site
  installed with its own ``home``/``siteurl`` and its own content, and a
  WordPress root whose wp-config.php defines the multisite constants.
* :func:`make_installs` - many single-site installs: some with a database of
  their own, some sharing one database under different table prefixes, some
  reaching the server over its Unix socket (``DB_HOST 'localhost:/path'``).
* :func:`register_sites` / :func:`pushes_by_site` - the contract server's
  side: a backend site per URL, and the structure pushes it received per site.

Speed: the subsites' tables are made with ``CREATE TABLE ... LIKE`` the main
site's (the same definition WordPress gives them) by a few connections at
once, the rows of many sites go in one round trip and one transaction per
batch. Creating and dropping tables costs the server a few milliseconds each
(files, fsync), so a 1,000-subsite network (10,000 tables) takes a minute or
so; 200 subsites take seconds.

Content is a function of the site's number ``n`` (the blog id, or the
install's number + 1), so every site's structure differs from the others'
(see :func:`expected_counts`). Standard library + pymysql; usable from tests
and benchmarks (``sys.path`` must hold this directory for ``wp_schema``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import pymysql
from pymysql.constants import CLIENT

from wp_schema import blog_tables, create_site_sql

DB_HOST = os.environ.get("IGNY8_TEST_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("IGNY8_TEST_DB_PORT", "3306"))
DB_USER = os.environ.get("IGNY8_TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("IGNY8_TEST_DB_PASSWORD", "")

BLOG_TABLE_NAMES = tuple(re.match(r"CREATE TABLE `x_(\w+)`", s).group(1) for s in blog_tables("x_"))
WORKERS = 8  # connections creating tables at once (the server waits on fsync, not CPU)
BATCH = 20  # sites per round trip / transaction
PUSH_PATH = re.compile(r"/integration/integrations/(\d+)/update-structure/\Z")


def connect(database: Optional[str] = None, *, unix_socket: Optional[str] = None) -> Any:
    """A root connection that may send many statements in one round trip."""
    where: Dict[str, Any] = {"unix_socket": unix_socket} if unix_socket else {"host": DB_HOST, "port": DB_PORT}
    return pymysql.connect(
        user=DB_USER, password=DB_PASSWORD, database=database, charset="utf8mb4", autocommit=True,
        connect_timeout=10, client_flag=CLIENT.MULTI_STATEMENTS, **where,
    )


def run_sql(conn: Any, statements: Sequence[str]) -> None:
    """Statements in one round trip (multi-statement), each result drained."""
    if not statements:
        return
    with conn.cursor() as cur:
        cur.execute(";\n".join(statements))
        while cur.nextset():
            pass


def _q(conn: Any, value: object) -> str:
    return conn.escape(value)


def server_socket() -> Optional[str]:
    """The server's Unix socket (``@@socket``) when this host can use it."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@socket")
            (path,) = cur.fetchone()
    finally:
        conn.close()
    if path and os.path.exists(path):
        try:
            connect(unix_socket=path).close()
            return path
        except pymysql.MySQLError:
            return None
    return None


def new_database_name(kind: str) -> str:
    return f"igny8_test_{kind}_{secrets.token_hex(5)}"


def create_database(name: str) -> None:
    conn = connect()
    try:
        run_sql(conn, [f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"])
    finally:
        conn.close()


def drop_databases(names: Iterable[str], workers: int = WORKERS) -> None:
    """Drop databases, their tables first by several connections at once
    (a DROP DATABASE of thousands of tables alone takes much longer)."""
    names = list(names)
    tables: List[str] = []
    conn = connect()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (name,))
                tables += [f"`{name}`.`{t}`" for (t,) in cur.fetchall()]
        chunks = [tables[i:i + 50] for i in range(0, len(tables), 50)]
        _parallel([lambda c, chunk=chunk: run_sql(c, ["DROP TABLE IF EXISTS " + ", ".join(chunk)])
                   for chunk in chunks], workers)
        run_sql(conn, [f"DROP DATABASE IF EXISTS `{name}`" for name in names])
    finally:
        conn.close()


def _parallel(jobs: Sequence[Callable[[Any], None]], workers: int, database: Optional[str] = None) -> None:
    """Run ``job(conn)`` for every job on ``workers`` connections of their own."""
    if not jobs:
        return
    local = threading.local()
    made: List[Any] = []
    lock = threading.Lock()

    def run(job: Callable[[Any], None]) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(database)
            with lock:
                made.append(conn)
        job(conn)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            for future in [pool.submit(run, job) for job in jobs]:
                future.result()
    finally:
        for conn in made:
            conn.close()


# -- what a site holds -----------------------------------------------------------


def expected_counts(n: int) -> Dict[str, Dict[str, int]]:
    """The counts site number ``n`` has: published posts and pages, categories
    and tags. (posts, pages, categories) differ for every n below 1,000."""
    return {
        "post_types": {"post": n % 10 + 1, "page": (n // 10) % 10 + 1},
        "taxonomies": {"category": (n // 100) % 10 + 1, "post_tag": n % 7},
    }


def site_rows_sql(conn: Any, prefix: str, n: int, home: str, title: str) -> List[str]:
    """INSERTs that install a site in the tables ``{prefix}*`` (created, empty)
    as wp_install() would, with the content of site number ``n``: published
    and draft posts, pages, an attachment, categories and tags."""
    counts = expected_counts(n)
    options = [("siteurl", home), ("home", home), ("blogname", title), ("blogdescription", ""),
               ("active_plugins", "a:0:{}"), ("blog_public", "1")]
    rows = []
    posts = counts["post_types"]
    for post_type, status, count in (("post", "publish", posts["post"]), ("post", "draft", n % 3),
                                     ("page", "publish", posts["page"]), ("page", "draft", 1),
                                     ("attachment", "inherit", 1)):
        for i in range(count):
            rows.append(f"(1, NOW(), UTC_TIMESTAMP(), '', {_q(conn, f'{title} {post_type} {i}')}, '',"
                        f" '{status}', '', '', '', NOW(), UTC_TIMESTAMP(), '', 0, '{post_type}')")
    terms, taxonomies = [], []
    term_id = 0
    for taxonomy, count in counts["taxonomies"].items():
        for i in range(count):
            term_id += 1
            name = "Uncategorized" if (taxonomy, i) == ("category", 0) else f"{taxonomy} {n}-{i}"
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
            terms.append(f"({term_id}, {_q(conn, name)}, {_q(conn, slug)}, 0)")
            taxonomies.append(f"({term_id}, {term_id}, '{taxonomy}', '', 0, 0)")
    return [
        f"INSERT INTO `{prefix}options` (option_name, option_value, autoload) VALUES "
        + ", ".join(f"({_q(conn, k)}, {_q(conn, v)}, 'yes')" for k, v in options),
        f"INSERT INTO `{prefix}posts` (post_author, post_date, post_date_gmt, post_content, post_title,"
        " post_excerpt, post_status, post_name, to_ping, pinged, post_modified, post_modified_gmt,"
        " post_content_filtered, post_parent, post_type) VALUES " + ", ".join(rows),
        f"INSERT INTO `{prefix}terms` (term_id, name, slug, term_group) VALUES " + ", ".join(terms),
        f"INSERT INTO `{prefix}term_taxonomy` (term_taxonomy_id, term_id, taxonomy, description, parent, count)"
        " VALUES " + ", ".join(taxonomies),
    ]


def _transaction(statements: List[str]) -> List[str]:
    return ["START TRANSACTION", *statements, "COMMIT"]


def write_wp_config(root: Path, db_name: str, prefix: str = "wp_", host: Optional[str] = None,
                    extra: str = "") -> Path:
    """A WordPress root: core marker files and a wp-config.php like the stock sample."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-load.php").write_text("<?php // core\n")
    (root / "wp-config.php").write_text(
        "<?php\n"
        f"define( 'DB_NAME', '{db_name}' );\n"
        f"define( 'DB_USER', '{DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{host or f'{DB_HOST}:{DB_PORT}'}' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\n"
        "define( 'DB_COLLATE', '' );\n"
        f"$table_prefix = '{prefix}';\n"
        f"{extra}"
        "define( 'WP_DEBUG', false );\n"
        "if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    return root


# -- a multisite network -----------------------------------------------------------


@dataclass
class Blog:
    """One site of the network (``{prefix}blogs`` row)."""

    blog_id: int
    domain: str
    path: str
    home: str
    network_id: int = 1
    archived: bool = False
    deleted: bool = False
    spam: bool = False

    @property
    def served(self) -> bool:
        """What WordPress serves on the network of SITE_ID_CURRENT_SITE (1)."""
        return self.network_id == 1 and not (self.archived or self.deleted or self.spam)

    @property
    def expected(self) -> Dict[str, Dict[str, int]]:
        return expected_counts(self.blog_id)


@dataclass
class Network:
    name: str  # the database
    root: Path
    prefix: str
    domain: str
    subdirectory: bool
    scheme: str
    blogs: Dict[int, Blog] = field(default_factory=dict)
    seconds: float = 0.0  # how long creating it took
    _own_root: bool = False

    def served(self) -> List[Blog]:
        return [b for b in self.blogs.values() if b.served]

    def not_served(self) -> List[Blog]:
        return [b for b in self.blogs.values() if not b.served]

    def blog_for(self, blog_id: int) -> Blog:
        if self.subdirectory:
            domain, path = self.domain, "/" if blog_id == 1 else f"/site{blog_id}/"
        else:
            domain, path = (self.domain if blog_id == 1 else f"site{blog_id}.{self.domain}"), "/"
        return Blog(blog_id, domain, path, f"{self.scheme}://{domain}{path.rstrip('/')}")

    def add_subsite(self, blog_id: Optional[int] = None, **flags: bool) -> Blog:
        """A subsite created later (tables, rows, wp_blogs row), as wp_insert_site() does."""
        blog = self.blog_for(blog_id or max(self.blogs) + 1)
        for name, value in flags.items():
            setattr(blog, name, value)
        conn = connect(self.name)
        try:
            run_sql(conn, _subsite_tables(self.prefix, blog.blog_id))
            run_sql(conn, _transaction(_blog_rows(conn, self.prefix, blog)))
        finally:
            conn.close()
        self.blogs[blog.blog_id] = blog
        return blog

    def set_flags(self, blog_id: int, **flags: bool) -> None:
        """Archive / delete / mark as spam (or undo) as the Network Admin does."""
        blog = self.blogs[blog_id]
        for name, value in flags.items():
            if name not in ("archived", "deleted", "spam"):
                raise ValueError(name)
            setattr(blog, name, value)
        conn = connect(self.name)
        try:
            with conn.cursor() as cur:
                cur.execute(f"UPDATE `{self.prefix}blogs` SET archived = %s, deleted = %s, spam = %s"
                            " WHERE blog_id = %s", (int(blog.archived), int(blog.deleted), int(blog.spam), blog_id))
        finally:
            conn.close()

    def drop(self) -> None:
        drop_databases([self.name])
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()


def _subsite_tables(prefix: str, blog_id: int) -> List[str]:
    return [f"CREATE TABLE `{prefix}{blog_id}_{t}` LIKE `{prefix}{t}`" for t in BLOG_TABLE_NAMES]


def _blog_rows(conn: Any, prefix: str, blog: Blog) -> List[str]:
    table_prefix = prefix if blog.blog_id == 1 else f"{prefix}{blog.blog_id}_"
    return site_rows_sql(conn, table_prefix, blog.blog_id, blog.home, f"Site {blog.blog_id}") + [
        f"INSERT INTO `{prefix}blogs` (blog_id, site_id, domain, path, registered, last_updated,"
        f" archived, deleted, spam) VALUES ({blog.blog_id}, {blog.network_id}, {_q(conn, blog.domain)},"
        f" {_q(conn, blog.path)}, NOW(), NOW(), {int(blog.archived)}, {int(blog.deleted)}, {int(blog.spam)})",
    ]


def network_config(domain: str, subdirectory: bool = True) -> str:
    """The lines Network Setup tells the admin to add to wp-config.php."""
    return (
        "define( 'WP_ALLOW_MULTISITE', true );\n"
        "define( 'MULTISITE', true );\n"
        f"define( 'SUBDOMAIN_INSTALL', {'false' if subdirectory else 'true'} );\n"
        f"define( 'DOMAIN_CURRENT_SITE', '{domain}' );\n"
        "define( 'PATH_CURRENT_SITE', '/' );\n"
        "define( 'SITE_ID_CURRENT_SITE', 1 );\n"
        "define( 'BLOG_ID_CURRENT_SITE', 1 );\n"
    )


def make_network(
    n_subsites: int,
    *,
    root: Optional[Path] = None,
    archived: Iterable[int] = (),
    deleted: Iterable[int] = (),
    spam: Iterable[int] = (),
    other_network: Iterable[int] = (),
    domain: str = "network.test",
    subdirectory: bool = True,
    scheme: str = "https",
    prefix: str = "wp_",
    workers: int = WORKERS,
) -> Network:
    """A multisite network of ``n_subsites`` sites: blog 1 (the main site) and
    blogs 2..n_subsites. Blog ids in ``archived`` / ``deleted`` / ``spam`` have
    that flag set in ``{prefix}blogs``; those in ``other_network`` belong to a
    second network (site_id 2) of the same tables. ``root`` (default: a new
    temporary directory, removed by ``drop()``) gets the wp-config.php."""
    if n_subsites < 1:
        raise ValueError("a network has at least its main site")
    started = time.perf_counter()
    own_root = root is None
    root = Path(tempfile.mkdtemp(prefix="igny8-network-")) if root is None else Path(root)
    net = Network(new_database_name("net"), root, prefix, domain, subdirectory, scheme, _own_root=own_root)
    flags = {"archived": set(archived), "deleted": set(deleted), "spam": set(spam)}
    others = set(other_network)
    for blog_id in range(1, n_subsites + 1):
        blog = net.blog_for(blog_id)
        blog.archived, blog.deleted, blog.spam = (blog_id in flags[k] for k in ("archived", "deleted", "spam"))
        blog.network_id = 2 if blog_id in others else 1
        net.blogs[blog_id] = blog

    create_database(net.name)
    try:
        conn = connect(net.name)
        try:
            # users (network form), usermeta, the main site's tables, the network tables
            run_sql(conn, create_site_sql(prefix, multisite=True))
            network_rows = [
                f"INSERT INTO `{prefix}site` (id, domain, path) VALUES (1, {_q(conn, domain)}, '/')",
                f"INSERT INTO `{prefix}users` (user_login, user_pass, user_nicename, user_email, user_registered,"
                " display_name) VALUES ('admin', '', 'admin', 'admin@example.com', NOW(), 'admin')",
            ]
            meta = {"site_name": "Fleet network", "siteurl": net.blogs[1].home + "/",
                    "active_sitewide_plugins": "a:0:{}", "subdomain_install": "0" if subdirectory else "1",
                    "site_admins": 'a:1:{i:0;s:5:"admin";}'}
            network_rows.append(
                f"INSERT INTO `{prefix}sitemeta` (site_id, meta_key, meta_value) VALUES "
                + ", ".join(f"(1, {_q(conn, k)}, {_q(conn, v)})" for k, v in meta.items())
            )
            if others:
                network_rows.append(f"INSERT INTO `{prefix}site` (id, domain, path) VALUES"
                                    f" (2, {_q(conn, 'other.' + domain)}, '/')")
            run_sql(conn, _transaction(network_rows + _blog_rows(conn, prefix, net.blogs[1])))
        finally:
            conn.close()

        subsites = [net.blogs[i] for i in sorted(net.blogs) if i != 1]
        batches = [subsites[i:i + BATCH] for i in range(0, len(subsites), BATCH)]

        def batch_job(batch: List[Blog]) -> Callable[[Any], None]:
            def job(c: Any) -> None:
                run_sql(c, [s for b in batch for s in _subsite_tables(prefix, b.blog_id)])
                run_sql(c, _transaction([s for b in batch for s in _blog_rows(c, prefix, b)]))
            return job

        _parallel([batch_job(b) for b in batches], workers, net.name)
        write_wp_config(root, net.name, prefix, extra=network_config(domain, subdirectory))
    except BaseException:
        net.drop()
        raise
    net.seconds = time.perf_counter() - started
    return net


# -- single-site installs ------------------------------------------------------------


@dataclass
class Install:
    index: int
    root: Path
    database: str
    prefix: str
    db_host: str  # as in wp-config.php
    home: str
    shared: bool  # shares its database with other installs
    via_socket: bool

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def expected(self) -> Dict[str, Dict[str, int]]:
        return expected_counts(self.number)


@dataclass
class Installs:
    installs: List[Install]
    databases: List[str]
    root_dir: Path
    socket: Optional[str]
    seconds: float = 0.0

    def __iter__(self):
        return iter(self.installs)

    def __len__(self) -> int:
        return len(self.installs)

    def drop(self) -> None:
        drop_databases(self.databases)

    def __enter__(self) -> "Installs":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()


def install_layout(index: int, use_socket: bool) -> Dict[str, bool]:
    """Install ``index``'s kind, in turn: own database over TCP, shared
    database over TCP, own database over the socket, shared over the socket."""
    kind = index % 4
    return {"shared": kind in (1, 3), "via_socket": use_socket and kind in (2, 3)}


def make_installs(n: int, root_dir: Path, *, domain: str = "fleet.test", scheme: str = "https",
                  use_socket: bool = True, workers: int = WORKERS) -> Installs:
    """``n`` single-site installs under ``root_dir`` (``site-<i>/``), home
    ``https://install<i>.<domain>``, laid out as :func:`install_layout` says.
    The socket is the server's own (``SELECT @@socket``); where this host
    cannot use it, every install connects over TCP."""
    started = time.perf_counter()
    root_dir = Path(root_dir)
    socket = server_socket() if use_socket else None
    shared_db = new_database_name("shared")
    databases = [shared_db]
    installs: List[Install] = []
    for i in range(n):
        layout = install_layout(i, socket is not None)
        if layout["shared"]:
            database, prefix = shared_db, f"wp{i}_"
        else:
            database, prefix = new_database_name(f"site{i}"), "wp_"
            databases.append(database)
        host = f"localhost:{socket}" if layout["via_socket"] else f"{DB_HOST}:{DB_PORT}"
        installs.append(Install(i, root_dir / f"site-{i}", database, prefix, host,
                                f"{scheme}://install{i}.{domain}", layout["shared"], layout["via_socket"]))
    result = Installs(installs, databases, root_dir, socket)
    try:
        conn = connect()
        try:
            run_sql(conn, [f"CREATE DATABASE `{d}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"
                        for d in databases])
            # the template: a full install's tables made with WordPress's DDL
            template = "wp_tmpl_"
            run_sql(conn, [f"USE `{shared_db}`", *create_site_sql(template)])
        finally:
            conn.close()
        table_names = ("users", "usermeta") + BLOG_TABLE_NAMES

        def batch_job(batch: List[Install]) -> Callable[[Any], None]:
            def job(c: Any) -> None:
                run_sql(c, [f"CREATE TABLE `{s.database}`.`{s.prefix}{t}` LIKE `{shared_db}`.`{template}{t}`"
                         for s in batch for t in table_names])
                rows = []
                for s in batch:
                    rows.append(f"USE `{s.database}`")
                    rows += site_rows_sql(c, s.prefix, s.number, s.home, f"Install {s.index}")
                run_sql(c, _transaction(rows))
            return job

        _parallel([batch_job(installs[i:i + BATCH]) for i in range(0, n, BATCH)], workers)
        conn = connect(shared_db)
        try:
            run_sql(conn, [f"DROP TABLE " + ", ".join(f"`{template}{t}`" for t in table_names)])
        finally:
            conn.close()
        for s in installs:
            write_wp_config(s.root, s.database, s.prefix, host=s.db_host)
    except BaseException:
        result.drop()
        raise
    result.seconds = time.perf_counter() - started
    return result


# -- the backend's side ---------------------------------------------------------------


def register_sites(server: Any, account_id: int, homes: Iterable[str]) -> Dict[str, int]:
    """A backend site for each home URL (as IGNY8 lists them: trailing slash);
    returns home -> backend site id."""
    return {home: server.add_site(account_id, home.rstrip("/") + "/", name=home.split("://", 1)[-1])
            for home in homes}


def pushes_by_site(server: Any, requests: Optional[Sequence[Any]] = None,
                   accepted_only: bool = True) -> Dict[int, List[Any]]:
    """Backend site id -> the update-structure requests its integrations got
    (answered 200 unless ``accepted_only`` is false), in arrival order."""
    requests = server.requests_to("/update-structure/", "POST") if requests is None else requests
    by_site: Dict[int, List[Any]] = {}
    site_of: Dict[int, Optional[int]] = {}
    for request in requests:
        match = PUSH_PATH.search(request.path)
        if match is None or (accepted_only and request.status != 200):
            continue
        integration_id = int(match.group(1))
        if integration_id not in site_of:
            integration = server.get_integration(integration_id)
            site_of[integration_id] = integration["site"] if integration else None
        site_id = site_of[integration_id]
        if site_id is not None:
            by_site.setdefault(site_id, []).append(request)
    return by_site


def counts_of(payload: Dict[str, Any]) -> Dict[str, Dict[str, int]]:
    """The counts a push carried, in :func:`expected_counts`'s shape."""
    return {kind: {slug: entry["count"] for slug, entry in (payload.get(kind) or {}).items()}
            for kind in ("post_types", "taxonomies")}
