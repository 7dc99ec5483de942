"""The names a daily schedule is made of — its kinds, the cron.d, logrotate
and systemd file and unit names of a site — and the checks on what goes
into them (site names, paths, user names). ``schedule`` re-exports them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from igny8_agent.errors import ConfigError

SYSTEMD = "systemd"
CRON = "cron"
KINDS = (SYSTEMD, CRON)
USER_CRON = "user-cron"  # a block in the crontab of a user who is not root (schedule_crontab)

TIMING = "daily, random delay up to 1 h"

CRON_DIR = "etc/cron.d"
LOGROTATE_DIR = "etc/logrotate.d"
ROOT_ENV = "IGNY8_SCHEDULE_ROOT"
# The name of the one job of `schedule install --all` (site names end in a digest, so none is this).
ALL_SITES = "all-sites"
UNIT_DIR = "etc/systemd/system"
SERVICE = f"{UNIT_DIR}/igny8-agent@.service"
TIMER = f"{UNIT_DIR}/igny8-agent@.timer"
TIMER_WANTS = f"{UNIT_DIR}/timers.target.wants"
DROP_IN = "10-igny8-agent.conf"

# Dots alone ("." or "..") would read as directories.
SITE_NAME = re.compile(r"(?!\.+$)[A-Za-z0-9._-]{1,200}")
# Paths go unquoted into a shell command line and into unit files, where
# whitespace, quotes, "$", "%" and "\" all mean something: allow none of them.
SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+,:@=-]*")
USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
# The first line of the cron template names the site the file is for.
CRON_SITE_LINE = re.compile(r"^# igny8-agent: daily sync of WordPress site (\S+)$", re.MULTILINE)


def cron_lock(lock: Path) -> Path:
    """The cron job's own lock file, beside the agent's ``lock``."""
    return lock.with_suffix(".cron.lock")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown schedule kind {kind!r}: use systemd or cron")


def _check_site_name(site_name: str) -> None:
    if not isinstance(site_name, str) or not SITE_NAME.fullmatch(site_name):
        raise ConfigError(
            f"invalid site name {site_name!r}: use letters, digits, '.', '_' and '-' (at most 200, not only dots)"
        )


def _check_path(what: str, text: str) -> None:
    if not SAFE_PATH.fullmatch(text):
        raise ConfigError(
            f"the {what} {text!r} cannot be scheduled: it must be an absolute path of letters, "
            "digits and . _ / + , : @ = - only"
        )


def _cron_file(site_name: str) -> str:
    # Debian's cron ignores cron.d files whose names contain a dot.
    return f"{CRON_DIR}/igny8-agent-{site_name.replace('.', '_')}"


def _timer_unit(site_name: str) -> str:
    return f"igny8-agent@{site_name}.timer"


def _drop_in_dir(site_name: str) -> str:
    return f"{UNIT_DIR}/igny8-agent@{site_name}.service.d"


def _drop_in(site_name: str) -> str:
    return f"{_drop_in_dir(site_name)}/{DROP_IN}"


def _logrotate_file(site_name: str) -> str:
    return f"{LOGROTATE_DIR}/igny8-agent-{site_name.replace('.', '_')}"


def _describe(kind: str, site_name: str) -> str:
    if kind == SYSTEMD:
        return f"systemd timer {_timer_unit(site_name)} ({TIMING})"
    if kind == USER_CRON:
        return f"user crontab entry for site {site_name} ({TIMING})"
    return f"cron job /{_cron_file(site_name)} ({TIMING})"


def _user_crontab(root: Path) -> bool:
    """Does this process schedule into its user's own crontab (not root, real root)?"""
    return os.geteuid() != 0 and root == Path("/")


def _manage_units(root: Path, manage_units: Optional[bool]) -> bool:
    return root == Path("/") if manage_units is None else manage_units
