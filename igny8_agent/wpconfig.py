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
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .errors import ConfigError, ParseError

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
# Tokenizer


class _Tok(NamedTuple):
    kind: str  # "str", "num", "name", "var", "op", "other"
    value: object  # str / number; None for a literal we cannot evaluate
    start: int
    end: int


_WS = re.compile(r"[ \t\r\n\f\v]+")
# PHP names: ASCII letters, digits, underscore and any non-ASCII character.
# Written as "not an ASCII non-name character" — a negated class compiles
# instantly, where a \x80-\U0010ffff range costs tens of ms at start-up.
_NAME_CHARS = r"^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"
_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_NAME_CHAR = re.compile(rf"[{_NAME_CHARS}]")
_IDENT = re.compile(rf"{_START}[{_NAME_CHARS}]*")
_QUALIFIED = re.compile(rf"\\?{_START}[{_NAME_CHARS}]*(?:\\{_START}[{_NAME_CHARS}]*)*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]*|0[bB][01_]*|0[oO][0-7_]*"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?"
)
_SQ_CHUNK = re.compile(r"[^'\\]*")
_DQ_CHUNK = re.compile(r"[^\"\\${]*")
_BRACE_CHUNK = re.compile(r"[^{}'\"]*")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_BACKTICK = re.compile(r"`(?:[^`\\]|\\.)*`", re.DOTALL)
_HEREDOC_START = re.compile(
    rf"<<<[ \t]*([\"']?)({_START}[{_NAME_CHARS}]*)\1\r?\n"
)
_LINE_INDENT = re.compile(r"[ \t]*")
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9a-fA-F]{1,2}")
_UNICODE = re.compile(r"\{([0-9a-fA-F]+)\}")
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f",
    "\\": "\\", "$": "$", '"': '"',
}
_OPS = (
    "===", "!==", "<=>", "**=", "...", "<<=", ">>=", "??=", "?->",
    "==", "!=", "<>", "<=", ">=", "&&", "||", "??", "::", "->", "=>",
    ".=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "++", "--", "<<", ">>", "**",
)


