"""``doctor``'s links past the database: the API key, the backend (reachable,
TLS, the key accepted, the clock), the schedule and its user, the last sync,
and the agent's own files. Like :mod:`igny8_agent.doctor`, it only reads."""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional, Tuple

from igny8_agent.doctor import FAIL, OK, SKIP, WARN, Check, Checks
from igny8_agent.errors import AuthError, BackendError, ConfigError, NotConnectedError, TransientError

MAX_SKEW = 300.0  # seconds between this host's clock and the backend's before a warning
STALE_HOURS = 36.0  # as `status --check`: a daily sync older than this is late
NEW_KEY = "get a new API key in IGNY8 (Site Settings > Integration) and run `igny8-agent connect` with it"
BACKEND = ["backend", "tls", "key_accepted", "clock"]


def follow(site: Any, checks: Checks, secrets: List[str]) -> None:
    """Decide every check from ``api_key`` on; ``secrets`` gets the key."""
    found: dict = {}
    checks.step(["api_key"], lambda: found.update(_api_key(site, checks["api_key"])),
                fix="run `igny8-agent connect` again")
    key = found.get("key")
    if key:
        secrets.append(key)
        checks.step(BACKEND, lambda: _backend(site, key, found.get("state"), checks))
    else:
        checks.skip(BACKEND, "skipped: no API key to try")
    installed: list = []
    checks.step(["schedule", "schedule_user"], lambda: installed.append(_schedule(site, checks)),
                fix="install it again for an existing user: igny8-agent schedule install --user NAME")
    checks.step(["last_run"], lambda: _last_run(found.get("state"), bool(installed and installed[0]),
                                                checks["last_run"]))
    checks.step(["files"], lambda: _files(site, checks["files"]))


# -- the key -------------------------------------------------------------------------


def _api_key(site: Any, check: Check) -> dict:
    from igny8_agent import flow
    from igny8_agent.keystore import KeyStore, key_override
    from igny8_agent.state import load_state

    state = load_state(site.paths.state)
    override = key_override()
    if override:
        check.set(OK, f"given by {override[1]}, which overrides the stored key")
        return {"key": override[0], "state": state}
    keystore = KeyStore()
    if not state.connected:
        check.set(FAIL, f"this site is not connected: no API key is stored for it ({keystore.backend_name})",
                  "run `igny8-agent connect` with the key from IGNY8 (Site Settings > Integration)", NotConnectedError)
        return {"state": state}
    try:
        flow.check_backend(site, state)
    except NotConnectedError as exc:
        check.set(FAIL, str(exc), f"or set the API URL back: igny8-agent config backend --api-url {state.api_url}",
                  NotConnectedError)
        return {"state": state}
    key = keystore.get(state.key_entry)
    if not key:
        check.set(FAIL, f"no API key for this site in {keystore.backend_name} (entry {state.key_entry})",
                  "run `igny8-agent connect` again with the key from IGNY8 (Site Settings > Integration)",
                  NotConnectedError)
        return {"state": state}
    check.set(OK, f"in {keystore.backend_name}")
    return {"key": key, "state": state}


# -- the backend -----------------------------------------------------------------------


def _backend(site: Any, key: str, state: Any, checks: Checks) -> None:
    """One ``GET auth/me/``, failing fast as `status` does: reachable, TLS, the key, the clock."""
    import time

    import httpx

    from igny8_agent import flow
    from igny8_agent.transport import CertificateRejected, Unreachable

    reach, tls, accepted = checks["backend"], checks["tls"], checks["key_accepted"]
    settings = site.settings
    url = settings.api_url.strip().rstrip("/")
    https = url.lower().startswith("https://")
    check_url = "check the API URL (igny8-agent config backend --api-url URL)"
    try:
        client = flow.make_client(site, key, url, retry_budget=min(5.0, settings.retry_budget), fail_fast=True,
                                  then=flow.again_later("doctor"))
    except ConfigError as exc:
        reach.set(FAIL, str(exc), check_url, ConfigError)
        checks.skip(BACKEND, "skipped: the backend's address is not usable")
        return
    if not https:
        tls.set(SKIP, "skipped: plain http://, which only a loopback backend may use")
    answered = True  # a response came back (over TLS, for https)
    with client:
        started = time.monotonic()
        try:
            me = client.me()
        except CertificateRejected as exc:
            answered = False
            reach.set(OK, f"{url}: connected")
            tls.set(FAIL, str(exc), "renew the backend's certificate, or give the CA that issued it:"
                    " igny8-agent config backend --ca-bundle FILE; " + check_url, BackendError)
        except Unreachable as exc:
            answered = False
            if exc.kind == "tls":
                reach.set(OK, f"{url}: connected")
                tls.set(FAIL, str(exc), f"is it an https:// server? {check_url}", TransientError)
            else:
                reach.set(FAIL, str(exc), f"{check_url}; check DNS, the firewall and the proxy settings",
                          TransientError)
        except AuthError as exc:
            reach.set(OK, f"{url} answered in {time.monotonic() - started:.2f} s")
            accepted.set(FAIL, str(exc), NEW_KEY, BackendError)
        except TransientError as exc:
            answered = exc.status is not None
            reach.set(FAIL, str(exc), "wait and run doctor again; if it lasts, ask IGNY8 support", TransientError)
        except BackendError as exc:
            reach.set(FAIL, f"{url} answered, but not as the IGNY8 API does: {exc}", check_url, BackendError)
        else:
            reach.set(OK, f"{url} answered in {time.monotonic() - started:.2f} s")
            accepted.set(*_account(me, state))
        if https and answered and not tls.status:
            where = f"the CA bundle {settings.ca_bundle}" if settings.ca_bundle else "the system's CAs"
            tls.set(OK, f"the certificate of {httpx.URL(url).host} is valid and trusted ({where})")
        if client.server_clock is not None or answered:
            _clock(client.server_clock, checks["clock"])
    checks.skip(BACKEND, "skipped: the backend could not be reached")


