"""Runs over every site of the host: `sync --all`, `connect --network`,
`status --all` (reached through those commands' options in cli_site.py and
cli_status.py); the work is fleet.py's and networks.py's."""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import typer

from igny8_agent.cli import print_json
from igny8_agent.status_view import visible


_LABELS = {
    "pushed": "sync ok",
    "connected": "connected",
    "skipped": "skipped",
    "not-served": "not served",
    "not-in-igny8": "not in IGNY8",
    "busy": "busy",
    "failed": "failed",
}


def _code(outcome: Any) -> int:
    from igny8_agent.cli import exit_code_for

    return exit_code_for(outcome.error) if outcome.error is not None else 0


def outcome_dict(outcome: Any) -> dict:
    return {
        "site": outcome.site,
        "url": outcome.url,
        "blog_id": outcome.blog_id,
        "outcome": outcome.outcome,
        "exit_code": _code(outcome),
        "message": outcome.message or None,
        "site_id": outcome.site_id,
        "integration_id": outcome.integration_id,
        "counts": outcome.counts,
        "seconds": round(outcome.seconds, 3),
    }


def outcome_line(outcome: Any) -> str:
    from igny8_agent.state import utc_now

    text = _LABELS.get(outcome.outcome, outcome.outcome)
    if outcome.error is not None:
        text += f" (exit {_code(outcome)})"
    if outcome.outcome in ("pushed", "connected"):
        from igny8_agent.cli_site import counts_line

        text += ": " + counts_line(outcome)
    elif outcome.message:
        text += f": {outcome.message}"
    where = outcome.site or outcome.url
    return f"{utc_now()} igny8-agent[{where}] {visible(text)}"


class _Report:
    """Without a terminal each site's line as it finishes (failures only with
    --quiet); on a terminal a counter, then a table of the outcomes; and the
    summary."""

    def __init__(self, quiet: bool, as_json: bool, what: str) -> None:
        self.quiet, self.as_json, self.what = quiet, as_json, what
        self.outcomes: List[Any] = []
        self._progress = None
        self.table = sys.stdout.isatty() and not as_json
        if sys.stderr.isatty() and not as_json and not quiet:
            from rich.console import Console

            self._progress = Console(stderr=True).status(f"{what}…")
            self._progress.start()

    def __call__(self, outcome: Any) -> None:
        self.outcomes.append(outcome)
        if self._progress is not None:
            self._progress.update(f"{self.what}: {len(self.outcomes)} sites done…")
        if self.as_json or self.table or (self.quiet and outcome.error is None):
            return
        print(outcome_line(outcome), file=sys.stderr if outcome.error is not None else sys.stdout, flush=True)

    def print_table(self) -> None:
        shown = [o for o in self.outcomes if o.error is not None or not self.quiet]
        if not shown:
            return
        from rich.table import Table

        from igny8_agent.display import console, plain

        table = Table(title_justify="left")
        for title in ("Site", "URL", "Outcome", "Exit", "Details"):
            table.add_column(title)
        for outcome in sorted(shown, key=lambda o: (o.blog_id or 0, o.site)):
            details = outcome.message or ", ".join(
                f"{kind} " + ",".join(f"{slug}={n}" for slug, n in counts.items())
                for kind, counts in outcome.counts.items())
            table.add_row(plain(outcome.site or "—"), plain(outcome.url or "—"),
                          plain(_LABELS.get(outcome.outcome, outcome.outcome)), str(_code(outcome)), plain(details))
        console.print(table)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, seconds: float) -> str:
        counts: dict = {}
        for outcome in self.outcomes:
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        order = ("pushed", "connected", "skipped", "not-served", "not-in-igny8", "busy", "failed")
        parts = [f"{counts[name]} {_LABELS[name] if name != 'pushed' else 'pushed'}" for name in order if counts.get(name)]
        return f"{self.what}: {', '.join(parts) or 'no sites'} in {seconds:.2f} s"


