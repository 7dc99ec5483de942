"""The WordPress-made sites with real plugins (tests/fixtures/real-plugins):
load one into MariaDB, lay its files out as a site, and derive from
WordPress's own answers what the agent must list."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real-plugins"
NAMES = sorted(p.name[: -len(".answers.json")] for p in FIXTURES.glob("*.answers.json"))
KINDS = ("post_types", "taxonomies")
LEFT_OUT_BY_CONTRACT = {"attachment", "post_format"}


def answers(name: str) -> Dict:
    return json.loads((FIXTURES / f"{name}.answers.json").read_text("utf-8"))


def expected_structure(name: str) -> Dict[str, Dict[str, Tuple[str, int]]]:
    """kind -> slug -> (label as text, count), as the fixture README derives it."""
    data = answers(name)
    out: Dict[str, Dict[str, Tuple[str, int]]] = {}
    for kind in KINDS:
        listed = {}
        for slug, answer in data[kind].items():
            if not answer["public"] or slug in LEFT_OUT_BY_CONTRACT:
                continue
            count = answer["counts"].get("publish", 0) if kind == "post_types" else answer["term_count"]
            listed[slug] = (html.unescape(answer["name"]), int(count))
        out[kind] = listed
    return out


def db_only(name: str) -> Dict[str, List[str]]:
    data = answers(name)["db_only"]
    return {kind: sorted(_slugs(data.get(kind, []))) for kind in KINDS}


def _slugs(entries) -> List[str]:
    if isinstance(entries, dict):
        return list(entries)
    return [e["slug"] if isinstance(e, dict) else e for e in entries]


def lay_out_site(name: str, target: Path, *, db_name: str, user: str, password: str, host: str) -> Path:
    """Copy the fixture's files to ``target`` and fill in its wp-config.php."""
    shutil.copytree(FIXTURES / name, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    config = target / "wp-config.php"
    text = config.read_text("utf-8")
    for placeholder, value in (("__FX_DB_NAME__", db_name), ("__FX_DB_USER__", user),
                               ("__FX_DB_PASSWORD__", password), ("__FX_DB_HOST__", host)):
        text = text.replace(placeholder, value.replace("\\", "\\\\").replace("'", "\\'"))
    config.write_text(text, "utf-8")
    return target
