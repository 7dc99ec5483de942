"""Writing schedule files, filling their templates, calling ``systemctl``."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Callable, Dict

from igny8_agent.errors import ConfigError

# Files written here are read by cron, logrotate and systemd: root-owned, world-readable.
FILE_MODE = 0o644
DIR_MODE = 0o755
PLACEHOLDER = re.compile(r"@([A-Z_]+)@")

Run = Callable[..., "subprocess.CompletedProcess[str]"]


def template(name: str) -> str:
    return (resources.files("igny8_agent") / "templates" / name).read_text(encoding="utf-8")


def fill(template_name: str, values: Dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template(template_name))


def group_of(user: str) -> str:
    """The primary group of ``user`` (for logrotate's ``su``); the name itself if unknown."""
    try:
        import grp
        import pwd

        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except (ImportError, KeyError):
        return user


def write_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a root-readable file (0644).

    The temp file's name starts with a dot, which cron and systemd both skip.
    """
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def systemctl(run: Run, *args: str, must: bool = True) -> None:
    """Run ``systemctl``; a failure is a ConfigError, or ignored when not ``must``."""
    command = ["systemctl", *args]
    try:
        result = run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        if not must:
            return
        raise ConfigError("systemctl not found: this host has no systemd, use the cron schedule") from None
    if result.returncode != 0 and must:
        detail = (result.stderr or result.stdout or "").strip() or f"exit status {result.returncode}"
        raise ConfigError(f"`{' '.join(command)}` failed: {detail}")
