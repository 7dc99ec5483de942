"""Which of its own files and directories the agent trusts, as ssh and sudo decide.

The state directory, the config directory (and its ``sites/``), and the files
in them -- state, key file, locks, config -- must belong to the user the
agent runs as, or to root, must not be writable by group or others, and are
never symbolic links. Another user who could write one could point the
agent (and its API key) at a server of theirs, or make it truncate a file
through a link. Anything else is refused with one line naming the path, its
owner and mode, and the fix. Files are opened with ``O_NOFOLLOW`` and checked
on the open descriptor, so what is checked is what is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Optional

from igny8_agent.errors import ConfigError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a planted FIFO must not hang a read


def user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def trusted(info: os.stat_result) -> bool:
    """Owned by us or root, and not writable by group or others."""
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & 0o022


def refusal(path: Path, info: os.stat_result, what: str) -> ConfigError:
    """The one-line error for a file or directory that fails the rule."""
    me = user_name(os.geteuid())
    allowed = "root" if os.geteuid() == 0 else f"{me} (or root)"
    owner = f"uid {info.st_uid} ({user_name(info.st_uid)})"
    mode = f"{stat.S_IMODE(info.st_mode):04o}"
    if stat.S_ISLNK(info.st_mode):
        return ConfigError(
            f"refusing {what} {path}: it is a symbolic link (owned by {owner}); the agent never "
            f"follows links to its own files: remove it (rm {path}) and run again"
        )
    fixes = []
    if info.st_uid not in (0, os.geteuid()):
        fixes.append(f"check its content, then chown {me} {path}")
    if info.st_mode & 0o022:
        fixes.append(f"chmod go-w {path}")
    return ConfigError(
        f"refusing {what} {path}: owned by {owner} with mode {mode}; it must belong to {allowed} "
        f"and not be writable by group or others: {' and '.join(fixes)}"
    )


def check_dir(path: Path, what: str = "the directory") -> None:
    """Refuse an existing directory of the agent's that fails the rule; a missing one is fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot check {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISDIR(info.st_mode) and not trusted(info)):
        raise refusal(path, info, what)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{what} {path} is not a directory")


def check_existing(path: Path, what: str) -> None:
    """Refuse an existing file that fails the rule (before replacing it); a missing one is fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot check {what} {path}: {exc.strerror or exc}") from None
    _check_file(path, info, what)


def open_file(path: Path, flags: int, what: str, mode: int = 0o600) -> int:
    """``os.open`` with ``O_NOFOLLOW``; the opened file must be a regular file
    that passes the rule. ``FileNotFoundError`` passes through (without
    ``O_CREAT``); every other failure is a ConfigError naming the file."""
    try:
        fd = os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            check_existing(path, what)  # a symbolic link: say so, with its owner
        raise ConfigError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    try:
        _check_file(path, os.fstat(fd), what)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"cannot check {what} {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(path: Path, what: str, limit: int) -> Optional[bytes]:
    """The content of one of the agent's files (at most ``limit`` bytes), or
    None when it does not exist."""
    try:
        fd = open_file(path, os.O_RDONLY | NONBLOCK, what)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"{what} {path} is larger than {limit // 1024} KiB; it is not one the agent wrote")
    return b"".join(chunks)


def _check_file(path: Path, info: os.stat_result, what: str) -> None:
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and not trusted(info)):
        raise refusal(path, info, what)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"cannot read {what} {path}: it is not a regular file")
