"""The database connection, hardened: no password to a server that could be
anyone's, verified TLS, one time budget per run, access errors that are
errors, and junk rows that are not types.

The agent runs as a process, against small fake MySQL servers on loopback
(they speak just enough of the protocol to see what a client sends) and
against the local MariaDB with its own restricted users.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import trustme

from conftest import admin_connect, run_agent, write_wp_config
from igny8_agent.dbaddress import trusted_socket
from igny8_agent.wpconfig import DbAddress, parse_db_host

PASSWORD = "pw-" + secrets.token_hex(8)
SSL_FLAGS = "define( 'MYSQL_CLIENT_FLAGS', MYSQLI_CLIENT_SSL );"

# -- a fake MySQL server -------------------------------------------------------

CLIENT_SSL = 0x800
CAPABILITIES = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000  # long password, with db, 4.1, transactions, secure, plugin auth
OK = b"\x00\x00\x00\x02\x00\x00\x00"
ACCESS_DENIED = b"\xff" + struct.pack("<H", 1045) + b"#28000Access denied"


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq % 256]) + payload


def _handshake(tls: bool) -> bytes:
    caps = CAPABILITIES | (CLIENT_SSL if tls else 0)
    return (b"\x0a5.7.99-fake\x00" + struct.pack("<I", 7) + b"abcdefgh\x00"
            + struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2) + struct.pack("<H", caps >> 16)
            + bytes([21]) + b"\x00" * 10 + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")


class FakeMySQL:
    """Greets (or not), optionally upgrades to TLS, takes the login and then
    ``then``: "switch" asks for ``plugin`` (the password in clear text) and
    refuses; "deny" refuses; "ok" accepts and answers every statement except
    SELECT, which it never answers."""

    def __init__(self, *, greet: bool = True, then: str = "deny", plugin: str = "mysql_clear_password",
                 cert: Optional[trustme.LeafCert] = None, unix_path: Optional[str] = None) -> None:
        self.greet, self.then, self.plugin = greet, then, plugin
        self.tls: Optional[ssl.SSLContext] = None
        if cert is not None:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(self.tls)
        if unix_path:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.bind(unix_path)
        else:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sock.bind(("127.0.0.1", 0))
            self.port = self._sock.getsockname()[1]
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self.connections = 0  # accepted
        self.logins = 0  # login packets received (after TLS, if any)
        self.received = bytearray()  # every payload, decrypted
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._spawn(self._serve)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._sock.close()

    def __enter__(self) -> "FakeMySQL":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def got_password(self) -> bool:
        return PASSWORD.encode() in bytes(self.received)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            self._spawn(self._client, conn)

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if not self.greet:
                self._stop.wait(30)  # accepts, never says a word (a paused server)
                return
            conn.sendall(_packet(0, _handshake(self.tls is not None)))
            seq, payload = self._read(conn)
            if self.tls is not None and len(payload) == 32 and struct.unpack("<I", payload[:4])[0] & CLIENT_SSL:
                conn = self.tls.wrap_socket(conn, server_side=True)  # fails if the client refuses
                seq, payload = self._read(conn)
            self.logins += 1
            if self.then == "switch":
                data = b"\x04Password: " if self.plugin == "dialog" else b""
                conn.sendall(_packet(seq + 1, b"\xfe" + self.plugin.encode() + b"\x00" + data))
                seq, _ = self._read(conn)  # the password, if the client sends it
                conn.sendall(_packet(seq + 1, ACCESS_DENIED))
            elif self.then == "deny":
                conn.sendall(_packet(seq + 1, ACCESS_DENIED))
            else:
                conn.sendall(_packet(seq + 1, OK))
                while True:
                    seq, payload = self._read(conn)
                    if payload[:1] != b"\x03":  # not COM_QUERY: COM_QUIT
                        return
                    if payload[1:].lstrip().upper().startswith(b"SELECT"):
                        self._stop.wait(30)  # the query that never ends
                        return
                    conn.sendall(_packet(seq + 1, OK))
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()

    def _read(self, conn: socket.socket) -> Tuple[int, bytes]:
        header = self._exactly(conn, 4)
        payload = self._exactly(conn, int.from_bytes(header[:3], "little"))
        self.received += payload
        return header[3], payload

    @staticmethod
    def _exactly(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


def _one_line_error(result: subprocess.CompletedProcess, code: int = 4) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igny8-agent: error: "), result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    return lines[0]


def _site(tmp_path: Path, host: str, extra: str = "") -> Path:
    return write_wp_config(tmp_path / "wordpress", "wordpress", host=host, user="wp", password=PASSWORD, extra=extra)


def _structure(root: Path, agent_env, *args: str, env: Optional[dict] = None, timeout: float = 30):
    return run_agent("structure", "--path", str(root), "--format", "json", *args,
                     env=dict(agent_env, **(env or {})), timeout=timeout)


# -- 3. a socket anyone could have made; the password in clear text ----------


@pytest.fixture
def world_writable(tmp_path) -> Path:
    """A directory like /tmp: anyone may create a name in it."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


