"""`igny8-agent doctor`: every link from WordPress to the backend, end to end.

The agent runs as a process (conftest's ``site`` / ``run_agent``) against the
loopback contract server and the real MariaDB; each broken link is broken for
real (a missing file, a closed port, a revoked key, an untrusted
certificate, a user without access) and must show as its own ✗ with the
documented exit code, the links it does not depend on still checked.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import ssl
import subprocess
import time
from typing import Dict, Tuple

import pytest

from conftest import API_KEY, admin_connect, run_agent, write_wp_config
from contract_server import ContractServer
from igny8_agent import schedule
from igny8_agent.dbgrants import parse_grant, read_only_statements, write_privileges

ALL_CHECKS = ("wordpress", "wp_config", "database", "grants", "statement_limit", "tables", "api_key", "backend",
              "tls", "key_accepted", "clock", "schedule", "schedule_user", "last_run", "files")
TEST_USER = "igny8doctor"  # not test_operator_schedule.py's: each file makes and removes its own


@pytest.fixture
def doc(site, tmp_path):
    """The ``site`` fixture with a scratch root for schedules (never /etc) and
    ``doctor()`` -> (process, checks by name, JSON)."""
    site.sched_root = tmp_path / "sched-root"
    site.env = {schedule.ROOT_ENV: str(site.sched_root)}

    def doctor(*args, extra_env=None):
        result = site.run("doctor", "--json", *args, extra_env=dict(site.env, **(extra_env or {})))
        assert result.stdout.strip(), result.stderr
        data = json.loads(result.stdout)
        return result, {c["name"]: c for c in data["checks"]}, data

    site.doctor = doctor
    site.text = lambda *args, extra_env=None: site.run("doctor", *args, extra_env=dict(site.env, **(extra_env or {})))
    site.sched = lambda *args: site.run("schedule", *args, extra_env=site.env)
    return site


def statuses(checks: Dict[str, dict]) -> Dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


def connected(doc) -> None:
    result = doc.connect()
    assert result.returncode == 0, result.stderr


class DbUser:
    """A MariaDB account made for one test, dropped afterwards."""

    def __init__(self, database: str, privileges: str) -> None:
        self.name = f"igny8_t_{secrets.token_hex(4)}"
        self.password = "pw-" + secrets.token_hex(8)
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{self.name}'@'%' IDENTIFIED BY '{self.password}'")
            cur.execute(f"GRANT {privileges} ON `{database}`.* TO '{self.name}'@'%'")

    def drop(self) -> None:
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{self.name}'@'%'")


# -- healthy ------------------------------------------------------------------------


def test_a_healthy_connected_site_passes_every_link_and_exits_0(doc):
    reader = DbUser(doc.db.name, "SELECT")
    try:
        write_wp_config(doc.path, doc.db.name, user=reader.name, password=reader.password)
        connected(doc)
        installed = doc.sched("install", "--kind", "cron")
        assert installed.returncode == 0, installed.stderr

        result, checks, data = doc.doctor()
        assert result.returncode == 0, result.stdout
        expected = {name: "ok" for name in ALL_CHECKS}
        expected["tls"] = "skip"  # plain http:// to the loopback backend
        assert statuses(checks) == expected, result.stdout
        assert data["ok"] is True and data["exit_code"] == 0 and data["counts"] == {
            "ok": 14, "warn": 0, "fail": 0, "skip": 1}
        assert f"'{reader.name}'@'%' may read, not change, database {doc.db.name}" in checks["grants"]["detail"]
        assert "max_statement_time = 10 s" in checks["statement_limit"]["detail"]
        assert "https://example.com" in checks["tables"]["detail"]
        assert "dev@igny8.com (Acme)" in checks["key_accepted"]["detail"]
        assert "cron job" in checks["schedule"]["detail"]
        assert "runs as root" in checks["schedule_user"]["detail"]
        assert all(c["fix"] is None for c in checks.values())
        assert reader.password not in result.stdout + result.stderr

        text = doc.text()
        assert text.returncode == 0, text.stdout
        lines = text.stdout.splitlines()
        for name, check in checks.items():
            mark = "-" if name == "tls" else "✓"
            assert any(line.startswith(f"{mark} {check['title']}") for line in lines), text.stdout
        assert "fix:" not in text.stdout
        assert lines[-1] == "No link failed (14 ok, 0 warnings, 0 failed, 1 skipped)."
        assert text.stderr == ""
    finally:
        reader.drop()


# -- one ✗ per broken link ------------------------------------------------------------


def test_wordpress_not_found_fails_with_exit_3_and_skips_the_rest(doc, tmp_path, agent_env):
    empty = tmp_path / "not-wordpress"
    empty.mkdir()
    result = run_agent("doctor", "--json", "--path", str(empty), env=dict(agent_env, **doc.env))
    assert result.returncode == 3, result.stdout
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["wordpress"]["status"] == "fail"
    assert "no WordPress installation found" in checks["wordpress"]["detail"]
    assert "--path" in checks["wordpress"]["fix"]
    assert {statuses(checks)[name] for name in ALL_CHECKS[1:]} == {"skip"}

    text = run_agent("doctor", "--path", str(empty), env=dict(agent_env, **doc.env))
    assert text.returncode == 3
    lines = text.stdout.splitlines()
    assert lines[0].startswith("✗ WordPress found") and lines[1].lstrip().startswith("fix: run it from")
    assert lines[-1].startswith("WordPress found failed (") and lines[-1].endswith("exit 3.")
    assert "Traceback" not in text.stderr


def test_an_unparsable_wp_config_fails_with_exit_3(doc):
    config = doc.path / "wp-config.php"
    config.write_text(config.read_text().replace("define( 'DB_USER',", "define( 'DB_USER'"))
    result, checks, _ = doc.doctor()
    assert result.returncode == 3, result.stdout
    assert checks["wordpress"]["status"] == "ok"
    assert checks["wp_config"]["status"] == "fail"
    assert "wp-config.php" in checks["wp_config"]["detail"] and "line" in checks["wp_config"]["detail"]
    assert "IGNY8_DB_" in checks["wp_config"]["fix"]
    assert {statuses(checks)[name] for name in ALL_CHECKS[2:]} == {"skip"}


def test_an_unreachable_database_fails_with_exit_4_and_the_backend_is_still_checked(doc):
    connected(doc)
    with socket_closed() as port:
        write_wp_config(doc.path, doc.db.name, host=f"127.0.0.1:{port}")
        result, checks, _ = doc.doctor()
    assert result.returncode == 4, result.stdout
    assert checks["database"]["status"] == "fail"
    assert "cannot connect to the WordPress database at 127.0.0.1" in checks["database"]["detail"]
    assert "host, user and password" in checks["database"]["fix"]
    assert [statuses(checks)[n] for n in ("grants", "statement_limit", "tables")] == ["skip"] * 3
    assert [statuses(checks)[n] for n in ("api_key", "backend", "key_accepted", "clock")] == ["ok"] * 4


def test_missing_tables_fail_with_exit_4_naming_them(doc):
    connected(doc)
    result, checks, _ = doc.doctor("--table-prefix", "nope_")
    assert result.returncode == 4, result.stdout
    assert checks["database"]["status"] == "ok"
    assert checks["tables"]["status"] == "fail"
    assert "nope_options, nope_posts, nope_term_taxonomy not found" in checks["tables"]["detail"]
    assert "$table_prefix" in checks["tables"]["fix"]


def test_a_site_never_connected_fails_on_the_key_with_exit_3(doc):
    result, checks, _ = doc.doctor()
    assert result.returncode == 3, result.stdout
    assert checks["api_key"]["status"] == "fail"
    assert "not connected" in checks["api_key"]["detail"]
    assert "igny8-agent connect" in checks["api_key"]["fix"]
    assert [statuses(checks)[n] for n in ("backend", "tls", "key_accepted", "clock")] == ["skip"] * 4
    assert checks["database"]["status"] == "ok" and checks["tables"]["status"] == "ok"


def test_a_key_missing_from_the_keyring_fails_with_exit_3(doc):
    connected(doc)
    (doc.state_dir / "keyring.json").unlink()
    result, checks, _ = doc.doctor()
    assert result.returncode == 3, result.stdout
    assert checks["api_key"]["status"] == "fail"
    assert "no API key for this site in file (" in checks["api_key"]["detail"]
    assert "connect" in checks["api_key"]["fix"]
    assert statuses(checks)["backend"] == "skip"


def test_an_unreachable_backend_fails_fast_with_exit_6(doc, backend):
    connected(doc)
    backend.stop()
    started = time.monotonic()
    result, checks, _ = doc.doctor()
    assert time.monotonic() - started < 20
    assert result.returncode == 6, result.stdout
    assert checks["backend"]["status"] == "fail"
    assert "cannot reach the backend" in checks["backend"]["detail"]
    assert "--api-url" in checks["backend"]["fix"]
    assert [statuses(checks)[n] for n in ("tls", "key_accepted", "clock")] == ["skip"] * 3
    assert checks["clock"]["detail"] == "skipped: the backend could not be reached"


def test_a_refused_key_fails_with_exit_5(doc, backend):
    connected(doc)
    backend.revoke_key(API_KEY)
    result, checks, _ = doc.doctor()
    assert result.returncode == 5, result.stdout
    assert checks["backend"]["status"] == "ok"
    assert checks["key_accepted"]["status"] == "fail"
    assert "Failed to connect: Invalid API key." in checks["key_accepted"]["detail"]
    assert "new API key" in checks["key_accepted"]["fix"]
    assert checks["clock"]["status"] == "ok"  # the 401's Date header


def test_an_untrusted_tls_certificate_fails_with_exit_5(doc, tmp_path):
    trustme = pytest.importorskip("trustme")
    trusted, other = trustme.CA(), trustme.CA()
    bundle = tmp_path / "ca.pem"
    trusted.cert_pem.write_to_path(str(bundle))
    server = ContractServer(ssl_context=_server_context(trusted)).start()
    try:
        account = server.add_account("Acme", "dev@igny8.com", API_KEY)
        server.add_site(account, "https://www.Example.com/", name="Example")
        doc.env["IGNY8_API_URL"] = server.base_url
        assert doc.run("config", "backend", "--ca-bundle", str(bundle), extra_env=doc.env).returncode == 0
        assert doc.run("connect", "--api-key-stdin", input=API_KEY + "\n", extra_env=doc.env).returncode == 0

        result, checks, _ = doc.doctor()
        assert checks["tls"]["status"] == "ok", result.stdout
        assert f"(the CA bundle {bundle})" in checks["tls"]["detail"]

        server.stop()
        server.ssl_context = _server_context(other)
        server.start()
        seen = len(server.requests)
        result, checks, _ = doc.doctor()
        assert result.returncode == 5, result.stdout
        assert checks["backend"]["status"] == "ok"
        assert checks["tls"]["status"] == "fail"
        assert "TLS certificate was not accepted" in checks["tls"]["detail"]
        assert "--ca-bundle" in checks["tls"]["fix"]
        assert checks["key_accepted"]["status"] == "skip"
        assert len(server.requests) == seen  # nothing went over the refused connection
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to another user to check its access: needs root")
def test_a_schedule_user_who_cannot_read_the_config_fails_with_exit_3(doc, test_user):
    connected(doc)
    assert doc.sched("install", "--kind", "cron").returncode == 0
    # The job's user changed by hand afterwards, to one the config file is closed to.
    cron_file = next((doc.sched_root / "etc" / "cron.d").iterdir())
    text = cron_file.read_text()
    cron_file.write_text(re.sub(r"^(0 0 \* \* \*) root ", rf"\1 {TEST_USER} ", text, flags=re.M))
    config = next((doc.state_dir.parent / "etc" / "sites").glob("*.toml"))

    result, checks, _ = doc.doctor()
    assert result.returncode == 3, result.stdout
    assert checks["schedule"]["status"] == "ok"
    assert checks["schedule_user"]["status"] == "fail"
    assert checks["schedule_user"]["detail"] == (
        f"the job runs as {TEST_USER}, who cannot read the site's config file {config}")
    assert f"setfacl -m u:{TEST_USER}:r {config}" in checks["schedule_user"]["fix"]


def test_files_others_may_write_fail_with_exit_3_and_the_fix(doc):
    connected(doc)
    doc.state_dir.chmod(0o770)
    try:
        result, checks, _ = doc.doctor()
    finally:
        doc.state_dir.chmod(0o700)
    assert result.returncode == 3, result.stdout
    assert checks["files"]["status"] == "fail"
    assert f"the state directory {doc.state_dir}: owned by root, mode 0770" in checks["files"]["detail"]
    assert checks["files"]["fix"] == f"chmod go-w {doc.state_dir}"


# -- warnings: exit 0 -------------------------------------------------------------------


def test_a_database_user_who_may_write_is_a_warning_with_the_grant_for_a_read_only_user(doc):
    writer = DbUser(doc.db.name, "SELECT, INSERT, UPDATE")
    try:
        write_wp_config(doc.path, doc.db.name, user=writer.name, password=writer.password)
        connected(doc)
        result, checks, _ = doc.doctor()
        assert result.returncode == 0, result.stdout
        grants = checks["grants"]
        assert grants["status"] == "warn"
        assert grants["detail"] == (f"'{writer.name}'@'%' may change database {doc.db.name}:"
                                    f" INSERT, UPDATE ON `{doc.db.name}`.*")  # as granted: a pattern
        escaped = doc.db.name.replace("_", "\\_")
        assert f"GRANT SELECT ON `{escaped}`.* TO 'igny8_agent'@'%';" in grants["fix"]
        assert writer.password not in result.stdout

        # The statements doctor gives make an account it finds read-only.
        statements = grants["fix"].split("read-only user: ", 1)[1].split(" then set", 1)[0]
        password = "ro-" + secrets.token_hex(8)
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'igny8_agent'@'%'")
            for statement in statements.replace("<password>", password).split(";"):
                if statement.strip():
                    cur.execute(statement)
        result, checks, _ = doc.doctor(extra_env={"IGNY8_DB_USER": "igny8_agent", "IGNY8_DB_PASSWORD": password})
        assert checks["grants"]["status"] == "ok", result.stdout
        assert checks["tables"]["status"] == "ok"
    finally:
        writer.drop()
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'igny8_agent'@'%'")


def test_clock_skew_over_five_minutes_is_a_warning(doc, backend):
    connected(doc)
    backend.date_skew = -600.0  # the backend's clock 10 minutes behind: ours is ahead
    result, checks, _ = doc.doctor()
    assert checks["clock"]["status"] == "warn", result.stdout
    assert "this host's clock is 10 minutes ahead of the backend's" in checks["clock"]["detail"]
    assert "ntp" in checks["clock"]["fix"]
    assert result.returncode == 0  # root's grants and no schedule: warnings only

    backend.date_skew = 120.0
    _, checks, _ = doc.doctor()
    assert checks["clock"]["status"] == "ok"


def test_no_schedule_a_failed_last_sync_and_a_readable_key_file_are_warnings(doc, backend):
    connected(doc)
    backend.inject("status", count=1, path_contains="update-structure", status=400,
                   body={"post_types": ["Bad."]})
    assert doc.run("sync").returncode == 5
    (doc.state_dir / "keyring.json").chmod(0o644)
    result, checks, data = doc.doctor()
    assert result.returncode == 0, result.stdout
    assert checks["schedule"]["status"] == "warn" and checks["schedule"]["fix"] == "igny8-agent schedule install"
    assert checks["schedule_user"]["status"] == "skip"
    assert checks["last_run"]["status"] == "warn"
    assert "the last sync failed" in checks["last_run"]["detail"] and "post_types" in checks["last_run"]["detail"]
    assert checks["files"]["status"] == "warn"
    assert checks["files"]["fix"] == f"chmod 600 {doc.state_dir / 'keyring.json'}"
    assert data["counts"]["fail"] == 0


# -- it never prints the key and changes nothing --------------------------------------------


def test_doctor_never_prints_the_key_and_changes_no_file(doc, backend, tmp_path):
    connected(doc)
    assert doc.sched("install", "--kind", "cron").returncode == 0
    # Code changed since the last sync: the theme scan's cache is stale, and stays so.
    mu_plugins = doc.path / "wp-content" / "mu-plugins"
    mu_plugins.mkdir(parents=True)
    (mu_plugins / "types.php").write_text("<?php register_post_type('book', ['public' => true]);\n")
    watched = (tmp_path / "etc", tmp_path / "state", doc.sched_root)
    before = _listing(watched)
    backend.clear_requests()
    outputs = [doc.text(), doc.doctor()[0], doc.run("-v", "doctor", extra_env=doc.env),
               doc.text(extra_env={"IGNY8_API_KEY": API_KEY})]
    backend.revoke_key(API_KEY)
    outputs.append(doc.doctor()[0])
    for result in outputs:
        assert API_KEY not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert _listing(watched) == before
    assert {(r.method, r.path) for r in backend.requests} == {("GET", "/api/v1/auth/me/")}


def _listing(roots) -> Dict[str, Tuple[int, int, int]]:
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            info = os.lstat(path)
            found[str(path)] = (info.st_mtime_ns, info.st_size, info.st_mode)
    return found


# -- the command line ---------------------------------------------------------------------


def test_help_documents_the_exit_codes_and_examples(agent_env):
    result = run_agent("doctor", "--help", env=dict(agent_env, COLUMNS="200"))
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 when nothing failed" in text
    for code in ("3 configuration", "4 database", "5 the backend refused", "6 temporary"):
        assert code in text
    assert "igny8-agent doctor --json |" in text and "igny8-agent doctor --path /var/www/shop" in text


def test_plain_marks_where_the_terminal_cannot_show_the_symbols(doc):
    result = doc.text(extra_env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 3  # not connected
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[ok]   WordPress found")
    assert any(line.startswith("[FAIL] API key stored") for line in lines)
    assert any(line.startswith("[skip] Backend reachable") for line in lines)
    assert "✓" not in result.stdout


# -- the grants, line by line ------------------------------------------------------------------


def test_write_privileges_are_found_globally_on_the_database_its_tables_and_patterns():
    lines = [
        "GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227'",
        "GRANT SELECT, INSERT ON `wp\\_%`.* TO `u`@`%`",
        "GRANT SELECT, UPDATE (`option_value`) ON `shop`.`wp_options` TO `u`@`%`",
        "GRANT SELECT ON `other`.* TO `u`@`%`",
        "GRANT DELETE ON `other`.* TO `u`@`%`",
        "GRANT PROXY ON ''@'%' TO 'u'@'%' WITH GRANT OPTION",
        "GRANT `editor` TO `u`@`%`",
    ]
    assert write_privileges(lines, "wp_shop") == ["INSERT ON `wp\\_%`.*"]
    assert write_privileges(lines, "wpxshop") == []  # "\_" is a literal underscore
    assert write_privileges(lines, "shop") == ["UPDATE ON `shop`.`wp_options`"]
    assert write_privileges(lines, "other") == ["DELETE ON `other`.*"]
    assert write_privileges(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], "x") == [
        "ALL PRIVILEGES ON *.*"]
    assert write_privileges(["GRANT SELECT, SHOW VIEW, LOCK TABLES ON *.* TO `r`@`%`"], "x") == []
    assert parse_grant("GRANT SELECT, INSERT ON * TO `u`@`%`", "wp").database == "wp"
    assert read_only_statements("my`db_1", "localhost") == (
        "CREATE USER 'igny8_agent'@'localhost' IDENTIFIED BY '<password>'; "
        "GRANT SELECT ON `my``db\\_1`.* TO 'igny8_agent'@'localhost';")


def test_the_jobs_user_agent_config_and_state_are_read_from_what_was_installed(tmp_path):
    from types import SimpleNamespace

    from igny8_agent.doctor_links import _job

    state, config = tmp_path / "state", tmp_path / "etc" / "sites" / "shop.toml"
    site = SimpleNamespace(paths=SimpleNamespace(config=tmp_path / "other.toml", lock=tmp_path / "x" / "shop.lock"))
    for kind in (schedule.SYSTEMD, schedule.CRON):
        root = tmp_path / kind
        schedule.install("shop", config, "/opt/igny8/bin/igny8-agent", "www-data", state / "shop.lock",
                         state / "shop.log", root=root, kind=kind, manage_units=False, require_systemd=False)
        installed = schedule.show("shop", root=root)
        assert _job(installed, site) == ("www-data", "/opt/igny8/bin/igny8-agent", config, state), kind


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_user():
    """A system user without a home; removed afterwards if this test made it."""
    made = False
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", TEST_USER], check=True, timeout=30)
        made = True
    yield pwd.getpwnam(TEST_USER)
    if made:
        subprocess.run(["userdel", TEST_USER], check=False, timeout=30)


class socket_closed:
    """A loopback port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    def __exit__(self, *exc) -> None:
        pass


def _server_context(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context
