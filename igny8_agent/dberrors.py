"""Database errors in words: what went wrong and what the operator can do.

pymysql's errors carry the MySQL/MariaDB error number; each one we know is
turned into a :class:`DatabaseError` with a one-line message. Two kinds are
their own classes because the readers act on them: a table that is not
there (:class:`NoSuchTable`, often fine: a plugin never created it) and a
table the user may not read (:class:`AccessDenied`, never fine).
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from typing import Any, Callable, Iterator, Optional

from igny8_agent.errors import DatabaseError

CA_SOURCES = "MYSQL_SSL_CA in wp-config.php, IGNY8_DB_SSL_CA or [database] ssl_ca"
VERIFY_OFF = "IGNY8_DB_SSL_VERIFY=0 or [database] ssl_verify = false"

DATABASE_ACCESS_DENIED = 1044  # logged in, but no grant on the database (or it does not exist)
ACCESS_DENIED = (1045, 1698)  # the login itself: user name or password
UNKNOWN_DATABASE = 1049
NO_SUCH_TABLE = 1146
TABLE_ACCESS_DENIED = (1142, 1143)  # SELECT denied on a table / on a column
TLS_UNAVAILABLE = 2026
CANNOT_CONNECT = (2002, 2003, 2005, 2006)
LOST_CONNECTION = 2013
STATEMENT_TIMEOUT = (1969, 3024, 1205)  # max_statement_time, max_execution_time, lock wait


class NoSuchTable(DatabaseError):
    """A table the query needs is not there."""


class AccessDenied(DatabaseError):
    """The database user may not read a table (to that user, an absent table looks the same)."""

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table


def explain(exc: Exception, settings: Any, connecting: bool, account: Callable[[], str]) -> DatabaseError:
    """The :class:`DatabaseError` for a pymysql error. ``account`` gives the
    server's name for the user (asked only when a grant is missing)."""
    s = settings
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    problem = _certificate_problem(exc)
    if problem is not None:
        return DatabaseError(
            f"the database server at {s.where()} failed TLS verification ({problem}); nothing was sent."
            f" Give its CA with {CA_SOURCES}, or switch verification off with {VERIFY_OFF}"
        )
    timeouts = [e for e in _chain(exc) if isinstance(e, (socket.timeout, TimeoutError))]
    if timeouts:
        if connecting and any(getattr(e, "errno", None) == errno.ETIMEDOUT for e in timeouts):
            return _unreachable(s)
        return out_of_time(s, connecting)
    if code in TABLE_ACCESS_DENIED:
        return _access_denied(detail, s.name, account())
    if code == TLS_UNAVAILABLE:
        return DatabaseError(
            f"the database server at {s.where()} does not offer TLS, which this site's configuration asks for"
            " (MYSQL_CLIENT_FLAGS in wp-config.php, or a database CA)"
        )
    if code == DATABASE_ACCESS_DENIED:
        return _no_database_grant(detail, s)
    if code in ACCESS_DENIED:
        return DatabaseError(
            f"access denied for database user {s.user!r} at {s.where()}: wrong user name or password"
            " (check DB_USER / DB_PASSWORD in wp-config.php)"
        )
    if code == UNKNOWN_DATABASE:
        return DatabaseError(f"database {s.name!r} does not exist on {s.where()} (check DB_NAME in wp-config.php)")
    if code in CANNOT_CONNECT:
        return DatabaseError(
            f"cannot connect to the WordPress database at {s.where()} (is MySQL/MariaDB running? check DB_HOST)"
        )
    if code == LOST_CONNECTION:
        return DatabaseError(f"lost connection to the WordPress database at {s.where()} (the server went away)")
    if code in STATEMENT_TIMEOUT:
        return DatabaseError(
            f"a query on the WordPress database took longer than {s.statement_timeout:g} s"
            " and was stopped (table locked or server overloaded); nothing was changed"
        )
    if code == NO_SUCH_TABLE:
        return NoSuchTable(f"{detail} — not a WordPress database, or the table prefix is wrong")
    return DatabaseError(f"WordPress database error: {detail}")


def out_of_time(s: Any, connecting: bool) -> DatabaseError:
    """The server did not answer in time: while connecting (the connect
    timeout or, when smaller, the run's budget), or within the budget of the
    whole session. The message names the limit that applied and its setting."""
    if connecting:
        if s.connect_timeout <= s.read_timeout:
            limit = f"{s.connect_timeout:g} s while connecting (the connect timeout: IGNY8_DB_CONNECT_TIMEOUT or [database] connect_timeout)"
        else:
            limit = f"{s.read_timeout:g} s while connecting (the run's database time budget: IGNY8_DB_TIMEOUT or [database] timeout)"
        return DatabaseError(
            f"the database server at {s.where()} did not answer within {limit};"
            " server paused or overloaded, or not MySQL/MariaDB? check DB_HOST"
        )
    return DatabaseError(
        f"the WordPress database at {s.where()} did not answer within {s.read_timeout:g} s, the time allowed"
        " for all of this run's database work (IGNY8_DB_TIMEOUT or [database] timeout;"
        " server paused or overloaded); nothing was changed"
    )


def _unreachable(s: Any) -> DatabaseError:
    """The system gave up connecting (ETIMEDOUT) before the agent's own limit."""
    return DatabaseError(
        f"cannot reach the database server at {s.where()}: the system's TCP connect timed out"
        f" before the agent's {min(s.connect_timeout, s.read_timeout):g} s limit"
        " (host down or unreachable, or a firewall dropping the connection? check DB_HOST)"
    )


def _no_database_grant(detail: str, s: Any) -> DatabaseError:
    """1044: the login worked, the database did not. To a user without a
    grant, the server says the same for a database that does not exist."""
    found = re.search(r"for user\s+('(?:[^']|'')*'@'(?:[^']|'')*')", detail)
    account = found.group(1) if found else "'{}'@'%'".format(s.user.replace("'", "''"))
    database = s.name.replace("`", "``")
    return DatabaseError(
        f"database user {account} may not use database {s.name!r} on {s.where()}: if DB_NAME is right,"
        f" the user needs GRANT SELECT ON `{database}`.* TO {account}; otherwise check DB_NAME in wp-config.php"
    )


def clear_text_refused(s: Any, plugin: str) -> DatabaseError:
    return DatabaseError(
        f"the database server at {s.where()} asked for the password in clear text ({plugin});"
        " refused: it is sent that way only over TLS with a verified certificate"
    )


def _access_denied(detail: str, database: str, account: str) -> AccessDenied:
    found = re.search(r"table\s+(\S+)", detail)
    table = re.sub(r"[`'\"]", "", found.group(1)).rsplit(".", 1)[-1] if found else "?"
    return AccessDenied(
        f"database user {account} may not read table {table}, which the answer depends on"
        f" (to such a user an absent table looks the same): GRANT SELECT ON `{database.replace('`', '``')}`.* TO {account}",
        table,
    )


def _certificate_problem(exc: BaseException) -> Optional[str]:
    """Why TLS failed, if ``exc`` comes from a TLS error."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or current.reason or "certificate verify failed"
        if isinstance(current, ssl.SSLError):
            return current.reason or str(current)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (pymysql keeps the socket error as
    ``original_exception`` or as the context)."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "original_exception", None) or current.__cause__ or current.__context__
