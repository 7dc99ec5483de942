"""Read PHP-serialized values (the output of PHP's ``serialize()``).

WordPress and its plugins keep settings this way: options such as
``cptui_post_types``, ACF's ``acf-post-type`` posts' ``post_content``, and so
on. This module turns such text into plain Python values without running or
instantiating anything:

=====================================  =====================================
PHP                                    Python
=====================================  =====================================
``N;``                                 ``None``
``b:1;``                               ``bool``
``i:-12;``                             ``int``
``d:0.5;`` ``d:INF;`` ``d:NAN;``       ``float``
``s:5:"café";``                        ``str`` (invalid UTF-8 -> U+FFFD)
``a:2:{...}``                          ``dict`` (int/str keys, order kept)
``O:3:"Foo":1:{...}``                  ``PHPObject`` (private/protected
                                       markers stripped from names)
``C:3:"Foo":4:{raw}``                  ``PHPObject`` with
                                       ``{"__serialized__": raw}``
``E:11:"Suit:Hearts";``                ``str`` ``"Suit:Hearts"``
``r:2;`` ``R:2;`` (references)         ``None`` (not followed)
=====================================  =====================================

String lengths count bytes, so the parser works on UTF-8 bytes throughout;
``str`` input is encoded first. Any malformed input raises
:class:`~igny8_agent.errors.ParseError` (and nothing else) naming the byte
offset. The parser is iterative with an explicit depth limit, never allocates
by a declared length, and runs in time linear in the input size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

from igny8_agent.errors import ParseError

__all__ = ["PHPObject", "maybe_unserialize", "unserialize"]

# Longest number literal accepted (digits of an int, a length, a float).
# PHP itself never writes more than ~25 characters; the cap keeps int()
# linear and below Python's int-string-conversion limit.
_MAX_NUMBER_LEN = 4000

_INT_RE = re.compile(rb"[+-]?[0-9]+")
_LENGTH_RE = re.compile(rb"[0-9]+")
_FLOAT_RE = re.compile(
    rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NAN|-?INF"
)

# Characters PHP's trim() removes (WordPress trims before unserializing).
_PHP_WHITESPACE = b" \t\n\r\0\x0b"


@dataclass
class PHPObject:
    """A PHP object (``O:``) or custom-serialized object (``C:``).

    Only the data is kept; no class is looked up or instantiated.
    """

    class_name: str
    properties: dict = field(default_factory=dict)


def unserialize(data: bytes | str, max_depth: int = 64) -> object:
    """Parse one PHP-serialized value; see the module docstring for types.

    Arrays/objects nested more than ``max_depth`` deep, trailing bytes after
    the value, and every other malformation raise ``ParseError``.
    """
    return _Reader(_to_bytes(data), max_depth).read_all()


def maybe_unserialize(data: bytes | str | None) -> object:
    """Like WordPress's ``maybe_unserialize()``.

    If ``data`` looks serialized by WordPress's ``is_serialized()`` rules it
    is unserialized (after PHP-style trimming); anything else, including
    ``None`` and non-string values, is returned unchanged. Data that looks
    serialized but is corrupt raises ``ParseError`` (WordPress would return
    ``false``); callers decide per row what to do.
    """
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        return data
    trimmed = _to_bytes(data).strip(_PHP_WHITESPACE)
    if _looks_serialized(trimmed):
        return unserialize(trimmed)
    return data


def _to_bytes(data: object) -> bytes:
    if isinstance(data, str):
        try:
            # Gives back the original bytes if they were decoded with
            # errors="surrogateescape".
            return data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return data.encode("utf-8", "surrogatepass")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise ParseError(
        f"PHP-serialized data: expected bytes or str, not {type(data).__name__}"
    )


def _looks_serialized(data: bytes) -> bool:
    """WordPress's ``is_serialized($data, $strict = true)`` on trimmed bytes."""
    if data == b"N;":
        return True
    if len(data) < 4 or data[1:2] != b":" or data[-1:] not in (b";", b"}"):
        return False
    token = data[:1]
    if token == b"s" and data[-2:-1] != b'"':
        return False
    if token in (b"s", b"a", b"O", b"E"):
        return re.match(rb"[saOE]:[0-9]+:", data) is not None
    if token in (b"b", b"i", b"d"):
        return re.fullmatch(rb"[bid]:[0-9.E+-]+;", data) is not None
    return False


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _property_name(key: int | str) -> str:
    """Strip the ``\\0*\\0`` (protected) / ``\\0Class\\0`` (private) prefix."""
    name = str(key)
    if name.startswith("\0"):
        end = name.find("\0", 1)
        if end > 0:
            return name[end + 1 :]
    return name


_NO_KEY = object()  # a container is waiting for its next key


class _Container:
    """An array or object whose ``left`` remaining entries are being read."""

    __slots__ = ("value", "items", "left", "key", "is_object")

    def __init__(self, value: Any, items: dict, left: int, is_object: bool) -> None:
        self.value = value  # what the container becomes: the dict or PHPObject
        self.items = items
        self.left = left
        self.key: Any = _NO_KEY
        self.is_object = is_object