def _listening_unix_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(1)
    return sock


def test_localhost_skips_a_guessed_socket_in_a_world_writable_directory(tmp_path, world_writable):
    private = tmp_path / "private"
    private.mkdir(mode=0o755)
    shared_sock = _listening_unix_socket(world_writable / "mysql.sock")
    private_sock = _listening_unix_socket(private / "mysqld.sock")
    link = private / "link.sock"
    link.symlink_to(world_writable / "mysql.sock")
    try:
        assert not trusted_socket(str(world_writable / "mysql.sock"))
        assert not trusted_socket(str(link))  # resolved: the socket is in the shared directory
        assert trusted_socket(str(private / "mysqld.sock"))
        candidates = [str(world_writable / "mysql.sock"), str(link)]
        assert parse_db_host("localhost:3307", candidates) == DbAddress("127.0.0.1", 3307, None)
        assert parse_db_host("localhost", candidates + [str(private / "mysqld.sock")]) == \
            DbAddress(None, 3306, str(private / "mysqld.sock"))
        # named explicitly, it is the operator's choice
        explicit = f"localhost:{world_writable / 'mysql.sock'}"
        assert parse_db_host(explicit, ()) == DbAddress(None, 3306, str(world_writable / "mysql.sock"))
    finally:
        shared_sock.close()
        private_sock.close()


def test_localhost_never_sends_the_password_to_a_socket_anyone_could_have_made(tmp_path, world_writable, agent_env):
    """The real server's socket is absent; a local user listens where the
    agent used to look next. The agent falls back to TCP instead."""
    fake_path = world_writable / "mysql.sock"
    closed = socket.socket()  # bound, not listening: TCP connections are refused
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    root = _site(tmp_path, f"localhost:{port}")
    # The agent, with its list of guessed sockets replaced by the fake one.
    launcher = (
        "import sys\n"
        "from igny8_agent import wpconfig\n"
        f"wpconfig.parse_db_host.__defaults__ = (({str(fake_path)!r},),)\n"
        "from igny8_agent.__main__ import main\n"
        "main()\n"
    )
    try:
        with FakeMySQL(then="switch", unix_path=str(fake_path)) as fake:
            result = subprocess.run(
                [sys.executable, "-c", launcher, "structure", "--path", str(root), "--format", "json"],
                capture_output=True, text=True, env=dict(os.environ, **agent_env), timeout=30,
            )
            line = _one_line_error(result)
            assert f"127.0.0.1:{port}" in line and "cannot connect" in line
            assert fake.connections == 0 and not fake.got_password()
    finally:
        closed.close()