def _account(me: dict, state: Any) -> Tuple[str, str, str]:
    email = str(me.get("email") or "?")
    account = me.get("account") if isinstance(me.get("account"), dict) else {}
    name = f" ({account.get('name')})" if account.get("name") else ""
    connected = (state.account_email or "") if state is not None else ""
    if connected and connected.strip().lower() != email.strip().lower():
        return (WARN, f"the key belongs to {email}{name}, but the site was connected as {connected}",
                "run `igny8-agent connect` with this site's key")
    return OK, f"the key belongs to {email}{name}", ""


def _clock(sample: Optional[Tuple[datetime, datetime]], check: Check) -> None:
    if sample is None:
        check.set(SKIP, "skipped: the backend sent no Date header")
        return
    served, local = sample
    skew = (local - served).total_seconds()
    if abs(skew) <= MAX_SKEW:
        check.set(OK, f"within {abs(skew):.0f} s of the backend's (its Date header)")
        return
    side = "ahead of" if skew > 0 else "behind"
    check.set(WARN, f"this host's clock is {_span(abs(skew))} {side} the backend's (its Date header)",
              "set the clock right and keep it so: timedatectl set-ntp true (or chrony / ntpd)")


def _span(seconds: float) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}{'s' if round(n) != 1 else ''}"
    return f"{seconds:.0f} s"


# -- the schedule ------------------------------------------------------------------------


def _schedule(site: Any, checks: Checks) -> Any:
    """Installed? Then can its user read and write what the job needs? Returns the schedule."""
    from igny8_agent import schedule, schedule_users

    check = checks["schedule"]
    installed = schedule.show(site.paths.name)
    if installed is None:
        check.set(WARN, "no daily sync is installed for this site", "igny8-agent schedule install")
        checks.skip(["schedule_user"], "skipped: no schedule installed")
        return None
    if ", not enabled" in installed.description:
        check.set(WARN, installed.description, f"systemctl enable --now igny8-agent@{site.paths.name}.timer")
    elif "more than once a day" in installed.description:
        check.set(WARN, installed.description, "igny8-agent schedule remove, then igny8-agent schedule install")
    else:
        check.set(OK, installed.description)
    user, agent, config, state_dir = _job(installed, site)
    access = checks["schedule_user"]
    if os.geteuid() != 0 and user != _me():
        access.set(SKIP, f"skipped: the job runs as {user}; run doctor as root to check what that user may do")
        return installed
    wanted = schedule_users.needs(config, site.wp_config, state_dir, agent, site.paths.name)
    need = schedule_users.unmet(user, wanted)
    if need is None:
        access.set(OK, f"the job runs as {user}, who can read and write what it needs")
    else:
        access.set(FAIL, f"the job runs as {user}, who cannot {schedule_users.VERBS[need.access]} {need.what}"
                   f" {need.path}", f"give it access: {schedule_users.access_fix(user, need)}", ConfigError)
    return installed


def _me() -> str:
    from igny8_agent.trust import user_name

    return user_name(os.geteuid())


