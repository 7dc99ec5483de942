"""Run ``igny8-agent sync`` once a day for a site: a systemd timer or a cron job.

Both run the sync daily with a random delay of up to an hour, so that
thousands of sites do not call the backend in the same minute.

- systemd: the template units ``igny8-agent@.service`` and
  ``igny8-agent@.timer`` are shared by all sites of a host; the instance name
  is the site name. Each site also gets a drop-in,
  ``igny8-agent@<site>.service.d/10-igny8-agent.conf``, pinning its own user,
  config file and state directory, so one site's install never changes
  another's. The timer is enabled with ``systemctl``.
- cron: one file per site, ``/etc/cron.d/igny8-agent-<site>``, running
  ``sync --quiet`` (failures reach cron's mail and the log), and beside it
  ``/etc/logrotate.d/igny8-agent-<site>`` rotating that log weekly.
- a user who is not root gets a block in their own crontab instead
  (``schedule_crontab``); ``schedule_users`` checks that the job's user can
  read and write what the job needs.

The texts come from the templates in ``igny8_agent/templates`` (the same files
as ``cron/`` in the source tree), with ``@NAME@`` placeholders filled in here.
Everything is written under ``root``: ``/``, or ``$IGNY8_SCHEDULE_ROOT`` (a
staging or scratch directory, for packaging and tests); ``systemctl`` is
only called when the units are managed, by default only when ``root`` is ``/``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile  # noqa: F401 - tests patch schedule.tempfile.mkstemp
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from igny8_agent.errors import ConfigError
from igny8_agent.schedule_io import Run, fill as _fill, group_of as _group_of, os_error as _os_error
from igny8_agent.schedule_io import systemctl as _systemctl, write_file as _write_file
from igny8_agent.schedule_names import (  # noqa: F401 - the names are schedule's too
    ALL_SITES, CRON, CRON_DIR, CRON_SITE_LINE, DROP_IN, KINDS, LOGROTATE_DIR, ROOT_ENV, SAFE_PATH, SERVICE, SITE_NAME,
    SYSTEMD, TIMER, TIMER_WANTS, TIMING, UNIT_DIR, USER_CRON, USER_NAME, _check_kind, _check_path, _check_site_name,
    _cron_file, _describe, _drop_in, _drop_in_dir, _logrotate_file, _manage_units, _timer_unit, _user_crontab,
    cron_lock,
)

NEEDS_ROOT = "{doing} the schedule needs root: run `sudo igny8-agent schedule {command} ...`"


@dataclass
class Schedule:
    kind: str  # "systemd", "cron" or "user-cron"
    files: list  # Paths written / that would be written (removed, for remove())
    description: str

def default_root() -> Path:
    """``$IGNY8_SCHEDULE_ROOT`` if set, else ``/``."""
    return Path(os.environ.get(ROOT_ENV) or "/")


def detect_kind(root: Optional[Path] = None) -> str:
    """"systemd" when systemd is the running init system (as sd_booted()), else "cron"."""
    return SYSTEMD if ((root or default_root()) / "run" / "systemd" / "system").is_dir() else CRON


def render(kind: str, site_name: str, config: Path, agent: str, user: str, lock: Path, log: Path) -> Dict[str, str]:
    """The files of one site's schedule: ``{path relative to root: text}``.
    For ``site_name`` ALL_SITES, the one job that runs ``sync --all`` and
    ``config`` is the agent's config directory.

    ``lock`` is the agent's lock file for the site; its folder is the state
    directory, which the run may write and is told about
    (``IGNY8_STATE_DIR``). The cron job keeps itself from piling up with
    ``flock`` on a lock file of its own beside it (``<site>.cron.lock``): the
    agent takes an ``flock`` on ``lock`` during a sync, and would find it
    taken if cron held it. ``log`` is used by cron only; systemd sends the
    output to the journal.
    """
    _check_kind(kind)
    _check_site_name(site_name)
    for what, path in (("agent", agent), ("config file", config), ("lock file", lock), ("log file", log)):
        _check_path(what, str(path))
    if not USER_NAME.fullmatch(user):
        raise ConfigError(f"invalid user name {user!r} for the schedule")
    if site_name == ALL_SITES:  # `schedule install --all`: one job for every site of the host
        _check_path("config directory", str(config))
        command = f"env IGNY8_CONFIG_DIR={config} {agent} sync --all"
        commands = (command + " --quiet", "/usr/bin/" + command)
    else:
        commands = (f"{agent} sync --quiet --config {config}", f"{agent} sync --config {config}")
    values = {
        "SITE": site_name,
        "COMMAND": commands[0],
        "UNIT_COMMAND": commands[1],
        "USER": user,
        "AGENT": agent,
        "CONFIG": str(config),
        "SITES_DIR": str(config.parent),
        "STATE_DIR": str(lock.parent),
        "CRON_LOCK": str(cron_lock(lock)),
        "LOG": str(log),
        "GROUP": _group_of(user),
    }
    if kind == CRON:
        return {
            _cron_file(site_name): _fill("igny8-agent.cron", values),
            _logrotate_file(site_name): _fill("igny8-agent.logrotate", values),
        }
    return {
        SERVICE: _fill("igny8-agent@.service", values),
        TIMER: _fill("igny8-agent@.timer", values),
        _drop_in(site_name): _fill("site-override.conf", values),
    }


def install(
    site_name: str,
    config: Path,
    agent: str,
    user: str,
    lock: Path,
    log: Path,
    *,
    root: Optional[Path] = None,
    kind: Optional[str] = None,
    run: Run = subprocess.run,
    manage_units: Optional[bool] = None,
    require_systemd: Optional[bool] = None,
) -> Schedule:
    """Write the site's schedule and, for systemd, enable its timer.

    A schedule of the other kind for the same site is removed once this one
    is in place: the site never syncs twice a day, and a failed install
    leaves the old schedule working.
    ``manage_units`` (default: ``root`` is ``/``) says whether to run
    ``systemctl daemon-reload`` and ``systemctl enable --now``.
    ``require_systemd`` (default: ``root`` is ``/``) refuses a systemd
    schedule, with nothing written, where systemd is not running.
    """
    root = root or default_root()
    kind = kind or detect_kind(root)
    files = render(kind, site_name, config, agent, user, lock, log)
    if require_systemd is None:
        require_systemd = root == Path("/")
    if kind == SYSTEMD and require_systemd and detect_kind(root) != SYSTEMD:
        raise ConfigError(
            "systemd is not running on this host (no /run/systemd/system): use `--kind cron`; nothing was written"
        )
    manage = _manage_units(root, manage_units)
    targets = [root / relative for relative in files]
    try:
        if kind == CRON:
            _refuse_other_sites_cron_file(root, site_name)
        for target, text in zip(targets, files.values()):
            _write_file(target, text)
        if kind == SYSTEMD:
            if manage:
                _systemctl(run, "daemon-reload")
                _systemctl(run, "enable", "--now", _timer_unit(site_name))
            _remove_cron(root, site_name)
        else:
            _remove_systemd(root, site_name, run, manage)
    except PermissionError:
        raise ConfigError(NEEDS_ROOT.format(doing="installing", command="install")) from None
    except OSError as exc:
        raise ConfigError(f"cannot install the schedule: {_os_error(exc)}") from None
    return Schedule(kind=kind, files=targets, description=_describe(kind, site_name))


def remove(
    site_name: str,
    *,
    root: Optional[Path] = None,
    kind: Optional[str] = None,
    run: Run = subprocess.run,
    manage_units: Optional[bool] = None,
) -> Schedule:
    """Disable and delete the site's schedule: of ``kind``, or of both kinds.

    Nothing installed is fine. The shared systemd template units go with the
    last site that uses them. A user who is not root also loses the site's
    block in their own crontab.
    """
    root = root or default_root()
    _check_site_name(site_name)
    if kind is not None:
        _check_kind(kind)
    manage = _manage_units(root, manage_units)
    removed: Dict[str, List[Path]] = {}
    try:
        if kind in (None, SYSTEMD):
            removed[SYSTEMD] = _remove_systemd(root, site_name, run, manage)
        if kind in (None, CRON):
            removed[CRON] = _remove_cron(root, site_name)
            if _user_crontab(root):
                from igny8_agent import schedule_crontab

                removed[USER_CRON] = schedule_crontab.remove(site_name)
    except PermissionError:
        raise ConfigError(NEEDS_ROOT.format(doing="removing", command="remove")) from None
    except OSError as exc:
        raise ConfigError(f"cannot remove the schedule: {_os_error(exc)}") from None
    done = [k for k in (SYSTEMD, CRON, USER_CRON) if removed.get(k)]
    if not done:
        return Schedule(
            kind=kind or detect_kind(root), files=[], description=f"no schedule installed for site {site_name}"
        )
    files = [path for k in done for path in removed[k]]
    description = " and ".join(_describe(k, site_name) for k in done)
    return Schedule(kind=done[0], files=files, description=f"removed {description}")


def show(site_name: str, *, root: Optional[Path] = None) -> Optional[Schedule]:
    """What is installed for this site, of both kinds (systemd first); None if nothing.

    Both kinds at once (the site syncs twice a day) are shown with a warning.
    """
    root = root or default_root()
    _check_site_name(site_name)
    found: List[Schedule] = []
    if _systemd_installed(root, site_name):
        files = [root / p for p in (SERVICE, TIMER, _drop_in(site_name)) if (root / p).exists()]
        description = _describe(SYSTEMD, site_name)
        if not os.path.lexists(root / TIMER_WANTS / _timer_unit(site_name)):
            description += f", not enabled: run `systemctl enable --now {_timer_unit(site_name)}`"
        found.append(Schedule(kind=SYSTEMD, files=files, description=description))
    if _cron_installed(root, site_name):
        files = [root / p for p in (_cron_file(site_name), _logrotate_file(site_name)) if (root / p).exists()]
        found.append(Schedule(kind=CRON, files=files, description=_describe(CRON, site_name)))
    if _user_crontab(root):
        from igny8_agent import schedule_crontab

        found += [s for s in [schedule_crontab.show(site_name)] if s]
    if len(found) < 2:
        return found[0] if found else None
    description = " and ".join(s.description for s in found)
    return Schedule(
        kind=found[0].kind,
        files=[path for s in found for path in s.files],
        description=f"{description} (the site syncs more than once a day: run `igny8-agent schedule remove`, then install one)",
    )


def for_site(site_name: str, *, root: Optional[Path] = None) -> Optional[Schedule]:
    """What runs this site daily: its own job, or the host's ``--all`` job."""
    return show(site_name, root=root) or show(ALL_SITES, root=root)


