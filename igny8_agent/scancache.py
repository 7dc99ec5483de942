"""The theme scan's result, kept between runs while no scanned file changed.

Reading a big theme costs tens of milliseconds a run; listing it costs a
few. So the result of :func:`igny8_agent.phpscan.scan_code` is stored under
a fingerprint of every scanned file's path, size, mtime and inode (and the
theme mods the scan decided conditions with), and used again only when the
fingerprint is the same. The cache lives in the agent's state directory,
owner-only; a file that is not the agent's own (another owner, writable by
others, a symlink) is ignored, and any error just means scanning again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import List, Optional, Tuple

from igny8_agent import trust
from igny8_agent.errors import Igny8Error
from igny8_agent.phpscan import UNKNOWN, CodeScan, Registration

VERSION = "1"
_UNKNOWN_MARK = {"\u0000unknown": 1}


def fingerprint(groups: List[Tuple[str, List[Path]]], theme_mods: dict) -> str:
    digest = hashlib.sha256(VERSION.encode())
    digest.update(json.dumps(theme_mods, sort_keys=True, default=str).encode())
    for source, paths in groups:
        digest.update(f"\n[{source}]".encode())
        for path in paths:
            try:
                info = os.lstat(path)
            except OSError:
                continue
            digest.update(f"\n{path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def load(cache_dir: Path, key: str) -> Optional[CodeScan]:
    path = cache_dir / "code-scan.json"
    try:
        trust.check_dir(cache_dir)
        fd = os.open(path, os.O_RDONLY | trust.NOFOLLOW | trust.NONBLOCK | trust.CLOEXEC)
    except (OSError, Igny8Error):  # Igny8Error: an untrusted directory, or no home directory
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not trust.trusted(info) or info.st_size > 4 * 1024 * 1024:
            return None
        data = json.loads(os.read(fd, info.st_size + 1))
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return _decode(data["scan"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    finally:
        os.close(fd)


def store(cache_dir: Path, key: str, scan: CodeScan) -> None:
    from igny8_agent.files import write_atomic

    body = json.dumps({"key": key, "scan": _encode(scan)}, default=_default).encode()
    try:
        write_atomic(cache_dir / "code-scan.json", body)
    except (Igny8Error, OSError):
        pass  # no cache: the next run scans again


def _default(value: object) -> object:
    if value is UNKNOWN:
        return _UNKNOWN_MARK
    raise TypeError(type(value))


def _encode(scan: CodeScan) -> dict:
    return {
        "registrations": [[r.kind, r.slug, r.args, r.source, r.where] for r in scan.registrations],
        "filters": {hook: [cb if isinstance(cb, str) else sorted(cb) for cb in cbs] for hook, cbs in scan.filters.items()},
        "notes": scan.notes,
    }


def _decode(data: dict) -> CodeScan:
    return CodeScan(
        registrations=[Registration(kind, slug, _unknowns(args), source, where)
                       for kind, slug, args, source, where in data["registrations"]],
        filters={hook: [cb if isinstance(cb, str) else set(cb) for cb in cbs] for hook, cbs in data["filters"].items()},
        notes=list(data["notes"]),
    )


def _unknowns(value: object) -> object:
    if value == _UNKNOWN_MARK:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _unknowns(v) for k, v in value.items()}
    return value
