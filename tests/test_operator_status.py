"""What an operator sees: config type --reset, status --check for monitoring,
database hints that name the right setting, one config per multisite site.

The agent runs as a process against the loopback contract server and
MariaDB, as in test_e2e.py.
"""

from __future__ import annotations

import errno
import json
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pymysql
import pytest

from conftest import API_KEY, admin_connect, run_agent, write_wp_config
from igny8_agent.dberrors import explain

# -- 3. config type --reset ----------------------------------------------------


def _listed(site):
    dry = site.run("sync", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    return json.loads(dry.stdout)["post_types"]


def test_reset_undoes_an_exclude_and_every_message_says_what_the_sync_will_do(site):
    site.db.add_posts("page", "publish", 2)
    excluded = site.run("config", "type", "page", "--list", "exclude")
    assert excluded.returncode == 0, excluded.stderr
    assert excluded.stdout.strip().startswith("post type page: excluded from the sync")
    assert "page" not in _listed(site)

    still = site.run("config", "type", "page", "--enable", "--limit", "50")
    assert still.returncode == 0, still.stderr
    assert "excluded from the sync" in still.stdout and "enabled" not in still.stdout.split("(")[0]

    reset = site.run("config", "type", "page", "--reset")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "post type page: enabled, limit 100 (sent with the next sync)"
    assert "page" in _listed(site)
    config = next((site.state_dir.parent / "etc" / "sites").glob("*.toml")).read_text()
    assert '"page"' not in config and "[post_type.page]" not in config

    included = site.run("config", "type", "wp_block", "--post-type", "--list", "include", "--limit", "50")
    assert included.returncode == 0, included.stderr
    assert included.stdout.strip() == (
        "post type wp_block: included even if not public, disabled, limit 50 (sent with the next sync)")


def test_a_taxonomy_is_called_a_taxonomy(site):
    result = site.run("config", "type", "category", "--disable")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "taxonomy category: disabled, limit 100 (sent with the next sync)"


# -- 6. status --check -----------------------------------------------------------


def _check(site, *args):
    started = time.monotonic()
    result = site.run("status", "--check", *args)
    elapsed = time.monotonic() - started
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    return result.returncode, lines[0], elapsed


def _edit_state(site, **values):
    path = next(site.state_dir.glob("*.state.json"))
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data))