# -- what is installed --------------------------------------------------------


def _cron_site(path: Path) -> Optional[str]:
    """The site a cron file of ours is for; None if it does not say."""
    try:
        match = CRON_SITE_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None
    return match.group(1) if match else None


def _cron_installed(root: Path, site_name: str) -> bool:
    """The cron file exists and is not another site's that maps to the same name."""
    path = root / _cron_file(site_name)
    return path.is_file() and _cron_site(path) in (None, site_name)


def _refuse_other_sites_cron_file(root: Path, site_name: str) -> None:
    path = root / _cron_file(site_name)
    other = _cron_site(path) if path.is_file() else None
    if other not in (None, site_name):
        raise ConfigError(f"/{_cron_file(site_name)} already schedules site {other}: rename one of the config files")


def _systemd_installed(root: Path, site_name: str) -> bool:
    return (root / _drop_in(site_name)).is_file() or os.path.lexists(root / TIMER_WANTS / _timer_unit(site_name))


def _other_systemd_sites(root: Path, site_name: str) -> bool:
    """Does any other site still use the shared template units?

    Sites installed here have a drop-in; sites enabled by hand, a link in
    timers.target.wants. Both names carry the site after the "@".
    """
    drop_ins = (root / UNIT_DIR).glob(f"igny8-agent@*.service.d/{DROP_IN}")
    enabled = (root / TIMER_WANTS).glob("igny8-agent@*.timer")
    names = [p.parent.name[: -len(".service.d")] for p in drop_ins] + [p.name[: -len(".timer")] for p in enabled]
    return any(name.split("@", 1)[1] != site_name for name in names)