@pytest.mark.parametrize("plugin", ["mysql_clear_password", "dialog"])
@pytest.mark.parametrize("transport", ["tcp", "named-socket"])
def test_the_password_never_goes_out_in_clear_text_without_verified_tls(tmp_path, agent_env, plugin, transport):
    unix_path = str(tmp_path / "db.sock") if transport == "named-socket" else None
    with FakeMySQL(then="switch", plugin=plugin, unix_path=unix_path) as fake:
        root = _site(tmp_path, f"localhost:{unix_path}" if unix_path else f"127.0.0.1:{fake.port}")
        line = _one_line_error(_structure(root, agent_env))
        assert fake.logins == 1, "the fake server never got as far as asking"
        assert not fake.got_password()
        assert f"clear text ({plugin})" in line and "refused" in line


# -- 4. TLS is verified --------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "db-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_tls_certificate_for_another_host_name_is_refused_before_the_login(tmp_path, agent_env, ca, ca_file):
    with FakeMySQL(then="switch", cert=ca.issue_cert("db.other.example")) as fake:
        root = _site(tmp_path, f"127.0.0.1:{fake.port}", extra=SSL_FLAGS)
        line = _one_line_error(_structure(root, agent_env, env={"IGNY8_DB_SSL_CA": ca_file}))
        assert "failed TLS verification" in line and "127.0.0.1" in line and "IGNY8_DB_SSL_VERIFY=0" in line
        assert fake.logins == 0 and not fake.got_password()


def test_tls_certificate_from_an_unknown_ca_is_refused(tmp_path, agent_env, ca):
    with FakeMySQL(then="switch", cert=ca.issue_cert("127.0.0.1")) as fake:
        root = _site(tmp_path, f"127.0.0.1:{fake.port}", extra=SSL_FLAGS)
        line = _one_line_error(_structure(root, agent_env))
        assert "failed TLS verification" in line
        assert fake.logins == 0 and not fake.got_password()


@pytest.mark.parametrize("source", ["wp-config", "environment", "config-file"])
def test_tls_with_the_servers_ca_is_accepted(tmp_path, agent_env, ca, ca_file, source):
    """Verified TLS: the login goes through, and even a clear-text password
    request is answered (the fake server then refuses the login)."""
    with FakeMySQL(then="switch", cert=ca.issue_cert("127.0.0.1")) as fake:
        extra, env, args = SSL_FLAGS, {}, []
        if source == "wp-config":
            extra += f"\ndefine( 'MYSQL_SSL_CA', '{ca_file}' );"
        elif source == "environment":
            env["IGNY8_DB_SSL_CA"] = ca_file
        else:
            extra = ""  # a CA given to the agent turns TLS on by itself
            config = tmp_path / "site.toml"
            config.write_text(f'[database]\nssl_ca = "{ca_file}"\n')
            args = ["--config", str(config)]
        root = _site(tmp_path, f"127.0.0.1:{fake.port}", extra=extra)
        line = _one_line_error(_structure(root, agent_env, *args, env=env))
        assert "access denied" in line
        assert fake.logins == 1 and fake.got_password()


@pytest.mark.parametrize("how", ["environment", "config-file"])
def test_switching_tls_verification_off_is_explicit_and_still_keeps_the_password(tmp_path, agent_env, ca, how):
    with FakeMySQL(then="switch", cert=ca.issue_cert("db.other.example")) as fake:
        root = _site(tmp_path, f"127.0.0.1:{fake.port}", extra=SSL_FLAGS)
        env, args = {}, []
        if how == "environment":
            env["IGNY8_DB_SSL_VERIFY"] = "0"
        else:
            config = tmp_path / "site.toml"
            config.write_text("[database]\nssl_verify = false\n")
            args = ["--config", str(config)]
        line = _one_line_error(_structure(root, agent_env, *args, env=env))
        assert fake.logins == 1, "TLS without verification was not accepted"
        assert "clear text (mysql_clear_password)" in line and not fake.got_password()


def test_a_bad_tls_verify_setting_is_a_configuration_error(tmp_path, agent_env):
    root = _site(tmp_path, "127.0.0.1:1", extra=SSL_FLAGS)
    line = _one_line_error(_structure(root, agent_env, env={"IGNY8_DB_SSL_VERIFY": "maybe"}), code=3)
    assert "IGNY8_DB_SSL_VERIFY" in line


