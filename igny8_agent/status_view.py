"""``igny8-agent status`` as text: the local part, then the table the IGNY8
frontend shows. Plain string formatting (colour only on a terminal), so that
the command people and monitoring run often starts fast."""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, List, Optional, Tuple

# Nothing of the agent is imported at the top: cli.fail() uses visible() on any
# error, also one that stopped the agent half-way through importing a module.
_COLOURS = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}
# C0 controls (ESC, CR, BEL ...), DEL, C1 controls, and the bidirectional
# overrides and isolates that make a terminal show text other than it is.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: Any) -> str:
    """Text from the database or the backend, safe for a terminal or a log:
    every control character shown as an escape (ESC -> ``\\x1b``). The
    result is plain text; rich must print it as text, never as markup."""
    text = text if isinstance(text, str) else str(text)
    return _CONTROLS.sub(_escape, text)


def _escape(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def render(local: dict, remote: Any, colour: Optional[bool] = None) -> str:
    paint = _painter(sys.stdout.isatty() and "NO_COLOR" not in os.environ if colour is None else colour)
    state_colour = {"Connected & Ready": "green", "Not connected": "red"}.get(local["connection"], "yellow")
    rows = [
        ("Connection", local["connection"]),
        ("Account", " ".join(x for x in (local["account"], f"({local['account_name']})" if local["account_name"] else "") if x) or "—"),
        ("Site", f"{local['site_id']}  {local['site_url']}" if local["site_id"] else "—"),
        ("Integration", str(local["integration_id"] or "—")),
        ("Backend", local["backend"]),
        ("API key", f"stored in {local['key_storage']}" if local["key_storage"] else "—"),
        ("Last attempt", ago(local["last_attempt"])),
        ("Last success", ago(local["last_success"])),
        ("Last error", _error_text(local["last_error"])),
        ("Sync operations", "Enabled" if local["sync_enabled"] else "Disabled"),
        ("Two-way sync", "Enabled" if local["two_way_sync_enabled"] else "Disabled"),
        ("Schedule", local["schedule"] or "not installed (igny8-agent schedule install)"),
        ("Config", local["config"]),
    ]
    width = max(len(name) for name, _ in rows)

    def shown(name: str, value: Any) -> str:
        text = visible(value)  # the values come from the database, the backend, the state
        return paint(text, state_colour) if name == "Connection" else text

    lines = [f"{paint(name.ljust(width), 'bold')}  {shown(name, value)}" for name, value in rows]
    if remote is not None:
        lines.append("")
        if remote.error:
            lines.append(f"{paint('warning:', 'yellow')} could not get the backend's view: {visible(remote.error)}")
        else:
            lines.extend(_content_types(remote.content_types or {}, paint))
    return "\n".join(lines) + "\n"


def _content_types(data: dict, paint) -> List[str]:
    """"Posts   123 total · 45 synced  [Enabled]  Limit: 100", as the frontend shows it."""
    from igny8_agent.structure import KINDS, TITLES

    fetched = visible(ago(data.get("last_structure_fetch")))
    lines = [f"{paint('WordPress Content Types', 'bold')}   Last structure fetch: {fetched}"]
    for kind in KINDS:
        entries = data.get(kind) if isinstance(data.get(kind), dict) else {}
        rows: List[Tuple[str, str, str, bool, str]] = [
            (visible(e.get("label") or slug), f"{_int(e.get('count')):,} total", f"{_int(e.get('synced_count')):,} synced",
             e.get("enabled") is True, visible(f"Limit: {e.get('fetch_limit', '—')}"))
            for slug, e in entries.items() if isinstance(e, dict)
        ]
        lines.append(TITLES[kind])
        if not rows:
            lines.append("  (none yet)")
            continue
        w = [max(len(r[i]) for r in rows) for i in (0, 1, 2)]
        for label, total, synced, enabled, limit in rows:
            flag = paint("[Enabled] ", "green") if enabled else paint("[Disabled]", "dim")
            lines.append(f"  {label.ljust(w[0])}  {total.rjust(w[1])} · {synced.rjust(w[2])}  {flag}  {limit}")
    return lines


def _painter(enabled: bool):
    def paint(text: str, style: str) -> str:
        return f"\033[{_COLOURS[style]}m{text}\033[0m" if enabled else text

    return paint


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_text(error: Any) -> str:
    if not error:
        return "—"
    kind = "temporary, the next run retries" if error.get("temporary") else "needs an operator"
    return f"{error.get('message')} ({ago(error.get('at'))}; {kind})"


def ago(stamp: Any) -> str:
    """ISO 8601 time -> "2026-11-26 07:00 UTC (3 hours ago)"."""
    from igny8_agent.state import parse_time

    if not stamp:
        return "never"
    when = parse_time(stamp)
    if when is None:
        return str(stamp)
    seconds = int((datetime.now(timezone.utc) - when).total_seconds())
    rel = "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            rel = f"{n} {unit}{'s' if n != 1 else ''} ago"
            break
    return f"{when:%Y-%m-%d %H:%M} UTC ({rel})"


# -- status --check: one line for monitoring -------------------------------------

# The monitoring-plugins convention (Nagios, Icinga, Zabbix, Sensu).
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
_CHECK_WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
DEFAULT_MAX_AGE_HOURS = 36.0
_KEY_REFUSED = (401, 403)


def run_check(locate: Any, as_json: bool, max_age: Optional[float]) -> Tuple[int, str]:
    """``status --check``: (exit code, line). ``locate()`` gives the site.
    Whatever stops the check (a config or state it cannot read) is UNKNOWN."""
    import math

    from igny8_agent.errors import ConfigError, Igny8Error

    hours = DEFAULT_MAX_AGE_HOURS if max_age is None else max_age
    warn = hours * 3600 if math.isfinite(hours) and hours > 0 else None
    try:
        if as_json:
            raise ConfigError("--check prints one line for monitoring; drop --json")
        if warn is None:
            raise ConfigError(f"--max-age must be a positive number of hours, not {hours:g}")
        from igny8_agent.state import load_state

        site = locate()
        state = load_state(site.paths.state)
        return check_line(state, site.settings.plugin_connection_enabled, hours)
    except Exception as exc:  # noqa: BLE001 - monitoring wants UNKNOWN, not the usual exit codes
        text = str(exc) if isinstance(exc, Igny8Error) else f"internal error: {type(exc).__name__}: {exc}"
        return check_result(UNKNOWN, text, None, warn)


def check_line(state: Any, sync_enabled: bool, max_age_hours: float,
               now: Optional[datetime] = None) -> Tuple[int, str]:
    """(exit code, line) for ``status --check``, from the local state only.

    CRITICAL: not connected, or the last sync (by the state's sequence
    numbers) failed — the key refused included; WARNING: the last success is
    older than ``max_age_hours``, or nothing was recorded yet; OK otherwise
    (also when sync operations are switched off and IGNY8 was told so)."""
    from igny8_agent.state import parse_time

    warn = max_age_hours * 3600
    now = now or datetime.now(timezone.utc)
    age: Optional[int] = None
    if state.last_success:
        when = parse_time(state.last_success)
        if when is None:
            return check_result(UNKNOWN, f"the state's last success time {state.last_success!r} is unreadable", None, warn)
        age = max(0, int((now - when).total_seconds()))  # a clock stepped back is "just now"
    last_ok = f"last success {_since(age)}" if age is not None else "never synced successfully"
    if not state.connected:
        return check_result(CRITICAL, "not connected (run igny8-agent connect)", age, warn)
    site = f"site {state.site_id} {state.site_url}".rstrip()
    outcome = state.last_outcome()
    if outcome == "error":
        error = state.last_error
        message = error.get("message") or "unknown error"
        failed_at = parse_time(error.get("at"))
        failed = _since(max(0, int((now - failed_at).total_seconds()))) if failed_at else "at an unknown time"
        if error.get("status") in _KEY_REFUSED:
            what = f"API key refused by the backend {failed}: {message}"
        else:
            kind = "temporary, the next run retries" if error.get("temporary") else "needs an operator"
            what = f"last sync failed {failed} ({kind}): {message}"
        return check_result(CRITICAL, f"{what}; {last_ok}; {site}", age, warn)
    if outcome is None:
        return check_result(WARNING, f"connected, but no sync recorded yet; {site}", age, warn)
    if not sync_enabled and state.pushed_connection_enabled is False:
        return check_result(OK, f"sync operations are disabled (IGNY8 was told); {last_ok}; {site}", age, warn)
    if age is not None and age > warn:
        return check_result(WARNING, f"{last_ok}, older than {max_age_hours:g} h; {site}", age, warn)
    return check_result(OK, f"{last_ok}; {site}", age, warn)


def check_result(code: int, text: str, age: Optional[int], warn: Optional[float]) -> Tuple[int, str]:
    """``IGNY8 <STATE> - text | age=<s>s;<warn>;;0`` (monitoring-plugins perfdata:
    'label'=value[UOM];[warn];[crit];[min];[max]; ``U`` when there is no value)."""
    # One line, and no "|": everything after it would be read as perfdata.
    text = visible(text).replace("|", "/")
    value = f"{age}s" if age is not None else "U"
    threshold = f"{warn:.0f}" if warn is not None else ""
    return code, f"IGNY8 {_CHECK_WORDS[code]} - {text} | age={value};{threshold};;0"


def _since(seconds: Optional[int]) -> str:
    if seconds is None:
        return "never"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
