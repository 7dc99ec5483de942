"""A read-only session on the WordPress database.

One connection per run, one read-only consistent-snapshot transaction for all
of its queries, and a statement time limit so that a slow query cannot hurt a
production database (MariaDB and MySQL spell it differently). Waiting for the
server is bounded twice: connecting (TCP, greeting, login) by the connect
timeout, and the whole session, connect included, by one time budget.
TLS is verified and the password never goes out in clear text over an
unverified link (:mod:`igny8_agent.dbtls`). pymysql errors become
:class:`DatabaseError` with a one-line message an operator can act on
(:mod:`igny8_agent.dberrors`).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from igny8_agent.dberrors import AccessDenied, NoSuchTable, clear_text_refused, explain, out_of_time
from igny8_agent.dbtls import ClearTextRefused, refusing_plugins, tls_context
from igny8_agent.errors import ConfigError, DatabaseError

__all__ = ["AccessDenied", "DbSettings", "NoSuchTable", "ReadOnlySession", "connection_charset", "quote_identifier"]


def _import_pymysql() -> Any:
    """Import pymysql without the ``cryptography`` package.

    pymysql imports ``cryptography`` eagerly (20-40 ms, a fifth of the
    agent's start-up) although it needs it only for one thing: the RSA
    password exchange of MySQL 8's sha256 / caching_sha2 authentication over
    plain TCP. :class:`ReadOnlySession` loads it the one time a server asks
    for that (see ``_with_rsa_auth``). If something already imported
    ``cryptography``, nothing changes.
    """
    if "pymysql" in sys.modules or "cryptography" in sys.modules:
        return importlib.import_module("pymysql")
    sys.modules["cryptography"] = None  # type: ignore[assignment]  # makes the import fail
    try:
        return importlib.import_module("pymysql")
    finally:
        del sys.modules["cryptography"]


pymysql = _import_pymysql()


def _with_rsa_auth() -> bool:
    """Give pymysql its RSA support now; False if ``cryptography`` is not installed."""
    try:
        importlib.import_module("cryptography.hazmat.primitives.asymmetric.padding")
    except ImportError:
        return False
    importlib.reload(importlib.import_module("pymysql._auth"))
    return True

_IDENTIFIER = re.compile(r"\A[A-Za-z0-9_]+\Z")


def _decimal(raw: Any) -> Decimal:
    return Decimal(raw.decode("ascii") if isinstance(raw, (bytes, bytearray)) else raw)


# pymysql's converters, except DECIMAL (SUM() returns one), which with
# use_unicode=False arrives as bytes that Decimal() does not take.
_CONVERSIONS = dict(pymysql.converters.conversions)
_CONVERSIONS[pymysql.constants.FIELD_TYPE.DECIMAL] = _decimal
_CONVERSIONS[pymysql.constants.FIELD_TYPE.NEWDECIMAL] = _decimal

_UNKNOWN_VARIABLE = 1193  # max_execution_time on MySQL older than 5.7.8


def quote_identifier(name: str) -> str:
    """Backtick-quote a table name built from configuration.

    Only letters, digits and underscores are accepted (WordPress's own rule
    for table prefixes), so nothing an operator or a subsite URL supplies can
    reach SQL unquoted.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigError(f"refusing unsafe SQL identifier {name!r}")
    return f"`{name}`"


@dataclass
class DbSettings:
    """Where and how to connect. ``password`` never appears in repr()."""

    name: str
    user: str
    password: str = field(repr=False)
    host: Optional[str] = "127.0.0.1"
    port: int = 3306
    socket: Optional[str] = None
    charset: str = "utf8mb4"
    connect_timeout: float = 5.0  # each wait while connecting: TCP, greeting, login
    read_timeout: float = 30.0  # the budget: all waiting on the server in one session, connect included
    statement_timeout: float = 10.0
    # TLS only when wp-config asks for it (MYSQL_CLIENT_FLAGS with
    # MYSQLI_CLIENT_SSL) or a CA is given; it also keeps start-up fast.
    tls: bool = False
    tls_ca: Optional[str] = None  # CA file or directory; None: the system's CAs
    tls_verify: bool = True  # False only by the operator's explicit opt-out

    def where(self) -> str:
        """Human description of the server, for messages."""
        if self.socket:
            return f"socket {self.socket}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def connection_charset(db_charset: Optional[str]) -> str:
    """The connection charset for WordPress's ``DB_CHARSET``.

    ``utf8`` becomes ``utf8mb4`` (its superset); an empty value means WordPress's
    default, utf8mb4. Other charsets (latin1 on old sites) are kept so that the
    bytes WordPress wrote come back unchanged.
    """
    value = (db_charset or "").strip().lower()
    if value in ("", "utf8", "utf8mb3", "utf8mb4"):
        return "utf8mb4"
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"DB_CHARSET {db_charset!r} is not a valid character set name")
    return value