def _job(installed: Any, site: Any) -> Tuple[str, str, Path, Path]:
    """The installed job's user, agent, config file and state directory, read
    from its cron file or systemd drop-in (a user's own crontab runs as them)."""
    import shutil

    from igny8_agent import schedule

    user, agent = _me(), shutil.which("igny8-agent") or "igny8-agent"
    config, state_dir = site.paths.config, site.paths.lock.parent
    for path in installed.files:
        path = Path(path)
        if path.name == schedule.DROP_IN or path.parent.name == "cron.d":
            text = _read_text(path)
            break
    else:
        return user, agent, config, state_dir
    if path.name == schedule.DROP_IN:
        user = _last(r"^User=(\S+)", text) or "root"
        command = _last(r"^ExecStart=(\S.*)$", text) or ""
        state = _last(r"^Environment=IGNY8_STATE_DIR=(\S+)", text)
    else:
        jobs = [line.split(None, 6) for line in text.splitlines()
                if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
        user, command = (jobs[0][5], jobs[0][6]) if jobs and len(jobs[0]) == 7 else ("root", "")
        state = _last(r"^IGNY8_STATE_DIR=(\S+)", text)
    called = re.search(r"(\S+) sync\b.*?--config (\S+)", command)
    if called:
        agent, config = called.group(1), Path(called.group(2))
    return user, agent, config, Path(state) if state else state_dir


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read the schedule file {path}: {exc.strerror or exc}") from None


def _last(pattern: str, text: str) -> Optional[str]:
    found = re.findall(pattern, text, re.MULTILINE)
    return found[-1].strip() if found else None


def _last_run(state: Any, scheduled: bool, check: Check) -> None:
    from igny8_agent.state import parse_time
    from igny8_agent.status_view import ago

    if state is None:
        check.set(SKIP, "skipped: the state could not be read")
        return
    outcome = state.last_outcome()
    if outcome is None:
        if not state.connected:
            check.set(SKIP, "skipped: not connected")
        else:
            check.set(WARN, "no sync recorded yet", "igny8-agent sync")
        return
    if outcome == "error":
        error = state.last_error
        kind = "temporary" if error.get("temporary") else "needed an operator"
        check.set(WARN, f"the last sync failed {ago(error.get('at'))} ({kind}): {error.get('message')}",
                  "run `igny8-agent sync` to try now; the checks above show whether the cause is still there")
        return
    when = parse_time(state.last_success)
    hours = (datetime.now(timezone.utc) - when).total_seconds() / 3600 if when else 0.0
    if hours > STALE_HOURS:
        check.set(WARN, f"the last sync succeeded {ago(state.last_success)}, more than {STALE_HOURS:g} hours ago",
                  "check the schedule's log or journal" if scheduled else "igny8-agent schedule install")
        return
    check.set(OK, f"succeeded {ago(state.last_success)}")


# -- the agent's files ---------------------------------------------------------------------


def _files(site: Any, check: Check) -> None:
    """trust's rule on each of the agent's files and directories that exists,
    and no key or state readable by others."""
    from igny8_agent import paths, trust
    from igny8_agent.schedule import cron_lock

    state_dir = site.paths.state.parent
    key_file = paths.keyring_file()
    items = [(d, "the config directory", True) for d in paths.own_config_dirs(site.paths.config)] + [
        (site.paths.config, "the config file", False),
        (state_dir, "the state directory", True),
        (site.paths.state, "the state file", False),
        (site.paths.lock, "the lock file", False),
        (site.paths.log, "the log file", False),
        (cron_lock(site.paths.lock), "cron's lock file", False),
        (key_file.parent, "the key file's directory", True),
        (key_file, "the key file", False),
        (key_file.with_name(key_file.name + ".lock"), "the key file's lock", False),
        (state_dir / "cache", "the theme-scan cache", True),
    ]
    problems, fixes, readable, seen = [], [], [], 0
    unique = {}
    for path, what, directory in items:  # the key file's directory is the state directory, usually
        unique.setdefault(path, (path, what, directory))
    for path, what, directory in unique.values():
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        seen += 1
        kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
        if stat.S_ISLNK(info.st_mode) or not trust.trusted(info) or not kind_ok:
            problems.append(f"{what} {path}: {_describe(info)}")
            fixes.append(_fix(path, info, kind_ok))
        elif what in ("the key file", "the state file") and info.st_mode & 0o077:
            readable.append((what, path, info))
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        check.set(FAIL, f"refused by the agent: {problems[0]}{more}", "; ".join(fixes), ConfigError)
    elif readable:
        what, path, info = readable[0]
        check.set(WARN, f"{what} {path} can be read by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
                  f"chmod 600 {path}")
    else:
        owner = "root" if os.geteuid() == 0 else f"{_me()} or root"
        check.set(OK, f"{seen} files and directories: owned by {owner}, not writable by group or others,"
                  " no symbolic links")


def _describe(info: os.stat_result) -> str:
    from igny8_agent.trust import user_name

    if stat.S_ISLNK(info.st_mode):
        return f"a symbolic link (owned by {user_name(info.st_uid)})"
    return f"owned by {user_name(info.st_uid)}, mode {stat.S_IMODE(info.st_mode):04o}"


def _fix(path: Path, info: os.stat_result, kind_ok: bool) -> str:
    if stat.S_ISLNK(info.st_mode) or not kind_ok:
        return f"rm {path}"
    fixes = []
    if info.st_uid not in (0, os.geteuid()):
        fixes.append(f"check it, then chown {_me()} {path}")
    if info.st_mode & 0o022:
        fixes.append(f"chmod go-w {path}")
    return " and ".join(fixes)
