"""Read wp-config.php without running PHP, find a WordPress install, and
turn DB_HOST into an address to connect to.

wp-config.php is tokenized with a small PHP lexer and scanned for
``define('NAME', value)`` calls and ``$table_prefix = '...'``. Values that
are literals, earlier constants, string concatenations or the official
Docker image's ``getenv``/``getenv_docker`` calls are evaluated; anything
else is recorded as unresolved so callers can ask the operator to override
it. Nothing is ever executed.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import ConfigError, ParseError
from .phplex import CLOSERS, OPENERS, Lexer, Tok, is_op, line_of, split_args

__all__ = [
    "DEFAULT_SOCKETS",
    "MISSING",
    "DbAddress",
    "WPConfig",
    "find_wordpress",
    "parse_db_host",
    "parse_wp_config",
    "read_wp_config",
]

DEFAULT_SOCKETS: Tuple[str, ...] = (
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/tmp/mysql.sock",
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
    """What could be read from one wp-config.php."""

    path: Path
    constants: Dict[str, object] = field(default_factory=dict)
    unresolved: Dict[str, str] = field(default_factory=dict)
    table_prefix: Optional[str] = None

    def get(self, name: str, override_hint: str, default: object = MISSING) -> object:
        """The value of constant ``name``; ConfigError if it is an
        expression we cannot evaluate, or missing and no default is given."""
        if name in self.unresolved:
            raise ConfigError(
                f"{name} in {self.path} is an expression that cannot be read "
                f"without PHP (`{self.unresolved[name]}`); {override_hint}"
            )
        if name in self.constants:
            return self.constants[name]
        if default is MISSING:
            raise ConfigError(f"{name} is not defined in {self.path}; {override_hint}")
        return default


# --------------------------------------------------------------------------
# Statement scanner and expression evaluator


class _Unresolvable(Exception):
    """Raised inside the evaluator; never escapes this module."""


_SECRET_NAME = re.compile(r"PASS|KEY|SALT|SECRET|TOKEN", re.IGNORECASE)
_MAX_DEPTH = 64
# Characters that all string concatenations of one file may build, in total.
# Without a budget, ``define('B', A.A); define('C', B.B); ...`` doubles a
# value per line: 40 lines of PHP would ask for a terabyte.
_MAX_BUILT = 1024 * 1024
_MAX_SECRET_FILE = 64 * 1024  # bytes read from a getenv_docker ..._FILE secret


def _php_string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    raise _Unresolvable()


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


class _Scanner:
    def __init__(self, text: str, path: Path, environ: Mapping[str, str]) -> None:
        self.text = text
        self.path = path
        self.environ = environ
        self.tokens = Lexer(text, path).run()
        self.config = WPConfig(path=path)
        self.built = 0  # characters built by concatenation so far

    def run(self) -> WPConfig:
        tokens, i = self.tokens, 0
        while i < len(tokens):
            tok = tokens[i]
            prev = tokens[i - 1] if i else None
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if tok.kind == "name" and not is_op(prev, "->", "?->", "::"):
                word = tok.value.lstrip("\\").lower()
                if word in ("function", "class", "interface", "trait"):
                    i = self._skip_body(i + 1)
                    continue
                if word == "define" and is_op(nxt, "("):
                    i = self._define(i)
                    continue
            if tok.kind == "var" and tok.value == "table_prefix" and is_op(nxt, "=", ".="):
                i = self._table_prefix(i)
                continue
            i += 1
        return self.config

    def _skip_body(self, i: int) -> int:
        """Skip a function/class declaration up to the end of its ``{...}``."""
        tokens, depth = self.tokens, 0
        while i < len(tokens) and not (depth == 0 and is_op(tokens[i], "{", ";")):
            depth += is_op(tokens[i], "(") - is_op(tokens[i], ")")
            i += 1
        if i < len(tokens) and is_op(tokens[i], "{"):
            depth = 0
            while i < len(tokens):
                depth += is_op(tokens[i], "{") - is_op(tokens[i], "}")
                i += 1
                if depth == 0:
                    break
        return i

    def _define(self, i: int) -> int:
        split = split_args(self.tokens, i + 1)
        if split is None:
            line = line_of(self.text, self.tokens[i].start)
            raise ParseError(f"{self.path}: define( at line {line} is not closed")
        args, end = split
        if len(args) < 2 or not args[0] or not args[1]:
            return end
        try:
            name = self._evaluate(args[0])
        except _Unresolvable:
            return end
        cfg = self.config
        if not isinstance(name, str) or name in cfg.constants or name in cfg.unresolved:
            return end
        try:
            cfg.constants[name] = self._evaluate(args[1])
        except _Unresolvable:
            cfg.unresolved[name] = self._source(args[1], redact=bool(_SECRET_NAME.search(name)))
        return end

    def _table_prefix(self, i: int) -> int:
        tokens, append = self.tokens, self.tokens[i + 1].value == ".="
        expr: List[Tok] = []
        depth, j = 0, i + 2
        while j < len(tokens) and not (depth == 0 and is_op(tokens[j], ";")):
            if is_op(tokens[j], *OPENERS):
                depth += 1
            elif is_op(tokens[j], *CLOSERS):
                depth -= 1
                if depth < 0:
                    break
            expr.append(tokens[j])
            j += 1
        current = self.config.table_prefix
        try:
            value = self._evaluate(expr)
            if append:
                value = self._concat([current, value]) if isinstance(value, str) and current is not None else None
        except _Unresolvable:
            value = None
        self.config.table_prefix = value if isinstance(value, str) else None
        return j

    def _source(self, tokens: List[Tok], redact: bool) -> str:
        """Short display text of an expression; literals hidden if ``redact``."""
        parts: List[str] = []
        for k, tok in enumerate(tokens):
            if k and tok.start > tokens[k - 1].end:
                parts.append(" ")
            literal = tok.kind in ("str", "num", "other")
            parts.append("'***'" if redact and literal else self.text[tok.start:tok.end])
        shown = " ".join("".join(parts).split())
        return shown if len(shown) <= 80 else shown[:77] + "..."

    # Expression evaluation: '.' concatenation of unary (-, +, !) terms.

    def _evaluate(self, tokens: List[Tok], depth: int = 0) -> object:
        if depth > _MAX_DEPTH or not tokens:
            raise _Unresolvable()
        values, pos = [], 0
        while True:
            value, pos = self._unary(tokens, pos, depth)
            values.append(value)
            if pos == len(tokens):
                break
            if not is_op(tokens[pos], "."):
                raise _Unresolvable()
            pos += 1
        if len(values) == 1:
            return values[0]
        return self._concat([_php_string(v) for v in values])

    def _concat(self, parts: List[str]) -> str:
        """Join ``parts`` within the file's budget (``_MAX_BUILT``)."""
        self.built += sum(len(part) for part in parts)
        if self.built > _MAX_BUILT:
            raise _Unresolvable()
        return "".join(parts)

    def _unary(self, tokens: List[Tok], pos: int, depth: int) -> Tuple[object, int]:
        if pos >= len(tokens) or depth > _MAX_DEPTH:
            raise _Unresolvable()
        tok = tokens[pos]
        if is_op(tok, "!"):
            value, pos = self._unary(tokens, pos + 1, depth + 1)
            return not _truthy(value), pos
        if is_op(tok, "-", "+"):
            value, pos = self._unary(tokens, pos + 1, depth + 1)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Unresolvable()
            return (-value if tok.value == "-" else value), pos
        return self._primary(tokens, pos, depth)

    def _primary(self, tokens: List[Tok], pos: int, depth: int) -> Tuple[object, int]:
        tok = tokens[pos]
        nxt = tokens[pos + 1] if pos + 1 < len(tokens) else None
        if tok.kind in ("str", "num") and tok.value is not None:
            return tok.value, pos + 1
        if is_op(tok, "("):
            split = split_args(tokens, pos)
            if split is None or len(split[0]) != 1:
                raise _Unresolvable()
            return self._evaluate(split[0][0], depth + 1), split[1]
        if tok.kind == "name" and is_op(nxt, "("):
            split = split_args(tokens, pos + 1)
            if split is None:
                raise _Unresolvable()
            args, end = split
            return self._call(tok.value.lstrip("\\").lower(), args, depth), end
        if tok.kind == "name":
            name = tok.value.lstrip("\\")
            if name.lower() in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[name.lower()], pos + 1
            if name in self.config.constants:
                return self.config.constants[name], pos + 1
        if tok.kind == "var" and tok.value in ("_ENV", "_SERVER") and pos + 3 < len(tokens):
            key, close = tokens[pos + 2], tokens[pos + 3]
            if is_op(nxt, "[") and is_op(close, "]") and key.kind == "str" and key.value is not None:
                return self._env(key.value), pos + 4
        raise _Unresolvable()

    def _call(self, function: str, args: List[List[Tok]], depth: int) -> object:
        """``getenv('X')`` and the Docker image's ``getenv_docker('X', default)``."""
        if function == "getenv" and len(args) in (1, 2):
            name = self._evaluate(args[0], depth + 1)
            if isinstance(name, str):
                return self._env(name)
        if function == "getenv_docker" and len(args) == 2:
            name = self._evaluate(args[0], depth + 1)
            if isinstance(name, str):
                secret_file = self.environ.get(name + "_FILE")
                if secret_file not in (None, "", "0"):
                    # A regular file only (a FIFO would block), and only its start.
                    if not os.path.isfile(secret_file):
                        raise _Unresolvable()
                    try:
                        with open(secret_file, "rb") as fh:
                            data = fh.read(_MAX_SECRET_FILE + 1)
                    except OSError:
                        raise _Unresolvable() from None
                    if len(data) > _MAX_SECRET_FILE:
                        raise _Unresolvable()
                    return data.decode("utf-8", "replace").rstrip("\r\n")
                if name in self.environ:
                    return self.environ[name]
                return self._evaluate(args[1], depth + 1)
        raise _Unresolvable()

    def _env(self, name: str) -> str:
        value = self.environ.get(name)
        if value is None:
            raise _Unresolvable()
        return value


def parse_wp_config(text: str, path: Path, environ: Mapping[str, str] = os.environ) -> WPConfig:
    """Parse wp-config.php source; ``path`` is only used in messages and the result.

    ``environ`` answers the ``getenv``/``getenv_docker``/``$_ENV``/``$_SERVER``
    lookups of the Docker image's config.
    """
    return _Scanner(text, Path(path), environ).run()


def read_wp_config(path: Path, environ: Mapping[str, str] = os.environ) -> WPConfig:
    """Read and parse a wp-config.php file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise ConfigError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_wp_config(data.decode("utf-8", errors="replace"), path, environ)


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
    back to TCP 127.0.0.1 on the given port.
    """

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
            if os.path.exists(candidate):
                return DbAddress(host=None, port=port, socket=candidate)
        return DbAddress(host="127.0.0.1", port=port, socket=None)
    return DbAddress(host=host, port=port, socket=None)