def _finish(report: _Report, started: float, extra: Optional[dict] = None, list_key: str = "sites") -> None:
    import time

    from igny8_agent.cli import worst_exit

    report.stop()
    seconds = time.monotonic() - started
    code = worst_exit(_code(o) for o in report.outcomes)
    if report.table:
        report.print_table()
    if report.as_json:
        data = dict(extra or {})
        data[list_key] = [outcome_dict(o) for o in sorted(report.outcomes, key=lambda o: (o.blog_id or 0, o.site))]
        for name in ("pushed", "connected", "failed", "skipped", "not-served", "not-in-igny8", "busy"):
            data[name.replace("-", "_")] = sum(1 for o in report.outcomes if o.outcome == name)
        data["seconds"] = round(seconds, 3)
        data["exit_code"] = code
        print_json(data)
    elif not report.quiet or code != 0:
        print(f"igny8-agent: {report.summary(seconds)}" + (f" (exit {code})" if code else ""),
              file=sys.stderr if code else sys.stdout)
    raise typer.Exit(code)


def sync_all(jobs: int, connect_new: bool, quiet: bool, as_json: bool, metrics_file: Optional[str] = None) -> None:
    """`sync --all`."""
    import os
    import time

    from igny8_agent import fleet

    started = time.monotonic()
    report = _Report(quiet, as_json, "sync --all")

    def metrics(site: Any, outcome: Any, seconds: float) -> None:
        from igny8_agent.cli_site import write_metrics

        write_metrics(site, site.settings.metrics_file if metrics_file is None else metrics_file,
                      _code(outcome), seconds)

    try:
        fleet.sync_all(os.environ, jobs=jobs, connect_new=connect_new, on_done=report, after_site=metrics)
    except KeyboardInterrupt:
        report.stop()
        _stop_now(report, 130)
    except BaseException:  # the command's own handler prints it and picks the exit code
        report.stop()
        raise
    _finish(report, started)


