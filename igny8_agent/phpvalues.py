"""PHP values as the wp-config reader evaluates them: what cannot be known
(``Unknown``), an unset environment variable (``Unset``), and PHP 8's
truthiness, string conversion, ``==``/``===`` and ``dirname()`` on scalars.
"""

from __future__ import annotations

import re
from typing import Optional


class Unknown:
    """A value that cannot be known statically; ``reason`` names the branch
    it depends on, when that is why."""

    __slots__ = ("reason",)

    def __init__(self, reason: Optional[str] = None) -> None:
        self.reason = reason


class Unset:
    """An environment variable that is not set: ``getenv()`` gives false,
    ``$_ENV[...]`` null. As a constant's whole value it stays unresolved."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


_NUMERIC = re.compile(r"[ \t\n\r\v\f]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*\Z")


def plain(value: object) -> object:
    return value.value if isinstance(value, Unset) else value


def truthy(value: object) -> bool:
    value = plain(value)
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def unknown_of(*values: object) -> Optional[Unknown]:
    """The first Unknown among ``values`` (a branch reason preferred), else None."""
    found = [v for v in values if isinstance(v, Unknown)]
    return next((v for v in found if v.reason), found[0]) if found else None


def php_string(value: object) -> object:
    value = plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return Unknown()


def loose_equal(a: object, b: object) -> object:
    """PHP 8 ``==`` on scalars."""
    a, b = plain(a), plain(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return truthy(a) == truthy(b)
    if a is None or b is None:
        other = b if a is None else a
        return other is None or (other == "" if isinstance(other, str) else not truthy(other))
    if isinstance(a, str) and isinstance(b, str):
        if _NUMERIC.match(a) and _NUMERIC.match(b):
            return float(a) == float(b)
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        text, number = (a, b) if isinstance(a, str) else (b, a)
        if _NUMERIC.match(text):
            return float(text) == number
        converted = php_string(number)
        return Unknown() if isinstance(converted, Unknown) else converted == text
    return a == b


def strict_equal(a: object, b: object) -> bool:
    a, b = plain(a), plain(b)
    return type(a) is type(b) and a == b


def php_dirname(path: str, levels: int = 1) -> str:
    for _ in range(levels):
        stripped = path.rstrip("/")
        if not stripped:
            return "/" if path else "."
        head, sep, _tail = stripped.rpartition("/")
        path = (head.rstrip("/") or "/") if sep else "."
    return path
