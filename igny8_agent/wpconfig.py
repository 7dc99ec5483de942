"""Read wp-config.php without running PHP, find a WordPress install, and
turn DB_HOST into an address to connect to.

wp-config.php is read as PHP would run it (``wpconfig_eval``): its
statements in order, ``if``/``else`` decided where they can be, files it
includes under the WordPress root's parent followed, up to
``wp-settings.php``. A ``define()`` or ``$table_prefix`` whose value or
branch cannot be known is recorded, so that asking for it names it and its
override. Nothing is ever executed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Sequence, Tuple

from .errors import ConfigError
from .phpvalues import Unknown
from .wpconfig_eval import MAX_FILE_BYTES, Walker, read_php_file

__all__ = [
    "DEFAULT_SOCKETS",
    "MAX_FILE_BYTES",
    "MISSING",
    "DbAddress",
    "WPConfig",
    "find_wordpress",
    "parse_db_host",
    "parse_wp_config",
    "read_wp_config",
]

# Where ``localhost`` looks for the server's socket. Not /tmp/mysql.sock: any
# local user can listen there (see dbaddress.py); name it in DB_HOST to use it.
DEFAULT_SOCKETS: Tuple[str, ...] = (
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/var/run/mysql/mysql.sock",
    "/run/mysql/mysql.sock",
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
"""Sentinel: ``WPConfig.get`` without a default raises when the name is absent."""


@dataclass
class WPConfig:
    """What could be read from one wp-config.php (and the files it includes).

    ``unresolved``: constants whose value is an expression that cannot be
    evaluated (shown as source). ``undecided``: constants, and
    ``$table_prefix``, set in a branch that cannot be decided (why).
    ``opaque``: the first thing that may define constants unseen (an
    include not followed, ``eval()`` ...).
    """

    path: Path
    constants: Dict[str, object] = field(default_factory=dict)
    unresolved: Dict[str, str] = field(default_factory=dict)
    table_prefix: Optional[str] = None
    undecided: Dict[str, str] = field(default_factory=dict)
    opaque: Optional[str] = None

    def get(self, name: str, override_hint: str, default: object = MISSING) -> object:
        """The value of constant ``name`` (or ``$table_prefix``); ConfigError
        if it cannot be read without PHP, or is missing and no default is given."""
        if name in self.constants:
            return self.constants[name]
        if name in self.unresolved:
            raise ConfigError(
                f"{name} in {self.path} is an expression that cannot be read "
                f"without PHP (`{self.unresolved[name]}`); {override_hint}"
            )
        if name in self.undecided:
            raise ConfigError(
                f"{name} in {self.path} depends on {self.undecided[name]}, "
                f"which cannot be decided without running PHP; {override_hint}"
            )
        if name == "$table_prefix" and self.table_prefix is not None:
            return self.table_prefix
        if self.opaque is not None:
            raise ConfigError(
                f"{name} is not defined in {self.path}; it may be set by {self.opaque}, "
                f"which cannot be followed without running PHP; {override_hint}"
            )
        if default is MISSING:
            raise ConfigError(f"{name} is not defined in {self.path}; {override_hint}")
        return default


def parse_wp_config(text: str, path: Path, environ: Mapping[str, str] = os.environ, *,
                    root: Optional[Path] = None) -> WPConfig:
    """Parse wp-config.php source named ``path``.

    ``root`` is the WordPress root (``ABSPATH``, which wp-load.php defines
    before it loads wp-config.php); by default ``path``'s directory.
    ``environ`` answers ``getenv()``, ``$_ENV`` and ``$_SERVER``. Files the
    source includes are read from disk (under the root's parent only).
    """
    path = Path(path)
    return _walk(text, path, environ, Path(root) if root is not None else path.parent)


def read_wp_config(path: Path, environ: Mapping[str, str] = os.environ, *,
                   root: Optional[Path] = None) -> WPConfig:
    """Read and parse a wp-config.php file (a regular file of at most 1 MiB).

    Without ``root``, the file's directory is the WordPress root when it has
    wp-settings.php or wp-load.php; otherwise (wp-config.php one level above
    the root) ``ABSPATH`` is defined but its value is not known.
    """
    path = Path(path)
    text = read_php_file(path)
    if root is None and _is_wordpress_root(path.parent):
        root = path.parent
    return _walk(text, path, environ, Path(root) if root is not None else None)


# A run over many sites (``remember_walks()``) reads one network's
# wp-config.php once, not once per subsite: within the run the same text,
# path, root and environment give the same result (files it includes are
# taken as they were at the first read).
_WALKED: Optional[Dict[tuple, WPConfig]] = None
_WALKED_MAX = 256


@contextlib.contextmanager
def remember_walks() -> Iterator[None]:
    global _WALKED
    _WALKED = {}
    try:
        yield
    finally:
        _WALKED = None


def _walk(text: str, path: Path, environ: Mapping[str, str], root: Optional[Path]) -> WPConfig:
    if _WALKED is None:
        return _walk_uncached(text, path, environ, root)
    key = (text, str(path), str(root), frozenset(environ.items()))
    if key not in _WALKED:
        config = _walk_uncached(text, path, environ, root)
        if len(_WALKED) >= _WALKED_MAX:
            return config
        _WALKED[key] = config
    return _WALKED[key]


def _walk_uncached(text: str, path: Path, environ: Mapping[str, str], root: Optional[Path]) -> WPConfig:
    real = os.path.realpath(path)
    if root is not None:
        real_root = os.path.realpath(root)
        abspath: object = real_root.rstrip("/") + "/"
        area = os.path.dirname(real_root)
    else:
        abspath, area = Unknown(), os.path.dirname(real)
    walker = Walker(path, environ, real=real, abspath=abspath, area=area)
    try:
        walker.walk(text)
    except RecursionError:  # the walk bounds its nesting; this is the last guard
        raise ConfigError(f"{path}: nested too deeply to be read") from None
    prefix = walker.vars.get("table_prefix")
    undecided = dict(walker.undecided)
    if isinstance(prefix, Unknown) and prefix.reason:
        undecided["$table_prefix"] = prefix.reason
    return WPConfig(
        path=path,
        constants=walker.constants,
        unresolved=walker.unresolved,
        table_prefix=prefix if isinstance(prefix, str) else None,
        undecided=undecided,
        opaque=walker.opaque,
    )


# --------------------------------------------------------------------------
# Locating WordPress


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _is_wordpress_root(directory: Path) -> bool:
    return _is_file(directory / "wp-settings.php") or _is_file(directory / "wp-load.php")


def find_wordpress(start: Path) -> Tuple[Path, Path]:
    """Return (WordPress root, wp-config.php), walking up from ``start``.

    Like wp-load.php, wp-config.php may sit one level above the root when
    that directory is not itself a WordPress root. ``start`` may also be a
    directory holding only wp-config.php.
    """
    start = Path(start).expanduser().resolve()
    if _is_file(start):
        start = start.parent
    for directory in (start, *start.parents):
        if _is_wordpress_root(directory):
            config = directory / "wp-config.php"
            if _is_file(config):
                return directory, config
            parent = directory.parent
            above = parent / "wp-config.php"
            if parent != directory and _is_file(above) and not _is_file(parent / "wp-settings.php"):
                return directory, above
            raise ConfigError(
                f"WordPress found in {directory} but there is no wp-config.php in it or in {parent}"
                f"{' (which is another WordPress root)' if _is_file(above) else ''}"
            )
        if directory == start and _is_file(directory / "wp-config.php"):
            return directory, directory / "wp-config.php"
    raise ConfigError(
        f"no WordPress installation found in {start} or above; use --path or IGNY8_WP_PATH"
    )


# --------------------------------------------------------------------------
# DB_HOST


@dataclass(frozen=True)
class DbAddress:
    """Where MySQL listens: TCP ``host:port``, or a UNIX ``socket`` (host None)."""

    host: Optional[str]
    port: int = 3306
    socket: Optional[str] = None


_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_db_host(value: str, socket_candidates: Sequence[str] = DEFAULT_SOCKETS) -> DbAddress:
    """Interpret DB_HOST as wpdb::parse_db_host and mysqli do.

    Accepts ``host``, ``host:port``, ``host:/path/to.sock``, ``[v6]:port``,
    a bare IPv6 address, and a ``p:`` (persistent) prefix. An explicit
    socket path always means a socket connection. ``localhost`` means the
    local UNIX socket, as in mysqli: the first existing path in
    ``socket_candidates`` is used, and if none exists the address falls
    back to TCP 127.0.0.1 on the given port. A guessed socket in a directory
    any local user can write to (like ``/tmp``) is never used: anyone could
    be listening there (``dbaddress.trusted_socket``).
    """
    from .dbaddress import trusted_socket

    def bad(reason: str) -> ConfigError:
        return ConfigError(f"DB_HOST {value!r} is not a valid database host: {reason}")

    rest = value.strip()
    if rest[:2].lower() == "p:":
        rest = rest[2:]
    if not rest:
        raise bad("it is empty")
    socket: Optional[str] = None
    if ":/" in rest:
        rest, socket = rest.split(":/", 1)
        socket = "/" + socket
    port_text: Optional[str] = None
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise bad("expected [IPv6 address]:port")
        port_text = tail[1:] if tail else None
    elif rest.count(":") > 1:
        host = rest
    else:
        host, colon, after = rest.partition(":")
        port_text = after if colon else None
        if host and not _HOSTNAME.fullmatch(host):
            raise bad(f"{host!r} is not a host name or address")
    if ":" in host or rest.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv6 address") from None
    port = 3306
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise bad(f"port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    if socket is not None:
        return DbAddress(host=None, port=port, socket=socket)
    if not host:
        raise bad("no host name")
    if host.lower() == "localhost":
        for candidate in socket_candidates:
            if os.path.exists(candidate) and trusted_socket(candidate):
                return DbAddress(host=None, port=port, socket=candidate)
        return DbAddress(host="127.0.0.1", port=port, socket=None)
    return DbAddress(host=host, port=port, socket=None)

