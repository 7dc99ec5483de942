"""Reading the backend's response bodies: strict JSON (no NaN, bounded
integers), and the one-line detail of a DRF error payload."""

from __future__ import annotations

import json
import math
from typing import Any, List, Optional

MAX_ERROR_DEPTH = 32  # nesting followed when flattening DRF field errors


NOT_JSON = object()


_MAX_INT_DIGITS = 4000  # int() of longer numbers is refused (3.11+) or quadratic (3.9, 3.10)


def parse_json(body: bytes) -> Any:
    """The JSON value of a body; None for an empty body; NOT_JSON otherwise
    (also for NaN / Infinity, which are not JSON and could not be printed as JSON)."""
    try:
        text = body.decode("utf-8-sig")
        if not text.strip():
            return None
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_json_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON


def _no_constant(name: str) -> Any:
    raise ValueError("%s is not JSON" % name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _json_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise ValueError("number too long")
    return int(text)


def error_detail(payload: Any) -> Optional[str]:
    """What an error body says, as one string: field errors as dotted paths,
    else ``detail`` / ``error``; None when it says nothing usable."""
    if isinstance(payload, dict):
        candidates = [payload.get("errors"), payload.get("detail"), payload.get("error")]
        if "success" in payload:
            candidates.append(payload.get("message"))
        elif not any(key in payload for key in ("errors", "detail", "error")):
            candidates.append(payload)  # DRF's field-error dict
    else:
        candidates = [payload]
    for candidate in candidates:
        lines = _flatten_errors(candidate)
        if lines:
            return "; ".join(lines)
    return None


def _flatten_errors(value: Any, path: str = "", depth: int = 0) -> List[str]:
    """DRF errors as ``"a.b.c: message"`` lines: dicts nest as deep as the
    field, lists hold messages or (for lists of objects) per-item dicts."""
    if depth > MAX_ERROR_DEPTH or value is None:
        return []
    if isinstance(value, dict):
        lines: List[str] = []
        for key, item in value.items():
            key = str(key)
            sub = path if key == "non_field_errors" else ("%s.%s" % (path, key) if path else key)
            lines.extend(_flatten_errors(item, sub, depth + 1))
        return lines
    if isinstance(value, list):
        lines = []
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                sub = "%s.%d" % (path, index) if path else str(index)
                lines.extend(_flatten_errors(item, sub, depth + 1))
            else:
                lines.extend(_flatten_errors(item, path, depth + 1))
        return lines
    text = str(value).strip()
    if not text:
        return []
    return ["%s: %s" % (path, text) if path else text]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def same_id(value: Any, wanted: int) -> bool:
    if is_int(value):
        return value == wanted
    if isinstance(value, str):
        return value.strip() == str(wanted)
    return False


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a %s" % type(value).__name__


def size_text(n: int) -> str:
    mib = 1024 * 1024
    return "%d MiB" % (n // mib) if n % mib == 0 else "%d bytes" % n
