"""The schedule of a user who is not root: a block in their own crontab.

The block is the cron.d job line without its user field, with the state
directory set on the command (a variable line would change the user's other
jobs), and a second line running logrotate daily on the site's log with a
config and status file of the user's own in the state directory (logrotate
itself rotates weekly). It is read with ``crontab -l`` and written back with
``crontab -``; the rest of the crontab is kept as it was.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from igny8_agent import schedule
from igny8_agent.errors import ConfigError
from igny8_agent.schedule_io import Run, write_file

BEGIN = "# igny8-agent: daily sync of WordPress site {site} (begin)"
END = "# igny8-agent: end of site {site}"
LOGROTATE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def install(site_name: str, config: Path, agent: str, user: str, lock: Path, log: Path,
            *, run: Run = subprocess.run) -> "schedule.Schedule":
    """Put the site's block in this user's crontab (replacing an older one)."""
    files = schedule.render(schedule.CRON, site_name, config, agent, user, lock, log)
    cron_d, rotate = files.values()
    job = [line for line in cron_d.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]][0]
    command = job.split(None, 6)[6].replace("&& flock ", f"&& IGNY8_STATE_DIR={lock.parent} flock ", 1)
    lines = [BEGIN.format(site=site_name), f"0 0 * * * {command}"]
    written: List[object] = [f"crontab of user {user}"]
    logrotate = shutil.which("logrotate", path=LOGROTATE_PATH)
    if logrotate:
        rotate_conf = lock.parent / f"{site_name}.logrotate"
        state = lock.parent / f"{site_name}.logrotate.status"
        try:
            write_file(rotate_conf, "".join(l for l in rotate.splitlines(True) if not l.lstrip().startswith("su ")))
        except OSError as exc:
            raise ConfigError(f"cannot write {rotate_conf}: {exc.strerror or exc}") from None
        lines.append(f"30 0 * * * {logrotate} --state {state} {rotate_conf}")
        written.append(rotate_conf)
    lines.append(END.format(site=site_name))
    _write(run, _without(_read(run), site_name) + "\n".join(lines) + "\n")
    rotated = "" if logrotate else "; logrotate not found: the log is not rotated"
    return schedule.Schedule(kind=schedule.USER_CRON, files=written,
                             description=schedule._describe(schedule.USER_CRON, site_name) + rotated)


def show(site_name: str, *, run: Run = subprocess.run) -> Optional["schedule.Schedule"]:
    """The site's block in this user's crontab; None if there is none (or no crontab command)."""
    text = _read(run, missing_ok=True)
    if BEGIN.format(site=site_name) not in text.splitlines():
        return None
    return schedule.Schedule(kind=schedule.USER_CRON, files=["crontab -l"],
                             description=schedule._describe(schedule.USER_CRON, site_name))


def remove(site_name: str, *, run: Run = subprocess.run) -> list:
    """Take the site's block out of this user's crontab; [] if it had none."""
    text = _read(run, missing_ok=True)
    kept = _without(text, site_name)
    if kept == text:
        return []
    _write(run, kept)
    return ["crontab -l"]


def _without(text: str, site_name: str) -> str:
    """``text`` without the site's block (lines between its markers, inclusive)."""
    begin, end = BEGIN.format(site=site_name), END.format(site=site_name)
    kept, inside = [], False
    for line in text.splitlines():
        if line == begin:
            inside = True
        elif inside and line == end:
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(line + "\n" for line in kept)


def _read(run: Run, missing_ok: bool = False) -> str:
    try:
        result = run(["crontab", "-l"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        if missing_ok:
            return ""
        raise ConfigError("crontab not found: install cron, or have root run `igny8-agent schedule install`") from None
    if result.returncode == 0:
        return result.stdout
    if "no crontab" in (result.stderr or "").lower():
        return ""
    raise ConfigError(f"`crontab -l` failed: {(result.stderr or '').strip() or result.returncode}")


def _write(run: Run, text: str) -> None:
    result = run(["crontab", "-"], input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"`crontab -` failed: {(result.stderr or '').strip() or result.returncode}")
