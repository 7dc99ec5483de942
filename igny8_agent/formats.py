"""Machine-readable output besides JSON: CSV rows and YAML documents.

YAML is written by hand for the plain data the agent prints (mappings,
lists, strings, numbers, booleans): every string is double-quoted with
JSON's escapes, which YAML reads the same, so no value can turn into markup,
a number or a boolean by accident.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, List, Sequence

from igny8_agent.structure import KINDS, Structure

CSV_COLUMNS = ("kind", "slug", "label", "count", "enabled", "fetch_limit", "source")


def structure_csv(structure: Structure, leftovers: bool = False) -> str:
    """One row per listed type (and per leftover with ``leftovers``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for kind in KINDS:
        for t in structure.kind(kind).values():
            writer.writerow([kind, t.slug, t.label, t.count, str(t.enabled).lower(), t.fetch_limit, t.source])
        if leftovers:
            for slug, count in structure.leftovers.get(kind, {}).items():
                writer.writerow([kind, slug, "", count, "false", "", "leftover"])
    return out.getvalue()


def rows_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header row, then ``rows``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def to_yaml(data: Any) -> str:
    lines: List[str] = []
    _emit(data, 0, lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _emit(value: Any, indent: int, lines: List[str]) -> None:
    pad = "  " * indent
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_scalar(key)}:")
                _emit(item, indent + 1, lines)
            else:
                lines.append(f"{pad}{_scalar(key)}: {_inline(item)}")
    elif isinstance(value, list) and value:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}-")
                _emit(item, indent + 1, lines)
            else:
                lines.append(f"{pad}- {_inline(item)}")
    else:
        lines.append(pad + _inline(value))


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
