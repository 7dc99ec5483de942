"""A small PHP lexer: enough of PHP's grammar to read configuration and
registration calls without running anything.

Inline HTML outside ``<?php ... ?>`` is skipped, comments are dropped,
single- and double-quoted strings are decoded (an interpolating string has
the value None), heredocs are skipped whole. ``?>`` becomes ``;``. Lexing
stops after ``__halt_compiler();``. Helpers here split call arguments and
test operators on the token list.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

from .errors import ParseError



class Tok(NamedTuple):
    kind: str  # "str", "num", "name", "var", "op", "other"
    value: object  # str / number; None for a literal we cannot evaluate
    start: int
    end: int


_new_tok = tuple.__new__  # Tok(...) without NamedTuple's argument handling: the lexer's hot path
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
# The same, by first character (in the same order: longest first).
_OPS_BY_FIRST = {c: tuple(op for op in _OPS if op[0] == c) for c in {op[0] for op in _OPS}}


_MAX_NUMBER_LEN = 400  # characters of a number literal; PHP's own never exceed ~25


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class Lexer:
    """Turns PHP source into a flat token list; ``?>`` becomes ``;``."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.tokens: List[Tok] = []
        self.halted = False  # __halt_compiler seen

    def fail(self, what: str, pos: int) -> ParseError:
        line = line_of(self.text, pos)
        return ParseError(f"{self.path}: unterminated {what} starting at line {line}")

    def run(self) -> List[Tok]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            i = self._open_tag(i)
            while i < n:
                m = _WS.match(text, i)
                if m:
                    i = m.end()
                    continue
                if text.startswith("?>", i):
                    self.tokens.append(Tok("op", ";", i, i + 2))
                    i += 2
                    break
                i = self._token(i)
                if self.halted and is_op(self.tokens[-1], ";"):
                    return self.tokens
            if self.halted:
                return self.tokens  # __halt_compiler(); the rest of the file is data
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
            self.halted = self.halted or m.group().lower() == "__halt_compiler"
            return self._add("name", m.group(), i, m.end())
        for op in _OPS_BY_FIRST.get(c, ()):
            if text.startswith(op, i):
                return self._add("op", op, i, i + len(op))
        return self._add("op", c, i, i + 1)

    def _add(self, kind: str, value: object, start: int, end: int) -> int:
        self.tokens.append(_new_tok(Tok, (kind, value, start, end)))
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
                line = line_of(text, i)
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



OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = set(OPENERS.values())


def is_op(tok: Optional[Tok], *ops: str) -> bool:
    return tok is not None and tok.kind == "op" and tok.value in ops


def split_args(
    tokens: List[Tok], open_index: int, *, bodies: bool = False
) -> Optional[Tuple[List[List[Tok]], int]]:
    """Split the call arguments after the ``(`` at ``open_index``.

    Returns (arguments, index after the closing ``)``), or None if the
    parenthesis is not closed before a ``;`` or the end of the tokens.
    With ``bodies``, a ``;`` inside ``{...}`` (a closure's body) is allowed.
    """
    args: List[List[Tok]] = [[]]
    depth = braces = 0
    for i in range(open_index + 1, len(tokens)):
        tok = tokens[i]
        if tok.kind == "op":
            if tok.value == ";" and not (bodies and braces):
                return None
            if tok.value == "{":
                braces += 1
            elif tok.value == "}":
                braces -= 1
            if tok.value == ")" and depth == 0:
                return ([] if args == [[]] else args), i + 1
            if tok.value == "," and depth == 0:
                args.append([])
                continue
            if tok.value in OPENERS:
                depth += 1
            elif tok.value in CLOSERS:
                depth -= 1
        args[-1].append(tok)
    return None