class _Reader:
    def __init__(self, buf: bytes, max_depth: int) -> None:
        self.buf = buf
        self.pos = 0
        self.max_depth = max_depth

    # -- driver ------------------------------------------------------------

    def read_all(self) -> object:
        """Read one value with an explicit stack (no recursion)."""
        stack: list[_Container] = []
        while True:
            top = stack[-1] if stack else None
            if top is not None and top.left == 0:
                self.expect(b"}", "expected '}'")
                value = stack.pop().value
            elif top is not None and top.key is _NO_KEY:
                top.key = self.read_key(top.is_object)
                continue
            else:
                start = self.pos
                value = self.read_value()
                if isinstance(value, _Container):
                    if len(stack) >= self.max_depth:
                        self.fail(f"nesting deeper than {self.max_depth}", start)
                    stack.append(value)
                    continue
            if not stack:
                if self.pos != len(self.buf):
                    self.fail("trailing data")
                return value
            top = stack[-1]
            top.items[top.key] = value
            top.key = _NO_KEY
            top.left -= 1

    # -- values --------------------------------------------------------------

    def read_value(self) -> Any:
        """A scalar, a finished PHPObject (C:), or a new _Container (a:, O:)."""
        start = self.pos
        tag = self.buf[start : start + 2]
        if tag == b"N;":
            self.pos += 2
            return None
        self.pos += 2
        if tag == b"b:":
            flag = self.number(b";", "boolean", start)
            if flag not in (b"0", b"1"):
                self.fail("bad boolean", start)
            return flag == b"1"
        if tag == b"i:":
            return self.to_int(self.number(b";", "integer", start), _INT_RE, "integer", start)
        if tag == b"d:":
            literal = self.number(b";", "float", start)
            if not _FLOAT_RE.fullmatch(literal):
                self.fail("bad float", start)
            return float(literal)
        if tag == b"s:":
            return _text(self.read_quoted(b'";', "string", start))
        if tag == b"a:":
            count = self.read_count(start)
            items: dict = {}
            return _Container(items, items, count, is_object=False)
        if tag == b"O:":
            name = _text(self.read_quoted(b'":', "class name", start))
            count = self.read_count(start)
            obj = PHPObject(name)
            return _Container(obj, obj.properties, count, is_object=True)
        if tag == b"C:":
            name = _text(self.read_quoted(b'":', "class name", start))
            size = self.read_length(b":", start)
            self.expect(b"{", "expected '{'")
            raw = self.take(size, "bad custom object length", start)
            self.expect(b"}", "bad custom object length", start)
            return PHPObject(name, {"__serialized__": _text(raw)})
        if tag == b"E:":
            case = _text(self.read_quoted(b'";', "enum", start))
            if ":" not in case:
                self.fail("bad enum", start)
            return case
        if tag in (b"r:", b"R:"):
            self.read_length(b";", start)
            return None
        self.pos = start
        if start >= len(self.buf):
            self.fail("unexpected end of data")
        self.fail("unknown value type")

    def read_key(self, is_object: bool) -> int | str:
        start = self.pos
        tag = self.buf[start : start + 2]
        self.pos += 2
        if tag == b"i:":
            key: int | str = self.to_int(
                self.number(b";", "integer", start), _INT_RE, "integer", start
            )
        elif tag == b"s:":
            key = _text(self.read_quoted(b'";', "string", start))
        else:
            self.pos = start
            if start >= len(self.buf):
                self.fail("unexpected end of data")
            self.fail("bad array key")
        return _property_name(key) if is_object else key

    # -- pieces --------------------------------------------------------------

    def read_quoted(self, closing: bytes, what: str, start: int) -> bytes:
        """``<len>:"<len bytes>`` followed by ``closing`` (e.g. ``";``)."""
        size = self.read_length(b":", start)
        self.expect(b'"', f"bad {what}")
        raw = self.take(size, f"bad {what} length", start)
        self.expect(closing, f"bad {what} length", start)
        return raw

    def read_count(self, start: int) -> int:
        """``<count>:{`` of an array or object, sanity-checked."""
        count = self.read_length(b":", start)
        self.expect(b"{", "expected '{'")
        # Every entry takes several bytes, so a count above the bytes left is
        # certainly corrupt; reject it now rather than loop toward it.
        if count > len(self.buf) - self.pos:
            self.fail("element count exceeds data", start)
        return count

    def read_length(self, terminator: bytes, start: int) -> int:
        return self.to_int(self.number(terminator, "length", start), _LENGTH_RE, "length", start)

    def number(self, terminator: bytes, what: str, start: int) -> bytes:
        """The bytes up to ``terminator`` (consumed), at most _MAX_NUMBER_LEN."""
        end = self.buf.find(terminator, self.pos, self.pos + _MAX_NUMBER_LEN + 1)
        if end < 0:
            self.fail(f"bad {what}", start)
        literal = self.buf[self.pos : end]
        self.pos = end + len(terminator)
        return literal

    def to_int(self, literal: bytes, pattern: re.Pattern[bytes], what: str, start: int) -> int:
        if not pattern.fullmatch(literal):
            self.fail(f"bad {what}", start)
        try:
            return int(literal)
        except ValueError:  # below Python's int-string limit if lowered
            self.fail(f"{what} too long", start)

    def take(self, size: int, message: str, start: int) -> bytes:
        if size > len(self.buf) - self.pos:
            self.fail(message, start)
        raw = self.buf[self.pos : self.pos + size]
        self.pos += size
        return raw

    def expect(self, literal: bytes, message: str, start: int | None = None) -> None:
        if self.buf[self.pos : self.pos + len(literal)] != literal:
            if start is None and self.pos >= len(self.buf):
                self.fail("unexpected end of data")
            self.fail(message, start)
        self.pos += len(literal)

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        at = self.pos if pos is None else pos
        raise ParseError(f"PHP-serialized data: {message} at byte {at}")
