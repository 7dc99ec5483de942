"""`igny8-agent doctor`: every link from WordPress to the backend, one line each."""

from __future__ import annotations

import codecs
import os
import sys
from typing import Any, Dict, Optional

import typer

from igny8_agent.cli import EXIT_CODES, EXIT_INTERNAL, EXIT_OK, JsonOpt, app, command, locate, print_json, with_site
from igny8_agent.status_view import visible

MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
PLAIN_MARKS = {"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]", "skip": "[skip]"}
COLOURS = {"ok": "32", "warn": "33", "fail": "31", "skip": "2"}


@app.command()
@command
@with_site(database=True)
def doctor(
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Check every link from WordPress to IGNY8, and say what to fix.

    WordPress found; wp-config.php parsed; the database reachable, its user's
    grants (a warning when it may write: the agent needs SELECT only), the
    statement time limit, the WordPress tables; the API key stored; the
    backend reachable, its TLS certificate, the key accepted, the clock
    against the backend's; the schedule installed, its user's access, the
    last sync; the owners and modes of the agent's files. Each line is
    marked ok, warning (!), failed or skipped (-: a link it needs failed),
    with one line of fix under each warning and failure.

    It changes nothing (no file written, no lock taken, the database read in
    one read-only transaction, only GET auth/me/ sent) and never prints the
    API key.

    Exit codes: 0 when nothing failed (warnings, such as no schedule
    installed yet, do not count); otherwise the code of the first failed
    link: 3 configuration (WordPress not found, wp-config.php unreadable,
    no key stored, the schedule's user lacking access, the agent's files
    refused), 4 database (unreachable, tables missing), 5 the backend refused
    (key refused, TLS certificate not accepted), 6 temporary (the backend
    unreachable or failing), 1 an internal error."""
    from igny8_agent.doctor import diagnose

    report = diagnose(where, locate)
    code = exit_code(report)
    if as_json:
        print_json({"ok": code == EXIT_OK, "exit_code": code, "counts": report.counts(),
                    "checks": [c.as_dict() for c in report.checks]})
    else:
        sys.stdout.write(render(report, code))
    if code != EXIT_OK:
        raise typer.Exit(code)


def exit_code(report) -> int:
    """0, or the exit code of the first failed check's error class (cli.EXIT_CODES)."""
    failed = report.first_failure()
    if failed is None:
        return EXIT_OK
    for kind, code in EXIT_CODES:
        if failed.kind is not None and issubclass(failed.kind, kind):
            return code
    return EXIT_INTERNAL


def render(report, code: int, stream: Optional[Any] = None) -> str:
    """One line per check, the fix indented under each warning and failure, a summary."""
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "ascii"
    marks = MARKS if _can_encode(encoding, "".join(MARKS.values())) else PLAIN_MARKS
    colour = stream.isatty() and "NO_COLOR" not in os.environ
    width = max(len(c.title) for c in report.checks)
    lines = []
    for check in report.checks:
        mark = marks[check.status]
        if colour:
            mark = f"\033[{COLOURS[check.status]}m{mark}\033[0m"
        lines.append(f"{mark} {check.title.ljust(width)}  {visible(check.detail)}")
        if check.fix and check.status in ("warn", "fail"):
            lines.append(f"  {' ' * len(marks[check.status])}fix: {visible(check.fix)}")
    lines.append("")
    lines.append(_summary(report.counts(), report.first_failure(), code))
    text = "\n".join(lines) + "\n"
    # What the stream cannot show (a URL's IDN on an ASCII terminal) becomes "?", never an error.
    return text if _can_encode(encoding, text) else text.encode(encoding, "replace").decode(encoding)


def _summary(counts: Dict[str, int], failed, code: int) -> str:
    parts = [f"{counts['ok']} ok", f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}",
             f"{counts['fail']} failed", f"{counts['skip']} skipped"]
    if failed is None:
        return f"No link failed ({', '.join(parts)})."
    return f"{failed.title} failed ({', '.join(parts)}); exit {code}."


def _can_encode(encoding: str, text: str) -> bool:
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