_MAX_NUMBER_LEN = 400  # characters of a number literal; PHP's own never exceed ~25


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Lexer:
    """Turns PHP source into a flat token list; ``?>`` becomes ``;``."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.tokens: List[_Tok] = []

    def fail(self, what: str, pos: int) -> ParseError:
        line = _line_of(self.text, pos)
        return ParseError(f"{self.path}: unterminated {what} starting at line {line}")

    def run(self) -> List[_Tok]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            i = self._open_tag(i)
            while i < n:
                m = _WS.match(text, i)
                if m:
                    i = m.end()
                    continue
                if text.startswith("?>", i):
                    self.tokens.append(_Tok("op", ";", i, i + 2))
                    i += 2
                    break
                i = self._token(i)
        return self.tokens

    def _open_tag(self, i: int) -> int:
        """Skip inline HTML up to just after the next ``<?php`` or ``<?=``."""
        text = self.text
        while True:
            j = text.find("<?", i)
            if j == -1:
                return len(text)
            if text[j + 2:j + 3] == "=":
                return j + 3
            after = text[j + 5:j + 6]
            if text[j + 2:j + 5].lower() == "php" and (after == "" or after in " \t\r\n"):
                return j + 5
            i = j + 2

    def _token(self, i: int) -> int:
        text, c = self.text, self.text[i]
        nxt = text[i + 1:i + 2]
        if c == "#" or (c == "/" and nxt == "/"):
            end = text.find("\n", i)
            end = len(text) if end == -1 else end
            close = text.find("?>", i, end)
            return end if close == -1 else close
        if c == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            if end == -1:
                raise self.fail("comment", i)
            return end + 2
        if c == "'":
            return self._single_quoted(i)
        if c == '"':
            return self._double_quoted(i)
        if c == "`":
            m = _BACKTICK.match(text, i)
            if not m:
                raise self.fail("string", i)
            return self._add("other", None, i, m.end())
        if c == "<" and text.startswith("<<<", i):
            m = _HEREDOC_START.match(text, i)
            if m:
                return self._heredoc(i, m)
        if "0" <= c <= "9" or (c == "." and "0" <= nxt <= "9"):
            m = _NUMBER.match(text, i)
            return self._add("num", _number(m.group()), i, m.end())
        if c == "$":
            m = _IDENT.match(text, i + 1)
            if m:
                return self._add("var", m.group(), i, m.end())
        m = _QUALIFIED.match(text, i)
        if m:
            return self._add("name", m.group(), i, m.end())
        for op in _OPS:
            if text.startswith(op, i):
                return self._add("op", op, i, i + len(op))
        return self._add("op", c, i, i + 1)

    def _add(self, kind: str, value: object, start: int, end: int) -> int:
        self.tokens.append(_Tok(kind, value, start, end))
        return end

    def _single_quoted(self, start: int) -> int:
        text, n = self.text, len(self.text)
        parts, i = [], start + 1
        while True:
            m = _SQ_CHUNK.match(text, i)
            parts.append(m.group())
            i = m.end()
            if i >= n:
                raise self.fail("string", start)
            if text[i] == "'":
                return self._add("str", "".join(parts), start, i + 1)
            escaped = text[i + 1:i + 2]
            if escaped in ("\\", "'"):
                parts.append(escaped)
                i += 2
            else:
                parts.append("\\")
                i += 1

    def _double_quoted(self, start: int) -> int:
        text, n = self.text, len(self.text)
        out, i, literal = bytearray(), start + 1, True
        while True:
            m = _DQ_CHUNK.match(text, i)
            out += m.group().encode("utf-8", "surrogatepass")
            i = m.end()
            if i >= n:
                raise self.fail("string", start)
            c, nxt = text[i], text[i + 1:i + 2]
            if c == '"':
                value = out.decode("utf-8", "replace") if literal else None
                return self._add("str", value, start, i + 1)
            if (c == "{" and nxt == "$") or (c == "$" and nxt == "{"):
                literal = False
                i = self._skip_braces(text.index("{", i), start)
            elif c == "$" and _IDENT.match(text, i + 1):
                literal = False
                i += 1
            elif c in "{$":
                out += c.encode()
                i += 1
            else:
                i = self._escape(i, out)

    def _escape(self, i: int, out: bytearray) -> int:
        """Decode the backslash escape at ``i`` into ``out``; return the next index."""
        text = self.text
        c = text[i + 1:i + 2]
        if c in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[c].encode()
            return i + 2
        m = _OCTAL.match(text, i + 1)
        if m:
            out.append(int(m.group(), 8) & 0xFF)
            return m.end()
        m = _HEX.match(text, i + 2) if c == "x" else None
        if m:
            out.append(int(m.group(), 16))
            return m.end()
        if c == "u" and text[i + 2:i + 3] == "{":
            m = _UNICODE.match(text, i + 2)
            if not m or int(m.group(1), 16) > 0x10FFFF:
                line = _line_of(text, i)
                raise ParseError(f"{self.path}: invalid \\u{{...}} escape in a string at line {line}")
            out += chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass")
            return m.end()
        out += b"\\"
        return i + 1

    def _skip_braces(self, i: int, string_start: int) -> int:
        """Skip a ``{$...}`` / ``${...}`` interpolation starting at the ``{``."""
        text, n, depth = self.text, len(self.text), 0
        while i < n:
            c = text[i]
            if c in "'\"":
                m = _QUOTED.match(text, i)
                if not m:
                    break
                i = m.end()
                continue
            depth += 1 if c == "{" else -1
            i += 1
            if depth == 0:
                return i
            i = _BRACE_CHUNK.match(text, i).end()
        raise self.fail("string", string_start)

    def _heredoc(self, start: int, m: "re.Match[str]") -> int:
        """Skip a heredoc/nowdoc body; its value is never evaluated."""
        text, label = self.text, m.group(2)
        i = m.end()
        while True:
            j = _LINE_INDENT.match(text, i).end()
            after = j + len(label)
            if text.startswith(label, j) and not _NAME_CHAR.match(text, after):
                return self._add("other", None, start, after)
            i = text.find("\n", i) + 1
            if i == 0:
                raise self.fail("heredoc", start)


def _number(raw: str) -> object:
    """A PHP number literal's value, or None if PHP would reject it."""
    s = raw.replace("_", "")
    if len(s) > _MAX_NUMBER_LEN:
        return None  # int() of a huge decimal literal is quadratic before Python 3.11
    try:
        if s[:2].lower() in ("0x", "0b", "0o"):
            value: object = int(s[2:], {"x": 16, "b": 2, "o": 8}[s[1].lower()])
        elif "." in s or "e" in s.lower():
            return float(s)
        elif len(s) > 1 and s[0] == "0":
            value = int(s, 8)
        else:
            value = int(s)
    except ValueError:
        return None
    if value <= 2**63 - 1:
        return value
    try:
        return float(value)  # PHP's integer overflow
    except OverflowError:  # beyond any float (a 300-digit hex literal)
        return None


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
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = set(_OPENERS.values())


def _is_op(tok: Optional[_Tok], *ops: str) -> bool:
    return tok is not None and tok.kind == "op" and tok.value in ops


def _split_args(tokens: List[_Tok], open_index: int) -> Optional[Tuple[List[List[_Tok]], int]]:
    """Split the call arguments after the ``(`` at ``open_index``.

    Returns (arguments, index after the closing ``)``), or None if the
    parenthesis is not closed before a ``;`` or the end of the tokens.
    """
    args: List[List[_Tok]] = [[]]
    depth = 0
    for i in range(open_index + 1, len(tokens)):
        tok = tokens[i]
        if tok.kind == "op":
            if tok.value == ";":
                return None
            if tok.value == ")" and depth == 0:
                return ([] if args == [[]] else args), i + 1
            if tok.value == "," and depth == 0:
                args.append([])
                continue
            if tok.value in _OPENERS:
                depth += 1
            elif tok.value in _CLOSERS:
                depth -= 1
        args[-1].append(tok)
    return None


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
        self.tokens = _Lexer(text, path).run()
        self.config = WPConfig(path=path)
        self.built = 0  # characters built by concatenation so far

    def run(self) -> WPConfig:
        tokens, i = self.tokens, 0
        while i < len(tokens):
            tok = tokens[i]
            prev = tokens[i - 1] if i else None
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if tok.kind == "name" and not _is_op(prev, "->", "?->", "::"):
                word = tok.value.lstrip("\\").lower()
                if word in ("function", "class", "interface", "trait"):
                    i = self._skip_body(i + 1)
                    continue
                if word == "define" and _is_op(nxt, "("):
                    i = self._define(i)
                    continue
            if tok.kind == "var" and tok.value == "table_prefix" and _is_op(nxt, "=", ".="):
                i = self._table_prefix(i)
                continue
            i += 1
        return self.config

    def _skip_body(self, i: int) -> int:
        """Skip a function/class declaration up to the end of its ``{...}``."""
        tokens, depth = self.tokens, 0
        while i < len(tokens) and not (depth == 0 and _is_op(tokens[i], "{", ";")):
            depth += _is_op(tokens[i], "(") - _is_op(tokens[i], ")")
            i += 1
        if i < len(tokens) and _is_op(tokens[i], "{"):
            depth = 0
            while i < len(tokens):
                depth += _is_op(tokens[i], "{") - _is_op(tokens[i], "}")
                i += 1
                if depth == 0:
                    break
        return i

    def _define(self, i: int) -> int:
        split = _split_args(self.tokens, i + 1)
        if split is None:
            line = _line_of(self.text, self.tokens[i].start)
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
        expr: List[_Tok] = []
        depth, j = 0, i + 2
        while j < len(tokens) and not (depth == 0 and _is_op(tokens[j], ";")):
            if _is_op(tokens[j], *_OPENERS):
                depth += 1
            elif _is_op(tokens[j], *_CLOSERS):
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

    def _source(self, tokens: List[_Tok], redact: bool) -> str:
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

    def _evaluate(self, tokens: List[_Tok], depth: int = 0) -> object:
        if depth > _MAX_DEPTH or not tokens:
            raise _Unresolvable()
        values, pos = [], 0
        while True:
            value, pos = self._unary(tokens, pos, depth)
            values.append(value)
            if pos == len(tokens):
                break
            if not _is_op(tokens[pos], "."):
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

    def _unary(self, tokens: List[_Tok], pos: int, depth: int) -> Tuple[object, int]:
        if pos >= len(tokens) or depth > _MAX_DEPTH:
            raise _Unresolvable()
        tok = tokens[pos]
        if _is_op(tok, "!"):
            value, pos = self._unary(tokens, pos + 1, depth + 1)
            return not _truthy(value), pos
        if _is_op(tok, "-", "+"):
            value, pos = self._unary(tokens, pos + 1, depth + 1)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Unresolvable()
            return (-value if tok.value == "-" else value), pos
        return self._primary(tokens, pos, depth)

    def _primary(self, tokens: List[_Tok], pos: int, depth: int) -> Tuple[object, int]:
        tok = tokens[pos]
        nxt = tokens[pos + 1] if pos + 1 < len(tokens) else None
        if tok.kind in ("str", "num") and tok.value is not None:
            return tok.value, pos + 1
        if _is_op(tok, "("):
            split = _split_args(tokens, pos)
            if split is None or len(split[0]) != 1:
                raise _Unresolvable()
            return self._evaluate(split[0][0], depth + 1), split[1]
        if tok.kind == "name" and _is_op(nxt, "("):
            split = _split_args(tokens, pos + 1)
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
            if _is_op(nxt, "[") and _is_op(close, "]") and key.kind == "str" and key.value is not None:
                return self._env(key.value), pos + 4
        raise _Unresolvable()

    def _call(self, function: str, args: List[List[_Tok]], depth: int) -> object:
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