def _stop_now(report: _Report, code: int) -> None:
    """Ctrl-C or SIGTERM in a run over many sites: what finished is saved
    (each site's state is written atomically); the workers still waiting on
    the backend are not waited for."""
    import os

    print(f"igny8-agent: interrupted after {len(report.outcomes)} sites; "
          "the others keep their last state", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def connect_network(site: Any, api_key: str, email: Optional[str], api_url: Optional[str],
                    auto_connect: bool, jobs: int, as_json: bool) -> None:
    """`connect --network`."""
    import os
    import time

    from igny8_agent import networks

    started = time.monotonic()
    report = _Report(False, as_json, "connect --network")
    try:
        name, _outcomes = networks.connect_network(site, api_key, email=email, api_url=api_url,
                                                   auto_connect=auto_connect, jobs=jobs, environ=os.environ,
                                                   on_done=report)
    except KeyboardInterrupt:
        report.stop()
        _stop_now(report, 130)
    except BaseException:
        report.stop()
        raise
    # Only temporary failures left: 6; anything else not connected: 5 (or worse).
    from igny8_agent.errors import BackendError

    for outcome in report.outcomes:
        if outcome.outcome == "not-in-igny8":
            outcome.error = BackendError(outcome.message)
    _finish(report, started, {"network": name, "auto_connect": auto_connect}, list_key="subsites")


STATUS_COLUMNS = ("site", "url", "last_success", "last_error", "next_run")


def _next_run(kind: str) -> str:
    """The daily jobs run at local midnight with a random delay of up to an hour."""
    from datetime import datetime, timedelta

    tomorrow = (datetime.now().astimezone() + timedelta(days=1)).strftime("%Y-%m-%d")
    return f"{tomorrow} 00:00-01:00 ({kind})"


def status_rows() -> List[dict]:
    """A row per site of this host (those whose files cannot be read too)."""
    import os

    from igny8_agent import fleet, schedule
    from igny8_agent.errors import Igny8Error

    members, broken = fleet.every_site(os.environ)
    try:
        host_job = schedule.show(schedule.ALL_SITES)
    except Igny8Error:
        host_job = None
    rows = []
    for member in members:
        state = member.state
        job = host_job
        if job is None:
            try:
                job = schedule.show(member.name)
            except Igny8Error:
                job = None
        error = state.last_error if state.last_outcome() == "error" else None
        rows.append({
            "site": member.name,
            "url": state.site_url or member.site.settings.url or None,
            "connected": state.connected,
            "last_success": state.last_success or None,
            "last_error": (error or {}).get("message") or None,
            "next_run": _next_run("sync --all" if job is host_job and job else job.kind) if job else None,
            "_state": state,
            "_enabled": member.site.settings.plugin_connection_enabled,
        })
    for outcome in broken:
        rows.append({"site": outcome.site, "url": None, "connected": None, "last_success": None,
                     "last_error": outcome.message, "next_run": None, "_state": None, "_enabled": True})
    return sorted(rows, key=lambda row: row["site"])


def status_all(fmt: str, check: bool, max_age: Optional[float]) -> None:
    """`status --all`."""
    rows = status_rows()
    if check:
        code, line = _check_all(rows, max_age)
        print(line)
        raise typer.Exit(code)
    public = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    if fmt == "json":
        print_json({"sites": public})
    elif fmt == "yaml":
        from igny8_agent.formats import to_yaml

        sys.stdout.write(to_yaml({"sites": public}))
    elif fmt == "csv":
        from igny8_agent.formats import rows_csv

        sys.stdout.write(rows_csv(STATUS_COLUMNS, [[row[c] or "" for c in STATUS_COLUMNS] for row in public]))
    else:
        from rich.table import Table

        from igny8_agent.display import console, plain
        from igny8_agent.status_view import ago

        table = Table(title_justify="left")
        for title in ("Site", "URL", "Last success", "Last error", "Next run"):
            table.add_column(title)
        for row in public:
            table.add_row(plain(row["site"]), plain(row["url"] or "—"),
                          plain(ago(row["last_success"]) if row["last_success"] else "never"),
                          plain(row["last_error"] or "—"), plain(row["next_run"] or "no schedule"))
        console.print(table)
        print(f"igny8-agent: {len(public)} sites, {sum(1 for r in public if r['connected'])} connected",
              file=sys.stderr)


# Worst first for monitoring: CRITICAL beats UNKNOWN beats WARNING beats OK.
_CHECK_ORDER = (0, 1, 3, 2)
_CHECK_WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


def _check_all(rows: List[dict], max_age: Optional[float]) -> tuple:
    """`status --check --all`: one monitoring line over every site, worst wins."""
    import math

    from igny8_agent.status_view import DEFAULT_MAX_AGE_HOURS, check_line

    hours = DEFAULT_MAX_AGE_HOURS if max_age is None else max_age
    if not (math.isfinite(hours) and hours > 0):
        return 3, f"IGNY8 UNKNOWN - --max-age must be a positive number of hours, not {hours:g}"
    if not rows:
        return 3, "IGNY8 UNKNOWN - no site is configured on this host (igny8-agent connect)"
    results = []
    for row in rows:
        if row["_state"] is None:
            results.append((3, row["site"], f"UNKNOWN - {row['last_error']}", None))
            continue
        code, line = check_line(row["_state"], row["_enabled"], hours)
        text = line.split(" - ", 1)[-1].split(" | ", 1)[0]
        age = row["_state"].last_success and _age(row["_state"].last_success)
        results.append((code, row["site"], text, age))
    worst = max((r[0] for r in results), key=_CHECK_ORDER.index)
    counts = {word: sum(1 for r in results if _CHECK_WORDS[r[0]] == word) for word in _CHECK_WORDS}
    bad = [r for r in results if r[0] != 0]
    bad.sort(key=lambda r: -_CHECK_ORDER.index(r[0]))
    summary = f"{len(results)} sites: " + ", ".join(f"{n} {w}" for w, n in counts.items() if n)
    if bad:
        summary += "; " + "; ".join(f"{site}: {text}" for _code, site, text, _age in bad[:3])
        if len(bad) > 3:
            summary += f"; and {len(bad) - 3} more"
    ages = [r[3] for r in results if r[3] is not None]
    warn = int(hours * 3600)
    perf = (f"sites={len(results)} ok={counts['OK']} warning={counts['WARNING']} critical={counts['CRITICAL']}"
            f" unknown={counts['UNKNOWN']}" + (f" oldest_age={max(ages)}s;{warn};;0" if ages else ""))
    return worst, f"IGNY8 {_CHECK_WORDS[worst]} - {visible(summary)} | {perf}"


def _age(stamp: str) -> Optional[int]:
    from datetime import datetime, timezone

    from igny8_agent.state import parse_time

    when = parse_time(stamp)
    return None if when is None else max(0, int((datetime.now(timezone.utc) - when).total_seconds()))