def _hours_ago(hours: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_check_is_critical_when_not_connected(site):
    code, line, _ = _check(site)
    assert code == 2
    assert line.startswith("IGNY8 CRITICAL - not connected")
    assert line.endswith(" | age=U;129600;;0")


def test_check_is_ok_after_a_sync_and_warns_when_the_success_is_old(site, backend):
    assert site.connect().returncode == 0
    requests = len(backend.requests)
    code, line, elapsed = _check(site)
    assert code == 0, line
    assert line.startswith("IGNY8 OK - last success just now; site ")
    assert line.split(" | ")[1].startswith("age=") and line.endswith("s;129600;;0")
    assert len(backend.requests) == requests  # the local state only: no backend call
    assert elapsed < 10

    _edit_state(site, last_success=_hours_ago(40))
    code, line, _ = _check(site)
    assert code == 1, line
    assert line.startswith("IGNY8 WARNING - last success 1 day ago, older than 36 h")
    assert 143990 <= int(line.split("age=")[1].split("s;")[0]) <= 144010  # 40 h
    assert line.endswith("s;129600;;0")
    code, line, _ = _check(site, "--max-age", "48")
    assert code == 0 and "age=" in line and line.endswith(";172800;;0"), line


def test_check_is_critical_when_the_key_was_refused_although_status_exits_0(site, backend):
    assert site.connect().returncode == 0
    backend.revoke_key(API_KEY)
    failed = site.run("sync")
    assert failed.returncode == 5, failed.stderr
    shown = site.run("status", "--local")
    assert shown.returncode == 0 and "last sync failed" in shown.stdout
    code, line, _ = _check(site)
    assert code == 2, line
    assert line.startswith("IGNY8 CRITICAL - API key refused by the backend just now: ")
    assert "last success just now" in line


def test_check_orders_outcomes_by_sequence_not_by_clock(site):
    """A failure recorded after a success whose time lies in the future
    (clock stepped back) is still the last outcome."""
    assert site.connect().returncode == 0
    state = site.state()
    _edit_state(site, last_success=(datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                last_error={"at": _hours_ago(1), "message": "backend unreachable | try later", "status": None,
                            "temporary": True, "seq": state["seq"] + 1},
                seq=state["seq"] + 1)
    code, line, _ = _check(site)
    assert code == 2, line
    assert line.startswith("IGNY8 CRITICAL - last sync failed 1 hour ago (temporary, the next run retries): "
                           "backend unreachable / try later")
    assert line.count("|") == 1


def test_check_is_unknown_when_the_state_cannot_be_read(site):
    assert site.connect().returncode == 0
    next(site.state_dir.glob("*.state.json")).write_text("{not json")
    code, line, _ = _check(site)
    assert code == 3, line
    assert line.startswith("IGNY8 UNKNOWN - the state file ") and "damaged" in line
    bad = site.run("status", "--check", "--max-age", "0")
    assert bad.returncode == 3 and bad.stdout.startswith("IGNY8 UNKNOWN - --max-age must be a positive")


def test_status_help_documents_its_exit_codes():
    result = run_agent("status", "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for words in ("0 the status was shown", "5 the backend refused the key", "6 the backend could not be reached",
                  "--check", "0 OK, 1 WARNING", "2 CRITICAL", "3 UNKNOWN"):
        assert words in text, words


# -- 7. database hints ---------------------------------------------------------------


@pytest.fixture
def db_user(mariadb_server):
    """Factory: a MariaDB user with SELECT on ``database`` (or on nothing)."""
    made = []

    def make(database=None):
        user, password = f"igny8_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            made.append(user)
            if database:
                cur.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
        return user, password

    yield make
    with admin_connect() as conn, conn.cursor() as cur:
        for user in made:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def _db_error(tmp_path, agent_env, name, user=None, password=None):
    root = write_wp_config(tmp_path / "wp", name, user=user, password=password)
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_mistyped_db_name_says_check_db_name(tmp_path, agent_env, wpdb, db_user):
    as_root = _db_error(tmp_path, agent_env, wpdb.name + "_typo")  # a user who may see every database
    assert f"database '{wpdb.name}_typo' does not exist" in as_root and "check DB_NAME" in as_root
    user, password = db_user(wpdb.name)  # to this user the server only says "access denied"
    line = _db_error(tmp_path, agent_env, wpdb.name + "_typo", user, password)
    assert "check DB_NAME" in line and "DB_PASSWORD" not in line


def test_a_user_without_grants_is_told_the_grant(tmp_path, agent_env, wpdb, db_user):
    user, password = db_user(None)
    line = _db_error(tmp_path, agent_env, wpdb.name, user, password)
    assert f"GRANT SELECT ON `{wpdb.name}`.* TO '{user}'@'" in line
    assert "DB_PASSWORD" not in line


def test_a_wrong_password_says_check_db_user_and_password(tmp_path, agent_env, wpdb, db_user):
    user, _ = db_user(wpdb.name)
    line = _db_error(tmp_path, agent_env, wpdb.name, user, "not-the-password")
    assert "check DB_USER / DB_PASSWORD" in line and "GRANT" not in line


class _SilentServer:
    """Accepts TCP connections on loopback and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self):
        self.stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("connect, budget, said", [
    ("1", "20", "within 1 s while connecting (the connect timeout: IGNY8_DB_CONNECT_TIMEOUT"),
    ("20", "1", "within 1 s while connecting (the run's database time budget: IGNY8_DB_TIMEOUT"),
])
def test_a_connect_timeout_names_the_limit_that_applied(tmp_path, agent_env, connect, budget, said):
    server = _SilentServer()
    try:
        root = write_wp_config(tmp_path / "wp", "wordpress", host=f"127.0.0.1:{server.port}")
        started = time.monotonic()
        result = run_agent("structure", "--format", "json", "--path", str(root), timeout=30,
                           env=dict(agent_env, IGNY8_DB_CONNECT_TIMEOUT=connect, IGNY8_DB_TIMEOUT=budget))
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.returncode == 4
    assert said in result.stderr
    assert elapsed < 8, f"said 1 s, waited {elapsed:.1f} s"


def test_the_systems_connect_timeout_is_not_reported_as_the_agents():
    """The kernel gave up (ETIMEDOUT) before the agent's limit: the message
    must not claim the agent's limit was reached."""
    settings = SimpleNamespace(where=lambda: "db.example:3306", connect_timeout=30.0, read_timeout=30.0,
                               name="wp", user="wp")
    exc = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db.example' (timed out)")
    exc.original_exception = TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    message = str(explain(exc, settings, connecting=True, account=lambda: "'wp'@'%'"))
    assert "system's TCP connect timed out before the agent's 30 s limit" in message
    assert "did not answer within 30 s" not in message


# -- 8. multisite: one config per backend site ------------------------------------------


MS_CONFIG = ("define( 'MULTISITE', true );\ndefine( 'SUBDOMAIN_INSTALL', false );\n"
             "define( 'DOMAIN_CURRENT_SITE', 'network.test' );\ndefine( 'PATH_CURRENT_SITE', '/' );\n"
             "define( 'SITE_ID_CURRENT_SITE', 1 );\ndefine( 'BLOG_ID_CURRENT_SITE', 1 );")


@pytest.fixture
def network(tmp_path, make_wpdb, agent_env, backend):
    db = make_wpdb(multisite=True)
    db.install("http://network.test")
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'network.test', '/', NOW(), NOW())")
    db.add_subsite(2, "network.test", "/shop/", home="http://network.test/shop")
    root = write_wp_config(tmp_path / "wordpress", db.name, extra=MS_CONFIG)
    env = dict(agent_env, IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url)

    def run(*args, input=None):
        return run_agent(*args, "--path", str(root), env=env, input=input)

    def connect(*args):
        return run("connect", "--api-key-stdin", *args, input=API_KEY + "\n")

    configs = tmp_path / "etc" / "sites"
    return SimpleNamespace(db=db, root=root, run=run, connect=connect,
                           configs=lambda: sorted(p.stem for p in configs.glob("*.toml")),
                           states=lambda: sorted((tmp_path / "state").glob("*.state.json")))


def _account(backend):
    return backend._sites[backend.site_id]["account"]


def test_main_site_with_and_without_url_share_one_config_named_after_it(network, backend):
    account = _account(backend)
    backend.add_site(account, "http://network.test/", name="Network")
    backend.add_site(account, "http://network.test/shop/", name="Shop")
    plain = network.connect()
    assert plain.returncode == 0, plain.stderr
    with_url = network.connect("--url", "http://network.test/")
    assert with_url.returncode == 0, with_url.stderr
    assert len(network.configs()) == 1, network.configs()
    assert network.configs()[0].startswith("network-test-")

    shop = network.connect("--url", "http://network.test/shop/")
    assert shop.returncode == 0, shop.stderr
    names = network.configs()
    assert len(names) == 2 and any(n.startswith("network-test-shop-") for n in names), names


def test_a_mistyped_subsite_is_exit_3_and_never_says_connected(network, backend):
    account = _account(backend)
    backend.add_site(account, "http://network.test/", name="Network")
    before = len(backend.requests)
    result = network.connect("--url", "http://network.test/shpo/")
    assert result.returncode == 3, result.stderr
    assert "no site of this multisite network matches --url" in result.stderr
    assert "Connected" not in result.stderr + result.stdout
    assert network.configs() == [] and network.states() == []
    assert len(backend.requests) == before


def test_connected_is_said_only_once_the_backend_knows_the_site(network):
    """The network's main site is not a site of this account on the backend."""
    result = network.connect()
    assert result.returncode == 5, result.stderr
    assert "Site not found" in result.stderr
    assert "Connected" not in result.stderr.replace("Site not found", "")


def test_a_config_under_the_old_name_is_still_used(network, backend):
    import hashlib
    import re

    account = _account(backend)
    backend.add_site(account, "http://network.test/", name="Network")
    root = str(network.root.resolve())
    old = re.sub(r"[^A-Za-z0-9]+", "-", root).strip("-")[-40:] + "-" + hashlib.sha256(root.encode()).hexdigest()[:8]
    configs = network.root.parent / "etc" / "sites"
    configs.mkdir(parents=True, mode=0o700)
    (network.root.parent / "etc").chmod(0o700)
    (configs / f"{old}.toml").write_text("[listing]\nexclude_post_types = [\"page\"]\n")
    (configs / f"{old}.toml").chmod(0o600)
    result = network.connect()
    assert result.returncode == 0, result.stderr
    assert network.configs() == [old]