# -- 8. one time budget --------------------------------------------------------


@pytest.mark.parametrize("command", [("structure", "--format", "json"), ("sync", "--dry-run", "--json")])
def test_a_server_that_accepts_but_never_greets_fails_within_the_connect_timeout(tmp_path, agent_env, command):
    with FakeMySQL(greet=False) as fake:
        root = _site(tmp_path, f"127.0.0.1:{fake.port}")
        started = time.monotonic()
        result = run_agent(*command, "--path", str(root), timeout=20,
                           env=dict(agent_env, IGNY8_DB_CONNECT_TIMEOUT="1", IGNY8_DB_TIMEOUT="15"))
        elapsed = time.monotonic() - started
        line = _one_line_error(result)
        assert "did not answer within 1 s while connecting" in line
        assert elapsed < 6, f"waited {elapsed:.1f} s"
        assert fake.connections == 1  # one wait, not one per attempt


def test_all_of_a_runs_database_waits_share_one_budget(tmp_path, agent_env):
    """Connected, then a query that never ends: the run gives up when the
    budget is spent, and says the budget it had."""
    with FakeMySQL(then="ok") as fake:
        root = _site(tmp_path, f"127.0.0.1:{fake.port}")
        started = time.monotonic()
        result = _structure(root, agent_env, env={"IGNY8_DB_CONNECT_TIMEOUT": "1", "IGNY8_DB_TIMEOUT": "2"})
        elapsed = time.monotonic() - started
        line = _one_line_error(result)
        assert "did not answer within 2 s" in line
        assert 2 <= elapsed < 7, f"waited {elapsed:.1f} s"
        assert fake.connections == 1 and fake.logins == 1


# -- 11. access errors are errors ----------------------------------------------


def _woocommerce_site(db) -> None:
    db.set_option("active_plugins", ["woocommerce/woocommerce.php"])
    db.execute(
        "CREATE TABLE wp_woocommerce_attribute_taxonomies (attribute_id bigint unsigned NOT NULL"
        " AUTO_INCREMENT, attribute_name varchar(200) NOT NULL, attribute_label varchar(200) NULL,"
        " attribute_type varchar(20) NOT NULL, attribute_orderby varchar(20) NOT NULL,"
        " attribute_public int(1) NOT NULL DEFAULT 1, PRIMARY KEY (attribute_id))"
    )
    db.execute(
        "INSERT INTO wp_woocommerce_attribute_taxonomies (attribute_name, attribute_label,"
        " attribute_type, attribute_orderby, attribute_public) VALUES"
        " ('color', 'Color', 'select', 'menu_order', 0), ('size', 'Size', 'select', 'menu_order', 1)"
    )
    db.add_terms("pa_color", 2)
    db.add_terms("pa_size", 3)


@pytest.fixture
def table_user(mariadb_server):
    """Factory: a MariaDB user with SELECT on each table of a database but
    ``withheld`` (GRANT on individual tables). Dropped afterwards."""
    made = []

    def make(database: str, withheld: str = "") -> Tuple[str, str]:
        user, password = f"igny8_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        with admin_connect(database) as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            made.append(user)
            cur.execute("SHOW TABLES")
            for (table,) in cur.fetchall():
                if table != withheld:
                    cur.execute(f"GRANT SELECT ON `{database}`.`{table}` TO %s@'%%'", (user,))
        return user, password

    yield make
    with admin_connect() as conn, conn.cursor() as cur:
        for user in made:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


