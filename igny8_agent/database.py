"""A read-only session on the WordPress database.

One connection per run, one read-only consistent-snapshot transaction for all
of its queries, connect/read timeouts, and a statement time limit so that a
slow query cannot hurt a production database (MariaDB and MySQL spell it
differently). pymysql errors become :class:`DatabaseError` with a one-line
message an operator can act on.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from igny8_agent.errors import ConfigError, DatabaseError


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

# MySQL/MariaDB error numbers we explain in words.
_ACCESS_DENIED = (1044, 1045, 1698)
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_CANNOT_CONNECT = (2002, 2003, 2005, 2006)
_LOST_CONNECTION = 2013
_STATEMENT_TIMEOUT = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time
_LOCK_WAIT_TIMEOUT = (1205,)
_UNKNOWN_VARIABLE = 1193


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
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    statement_timeout: float = 10.0
    # TLS only when wp-config asks for it (MYSQL_CLIENT_FLAGS with
    # MYSQLI_CLIENT_SSL), as WordPress does; it also keeps start-up fast.
    tls: bool = False

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

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "ReadOnlySession":
        if self._conn is not None:  # opened already (see Site.read_facts)
            return self
        s = self.settings
        try:
            try:
                self._conn = self._connect()
            except RuntimeError as exc:  # pymysql: "'cryptography' package is required ..."
                if "cryptography" not in str(exc) or not _with_rsa_auth():
                    raise DatabaseError(
                        f"the database server at {s.where()} asks for RSA password exchange, which needs"
                        " the Python package cryptography (pip install cryptography)"
                    ) from None
                self._conn = self._connect()
            self.server_version = self._conn.get_server_info() or ""
            self._begin()
        except pymysql.MySQLError as exc:
            self._close()
            raise self._explain(exc) from None
        except (OSError, ValueError) as exc:  # bad socket path, bad arguments
            self._close()
            raise DatabaseError(
                f"cannot connect to the WordPress database at {s.where()}: {exc}"
            ) from None
        return self

    def _connect(self) -> Any:
        s = self.settings
        return pymysql.connect(
                host=s.host if not s.socket else None,
                port=s.port,
                unix_socket=s.socket,
                user=s.user,
                password=s.password,
                database=s.name,
                charset=s.charset,
                connect_timeout=s.connect_timeout,
                read_timeout=s.read_timeout,
                write_timeout=s.read_timeout,
                autocommit=False,
                # Text comes back as the bytes WordPress stored, decoded by the
                # caller: on a latin1 connection (old sites keep UTF-8 bytes in
                # latin1 tables) pymysql's strict cp1252 decoding would fail on
                # bytes such as 0x81 or 0x8D, which UTF-8 text is full of.
                use_unicode=False,
                conv=_CONVERSIONS,
                ssl={"verify_mode": False} if s.tls else None,
                ssl_disabled=not s.tls,
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

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.server_version.lower()

    def _begin(self) -> None:
        timeout = max(1, int(self.settings.statement_timeout))
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
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, tuple(args) or None)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise self._explain(exc) from None

    def rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Tuple[Any, ...]]:
        """Iterate rows without holding them all (unbuffered)."""
        try:
            with self._conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(sql, tuple(args) or None)
                yield from cur
        except pymysql.MySQLError as exc:
            raise self._explain(exc) from None

    def existing_tables(self, names: Sequence[str]) -> set:
        """Which of ``names`` exist in the database (one query)."""
        if not names:
            return set()
        marks = ", ".join(["%s"] * len(names))
        found = self.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES"
            f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks})",
            list(names),
        )
        return {_text(r[0]) for r in found}

    # -- errors ------------------------------------------------------------

    def _explain(self, exc: Exception) -> DatabaseError:
        s = self.settings
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in _ACCESS_DENIED:
            return DatabaseError(
                f"access denied for database user {s.user!r} at {s.where()}"
                " (check DB_USER / DB_PASSWORD in wp-config.php)"
            )
        if code == _UNKNOWN_DATABASE:
            return DatabaseError(f"database {s.name!r} does not exist on {s.where()} (check DB_NAME)")
        if code in _CANNOT_CONNECT:
            return DatabaseError(
                f"cannot connect to the WordPress database at {s.where()}"
                " (is MySQL/MariaDB running? check DB_HOST)"
            )
        if code == _LOST_CONNECTION:
            return DatabaseError(
                f"lost connection to the WordPress database at {s.where()}"
                f" (timed out after {s.read_timeout:g} s or the server went away)"
            )
        if code in _STATEMENT_TIMEOUT or code in _LOCK_WAIT_TIMEOUT:
            return DatabaseError(
                f"a query on the WordPress database took longer than {s.statement_timeout:g} s"
                " and was stopped (table locked or server overloaded); nothing was changed"
            )
        if code == _NO_SUCH_TABLE:
            return DatabaseError(f"{detail} — not a WordPress database, or the table prefix is wrong")
        return DatabaseError(f"WordPress database error: {detail}")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
