"""Can the user a schedule runs as do the job? Checked before anything is written.

The job must read wp-config.php, the site's config file and the key file,
write the state directory (state, lock and log files in it), and run the
agent. As root, the check runs in a child process that has taken on the
user's ids and groups, so modes, ACLs and every folder on the way count as
they will for the job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, NamedTuple, Optional

from igny8_agent.errors import ConfigError

READ, WRITE, RUN = "read", "write", "run"


class Need(NamedTuple):
    access: str  # READ, WRITE or RUN
    path: Path
    what: str  # "the site's config file", ...


def needs(config: Path, wp_config: Optional[Path], state_dir: Path, agent: str, site_name: str) -> List[Need]:
    """What the job of one site touches; files that do not exist yet are not checked."""
    return [
        Need(RUN, Path(agent), "the igny8-agent command"),
        Need(READ, config, "the site's config file"),
        *([Need(READ, wp_config, "WordPress's wp-config.php")] if wp_config else []),
        Need(READ, state_dir / "keyring.json", "the agent's key file"),
        Need(WRITE, state_dir, "the state directory"),
        Need(WRITE, state_dir / f"{site_name}.state.json", "the site's state file"),
        Need(WRITE, state_dir / f"{site_name}.lock", "the site's lock file"),
        Need(WRITE, state_dir / f"{site_name}.cron.lock", "cron's lock file"),
        Need(WRITE, state_dir / f"{site_name}.log", "the site's log file"),
    ]


def check(user: str, wanted: List[Need]) -> None:
    """ConfigError naming the first thing ``user`` cannot do, and the fix.

    A user who is not root can only schedule their own job.
    """
    need = unmet(user, wanted)
    if need is None:
        return
    raise ConfigError(
        f"user {user} cannot {VERBS[need.access]} {need.what} {need.path}: give it access "
        f"({access_fix(user, need)}) or pass --user with an account that can"
    )


VERBS = {READ: "read", WRITE: "write", RUN: "run"}


def unmet(user: str, wanted: List[Need]) -> Optional[Need]:
    """The first of ``wanted`` that ``user`` cannot do; None when it can do
    them all. Only checks, never changes anything. ConfigError for a user
    that does not exist, or another user's when this process is not root."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"no such user {user!r}: --user must name an existing account of this host") from None
    me = os.geteuid()
    if me != 0 and entry.pw_uid != me:
        raise ConfigError(f"only root can schedule a job for another user ({user}): drop --user, or run with sudo")
    if entry.pw_uid == 0:
        return None
    failed = _first_failure(wanted) if entry.pw_uid == me else _as_user(entry, wanted)
    return None if failed is None else wanted[failed]


def access_fix(user: str, need: Need) -> str:
    """How to give ``user`` what ``need`` asks for."""
    right = {READ: "r", WRITE: "rwx" if need.path.is_dir() else "rw", RUN: "rx"}[need.access]
    return f"`sudo setfacl -m u:{user}:{right} {need.path}`, or chown it and its folders"


def _first_failure(wanted: List[Need]) -> Optional[int]:
    """Index of the first need this process cannot meet; None if all are met."""
    for index, need in enumerate(wanted):
        path, found = need.path, _exists(need.path)
        if found is None:
            return index  # a folder on the way is closed to this user
        if not found:
            if need.access == RUN:
                return index
            if need.what != "the state directory":
                continue  # created by the job, in the state directory checked below
            while _exists(path) is False and path != path.parent:
                path = path.parent  # the first run creates it: the folder above must be writable
        if need.access == WRITE and os.path.isdir(path):
            mode = os.W_OK | os.X_OK
        else:
            mode = {READ: os.R_OK, WRITE: os.R_OK | os.W_OK, RUN: os.X_OK}[need.access]
        if not os.access(path, mode):
            return index
    return None


def _exists(path: Path) -> Optional[bool]:
    """True, False, or None when a folder on the way may not be searched."""
    try:
        os.stat(path)
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None


def _as_user(entry, wanted: List[Need]) -> Optional[int]:
    """``_first_failure`` in a child process running as the user ``entry``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: take on the user's ids, check, report, exit
        answer = b"?"
        try:
            os.close(read_end)
            os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            failed = _first_failure(wanted)
            answer = b"-" if failed is None else str(failed).encode()
        finally:
            try:
                os.write(write_end, answer)
            finally:
                os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 32)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if answer == b"-":
        return None
    if not answer.isdigit():
        raise ConfigError(f"cannot check what user {entry.pw_name} may read and write (run as root)")
    return int(answer)