@pytest.mark.parametrize("command", [("structure", "--format", "json"), ("sync", "--dry-run", "--json")])
def test_a_table_the_user_may_not_read_is_an_error_naming_it_and_the_grant(tmp_path, agent_env, wpdb, table_user,
                                                                           command):
    _woocommerce_site(wpdb)
    user, password = table_user(wpdb.name, withheld="wp_woocommerce_attribute_taxonomies")
    root = write_wp_config(tmp_path / "wordpress", wpdb.name, user=user, password=password)
    result = run_agent(*command, "--path", str(root), env=agent_env)
    line = _one_line_error(result)
    assert "wp_woocommerce_attribute_taxonomies" in line
    assert f"GRANT SELECT ON `{wpdb.name}`.* TO '{user}'@'%'" in line
    assert password not in result.stderr + result.stdout


def test_with_every_table_granted_the_same_user_reads_the_attributes(tmp_path, agent_env, wpdb, table_user):
    """Grants table by table (no wp_blogs to grant on a single site) are enough."""
    _woocommerce_site(wpdb)
    user, password = table_user(wpdb.name)
    root = write_wp_config(tmp_path / "wordpress", wpdb.name, user=user, password=password)
    result = _structure(root, agent_env)
    assert result.returncode == 0, result.stderr
    taxonomies = json.loads(result.stdout)["taxonomies"]
    assert taxonomies["pa_size"]["label"] == "Product Size" and taxonomies["pa_size"]["count"] == 3
    assert "pa_color" not in taxonomies  # attribute_public = 0


def test_an_absent_attribute_table_is_no_attributes(tmp_path, agent_env, wpdb, table_user):
    wpdb.set_option("active_plugins", ["woocommerce/woocommerce.php"])
    root = write_wp_config(tmp_path / "wordpress", wpdb.name)  # a user with SELECT on the whole database
    result = _structure(root, agent_env)
    assert result.returncode == 0, result.stderr
    assert "product_cat" in json.loads(result.stdout)["taxonomies"]


def test_network_plugins_the_user_may_not_read_are_an_error(tmp_path, agent_env, make_wpdb, table_user):
    db = make_wpdb(multisite=True)
    db.install()
    user, password = table_user(db.name, withheld="wp_sitemeta")
    root = write_wp_config(tmp_path / "wordpress", db.name, user=user, password=password,
                           extra="define( 'MULTISITE', true );")
    line = _one_line_error(_structure(root, agent_env))
    assert "wp_sitemeta" in line and f"TO '{user}'@'%'" in line


# -- 13. junk rows are not types -----------------------------------------------


def _junk(db) -> None:
    db.add_posts("Bad Type!", "publish", 1)
    db.add_posts("product\x1b[31m", "publish", 1)
    db.add_term("Bad Tax!", "x")
    # Equal to 'post' in the table's collation, and first in its index: the
    # GROUP BY shows the post rows as 'POST'. WordPress counts it as 'post'.
    db.add_posts("POST", "draft", 1)


def test_junk_type_values_are_skipped_with_a_warning(tmp_path, agent_env, wpdb):
    _junk(wpdb)
    root = write_wp_config(tmp_path / "wordpress", wpdb.name)
    structure = _structure(root, agent_env, "--leftovers")
    assert structure.returncode == 0, structure.stderr
    body = json.loads(structure.stdout)
    seen = [*body["leftovers"]["post_types"], *body["leftovers"]["taxonomies"], *body["post_types"], *body["taxonomies"]]
    assert not [slug for slug in seen if "Bad" in slug or "\x1b" in slug], seen
    assert "'Bad Type!'" in structure.stderr and "'Bad Tax!'" in structure.stderr
    assert body["post_types"]["post"]["count"] == 1 and "'POST'" not in structure.stderr
    assert "\x1b" not in structure.stderr  # shown escaped: '\\x1b'

    dry_run = run_agent("sync", "--dry-run", "--path", str(root), env=agent_env)
    assert dry_run.returncode == 0, dry_run.stderr
    payload = json.loads(dry_run.stdout)
    assert "Bad" not in json.dumps(payload) and "\\u001b" not in json.dumps(payload)


def test_junk_type_values_do_not_stop_a_push(site):
    _junk(site.db)
    assert site.connect().returncode == 0
    result = site.run("sync")
    assert result.returncode == 0, result.stderr