class ReadOnlySession:
    """A read-only snapshot of the database for the length of a ``with`` block."""

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self._conn: Any = None
        self.server_version = ""
        self._deadline = 0.0
        self._connecting = False

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "ReadOnlySession":
        if self._conn is not None:  # opened already (see Site.read_facts)
            return self
        s = self.settings
        self._deadline = time.monotonic() + s.read_timeout
        try:
            self._connecting = True
            try:
                self._conn = self._connect()
            except RuntimeError as exc:  # pymysql: "'cryptography' package is required ..."
                if "cryptography" not in str(exc) or not _with_rsa_auth():
                    raise DatabaseError(
                        f"the database server at {s.where()} asks for RSA password exchange, which needs"
                        " the Python package cryptography (pip install cryptography)"
                    ) from None
                self._conn = self._connect()
            self._connecting = False
            self.server_version = self._conn.get_server_info() or ""
            self._begin()
        except BaseException as exc:
            self._close()
            if isinstance(exc, pymysql.MySQLError):
                raise self._explain(exc) from None
            if isinstance(exc, ClearTextRefused):
                raise clear_text_refused(s, exc.plugin) from None
            if isinstance(exc, (OSError, ValueError)):  # bad socket path, bad arguments
                raise DatabaseError(f"cannot connect to the WordPress database at {s.where()}: {exc}") from None
            raise
        return self

    def _connect(self) -> Any:
        s = self.settings
        # Connecting waits at most the connect timeout at each step (a server
        # that accepts and never greets included), and never past the budget.
        wait = max(0.001, min(s.connect_timeout, self._deadline - time.monotonic()))
        return pymysql.connect(
                host=s.host if not s.socket else None,
                port=s.port,
                unix_socket=s.socket,
                user=s.user,
                password=s.password,
                database=s.name,
                charset=s.charset,
                connect_timeout=wait,
                read_timeout=wait,
                write_timeout=wait,
                autocommit=False,
                # Text comes back as the bytes WordPress stored, decoded by the
                # caller: on a latin1 connection (old sites keep UTF-8 bytes in
                # latin1 tables) pymysql's strict cp1252 decoding would fail on
                # bytes such as 0x81 or 0x8D, which UTF-8 text is full of.
                use_unicode=False,
                conv=_CONVERSIONS,
                ssl=tls_context(s.tls_ca, s.tls_verify) if s.tls else None,
                ssl_disabled=not s.tls,
                auth_plugin_map=refusing_plugins(s.tls and s.tls_verify),
            )

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()  # read-only: there is nothing to keep
            except pymysql.MySQLError:
                pass
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already gone; nothing left to release
                pass
            self._conn = None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator["ReadOnlySession"]:
        """One site's own consistent snapshot on a connection kept open for
        several (``sync --all``): connects the first time, else ends the last
        read-only transaction and starts a fresh one, with the whole read
        budget again. A failure closes the connection, so the next snapshot
        starts on a new one."""
        if self._conn is None:
            self.__enter__()
        else:
            self._deadline = time.monotonic() + self.settings.read_timeout
            try:
                self._arm()
                # Ends the last site's read-only transaction (an implicit
                # commit: nothing was written) and starts this one's.
                with self._conn.cursor() as cur:
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            except BaseException as exc:
                self._close()
                if isinstance(exc, pymysql.MySQLError):
                    raise self._explain(exc) from None
                raise
        try:
            yield self
        except BaseException:
            self._close()
            raise

    def close(self) -> None:
        """Close a connection kept open for snapshots."""
        self.__exit__(None, None, None)

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.server_version.lower()

    def _arm(self) -> None:
        """Give the next exchange with the server what is left of the budget."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise out_of_time(self.settings, self._connecting)
        # pymysql applies these to the socket before its next read / write.
        self._conn._read_timeout = self._conn._write_timeout = left

    def _begin(self) -> None:
        timeout = max(1, int(self.settings.statement_timeout))
        self._arm()
        with self._conn.cursor() as cur:
            if self.is_mariadb:
                cur.execute(f"SET SESSION max_statement_time = {timeout}")
            else:
                try:
                    cur.execute(f"SET SESSION max_execution_time = {timeout * 1000}")
                except pymysql.MySQLError as exc:  # MySQL older than 5.7.8
                    if exc.args[0] != _UNKNOWN_VARIABLE:
                        raise
            # A table locked by another session makes us wait at most this long.
            cur.execute(f"SET SESSION lock_wait_timeout = {timeout}")
            cur.execute(f"SET SESSION innodb_lock_wait_timeout = {timeout}")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    # -- queries -----------------------------------------------------------

    def query(self, sql: str, args: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        """Run one SELECT and return all rows (queries here return few rows)."""
        self._arm()
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, tuple(args) or None)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise self._explain(exc) from None

    def rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Tuple[Any, ...]]:
        """Iterate rows without holding them all (unbuffered)."""
        self._arm()
        try:
            with self._conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(sql, tuple(args) or None)
                yield from cur
        except pymysql.MySQLError as exc:
            raise self._explain(exc) from None

    def existing_tables(self, names: Sequence[str]) -> set:
        """Which of ``names`` exist in the database.

        Each table is asked directly: information_schema hides a table the
        user has no privilege on, which would look like a missing table. A
        table the user may not read raises :class:`AccessDenied` (to such a
        user, the server answers the same for a table that is not there).
        """
        found = set()
        for name in names:
            try:
                self.query(f"SELECT 1 FROM {quote_identifier(name)} LIMIT 0")
            except NoSuchTable:
                continue
            found.add(name)
        return found

    # -- errors ------------------------------------------------------------

    def _explain(self, exc: Exception) -> DatabaseError:
        return explain(exc, self.settings, self._connecting, self._account)

    def _account(self) -> str:
        """The account the server matched (``CURRENT_USER()``), quoted as GRANT wants it."""
        user, host = self.settings.user, "%"
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                user, _, host = _text(cur.fetchone()[0]).rpartition("@")
        except Exception:  # only for the message: fall back to the configured user
            pass
        return "'{}'@'{}'".format(user.replace("'", "''"), host.replace("'", "''"))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
