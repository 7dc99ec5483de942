"""What a database account may do to the WordPress database, from ``SHOW GRANTS``.

The agent needs SELECT only. Any privilege that can change data or schema
(INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, ALL PRIVILEGES ...) granted on
the WordPress database, on one of its tables, or globally is reported, with
the statements that make a read-only account instead. The grant lines
themselves are never shown: they can carry a password hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

# Privileges that cannot change a table's rows or a schema.
READ_ONLY = frozenset({
    "SELECT", "USAGE", "SHOW VIEW", "SHOW DATABASES", "PROCESS", "LOCK TABLES", "CREATE TEMPORARY TABLES",
    "REPLICATION CLIENT", "BINLOG MONITOR", "SLAVE MONITOR", "REPLICA MONITOR", "SHOW CREATE ROUTINE",
})
READ_ONLY_USER = "igny8_agent"

_NAME = r"(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\*|[^\s.`']+)"
_GRANT = re.compile(
    r"\AGRANT\s+(?P<privileges>.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?:\s+BODY)?)\s+)?"
    rf"(?P<first>{_NAME})(?:\.(?P<second>{_NAME}))?\s+TO\s",
    re.IGNORECASE | re.DOTALL,
)
_COLUMNS = re.compile(r"\([^)]*\)")


@dataclass(frozen=True)
class Grant:
    """One ``GRANT ... ON level TO ...`` line: the privileges and where they apply.
    ``database`` None means every database (``*.*``); it is a LIKE pattern
    otherwise (``wp\\_%``), as GRANT takes it. ``table`` None means every table."""

    privileges: Tuple[str, ...]
    database: Optional[str]
    table: Optional[str]

    def level(self) -> str:
        if self.database is None:
            return "*.*"
        return f"{quote(self.database)}.{'*' if self.table is None else quote(self.table)}"


def parse_grant(line: str, current_database: str) -> Optional[Grant]:
    """The grant on one line of SHOW GRANTS; None for a role or PROXY grant.
    A level without a database (``*``, ``tbl``) is in ``current_database``."""
    found = _GRANT.match(line.strip())
    if not found:
        return None
    privileges = tuple(
        " ".join(p.split()).upper() for p in _COLUMNS.sub("", found.group("privileges")).split(",") if p.strip()
    )
    if privileges == ("PROXY",):
        return None
    first, second = _unquote(found.group("first")), found.group("second")
    if second is None:  # "*" or "tbl": the default database
        return Grant(privileges, _escape(current_database), None if first == "*" else first)
    second = _unquote(second)
    if first == "*":
        return Grant(privileges, None, None)
    return Grant(privileges, first, None if second == "*" else second)


def write_privileges(lines: Iterable[str], database: str) -> List[str]:
    """``"INSERT, UPDATE ON `wp`.*"`` for each grant that lets the account
    change ``database``: granted globally, on it, or on one of its tables."""
    found = []
    for line in lines:
        grant = parse_grant(line, database)
        if grant is None or not _applies(grant, database):
            continue
        writes = [p for p in grant.privileges if p not in READ_ONLY]
        if writes:
            found.append(f"{', '.join(writes)} ON {grant.level()}")
    return found


def read_only_statements(database: str, host: str) -> str:
    """The statements that make a SELECT-only account for the agent."""
    account = f"{literal(READ_ONLY_USER)}@{literal(host or '%')}"
    return (f"CREATE USER {account} IDENTIFIED BY '<password>'; "
            f"GRANT SELECT ON {quote(_escape(database))}.* TO {account};")


def quote(identifier: str) -> str:
    """An identifier in backticks (a backtick in it doubled)."""
    return "`" + identifier.replace("`", "``") + "`"


def literal(text: str) -> str:
    """A string literal in single quotes (quote and backslash escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _escape(database: str) -> str:
    """A database name as a GRANT pattern: ``_`` and ``%`` are wildcards there."""
    return re.sub(r"([\\_%])", r"\\\1", database)


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "`'":
        return name[1:-1].replace(name[0] * 2, name[0])
    return name


def _applies(grant: Grant, database: str) -> bool:
    """Does the grant's database pattern (LIKE, with ``\\`` escapes) match ``database``?
    Compared without regard to case: a warning too many is the safe side."""
    if grant.database is None:
        return True
    pattern, i, text = [], 0, grant.database
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            pattern.append(re.escape(text[i + 1]))
            i += 2
            continue
        pattern.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.fullmatch("".join(pattern), database, re.IGNORECASE | re.DOTALL) is not None