# -- removing -----------------------------------------------------------------


def _remove_cron(root: Path, site_name: str) -> List[Path]:
    """The cron.d file and the logrotate file installed with it."""
    if not _cron_installed(root, site_name):
        return []
    path = root / _cron_file(site_name)
    path.unlink()
    removed = [path]
    rotate = root / _logrotate_file(site_name)
    if rotate.is_file():
        rotate.unlink()
        removed.append(rotate)
    return removed


def _remove_systemd(root: Path, site_name: str, run: Run, manage: bool) -> List[Path]:
    if not _systemd_installed(root, site_name):
        return []
    removed = []
    # Units left where systemd is not running (an install that failed there):
    # systemctl cannot work, and its failure must not keep the files.
    booted = detect_kind(root) == SYSTEMD
    if manage and (root / TIMER).is_file():
        link = root / TIMER_WANTS / _timer_unit(site_name)
        enabled = os.path.lexists(link)
        _systemctl(run, "disable", "--now", _timer_unit(site_name), must=booted)
        if enabled:
            removed.append(link)  # systemctl deleted it (or does below, without systemd)
    if not booted and os.path.lexists(root / TIMER_WANTS / _timer_unit(site_name)):
        (root / TIMER_WANTS / _timer_unit(site_name)).unlink()
    drop_in = root / _drop_in(site_name)
    if drop_in.is_file():
        drop_in.unlink()
        removed.append(drop_in)
        try:
            drop_in.parent.rmdir()  # kept if the operator has an override.conf there
        except OSError:
            pass
    if not _other_systemd_sites(root, site_name):
        for shared in (root / SERVICE, root / TIMER):
            if shared.is_file():
                shared.unlink()
                removed.append(shared)
    if manage:
        _systemctl(run, "daemon-reload", must=booted)
    return removed

