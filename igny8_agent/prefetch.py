"""Start reading the site while Python loads the command line.

On a big site ``structure`` and ``sync`` are mostly the database's time (the
post counts); on a small one mostly Python's (loading typer, httpx and the
CLI). The two can overlap: for ``igny8-agent structure`` and ``sync``, the site options are picked out of
argv before the CLI is imported, the site is located, and the read starts in
a background thread. The command uses that read only if its own, properly
parsed options are the same; otherwise it reads the site itself. Anything
unusual in argv simply means no head start. A database that cannot be
reached is reported once: the command gets the error instead of waiting
for the same server a second time.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

# option -> SiteOptions field ("db.<key>" for database overrides)
_SITE_OPTIONS = {
    "--path": "path",
    "--url": "url",
    "--config": "config",
    "--db-host": "db.host",
    "--db-name": "db.name",
    "--db-user": "db.user",
    "--db-charset": "db.charset",
    "--table-prefix": "db.table_prefix",
}
# command -> its other options: (flags, options with a value) that do not change what is read
_COMMANDS = {
    "structure": ((), ("--format", "-f")),
    "sync": (("--quiet", "-q", "--json", "--dry-run"), ("--wait", "--metrics-file")),
}

_started: Optional["_Read"] = None


class _Read(threading.Thread):
    def __init__(self, options: Any, site: Any, session: Any, error: Optional[BaseException] = None) -> None:
        super().__init__(name="igny8-prefetch", daemon=True)
        self.options = options
        self.site = site
        self.session = session
        self.facts: Any = None
        self.error = error  # set already when connecting failed

    def run(self) -> None:
        if self.error is not None:
            return
        try:
            self.facts = self.site.read_facts(self.session)
        except BaseException as exc:  # handed to the command, which raises it
            self.error = exc


def start(argv: List[str]) -> None:
    """Begin reading the site if ``argv`` is a plain ``structure`` or
    ``sync`` command (``sync`` takes its lock only after the read: reading
    early changes nothing, and a sync that stops before it never uses it)."""
    global _started
    options = _site_options(argv)
    if options is None:
        return
    from igny8_agent.database import ReadOnlySession
    from igny8_agent.errors import Igny8Error
    from igny8_agent.site import locate_site

    try:
        site = locate_site(options)
    except Exception:  # the command does it again and reports the error
        return
    session = error = None
    try:
        # Connect here, while this thread has the interpreter to itself: the
        # handshake's round trips would each wait for the GIL in the thread.
        session = ReadOnlySession(site.db).__enter__()
    except Igny8Error as exc:  # the command's error: connecting again would wait again
        error = exc
    except Exception:  # the command does it again and reports the error
        return
    _started = _Read(options, site, session, error)
    _started.start()


def take(options: Any) -> Optional[Tuple[Any, Any]]:
    """``(site, facts)`` read ahead for exactly these options, else None.
    Re-raises the read's own error, as if the command had read it."""
    global _started
    read, _started = _started, None
    if read is None or read.options != options:
        return None
    read.join()
    if read.error is not None:
        raise read.error
    return read.site, read.facts


def _site_options(argv: List[str]) -> Optional[Any]:
    if not argv or argv[0] not in _COMMANDS:
        return None
    flags, with_value = _COMMANDS[argv[0]]
    values: Dict[str, str] = {}
    args = iter(argv[1:])
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in flags and not eq:
            continue
        if name in _SITE_OPTIONS or name in with_value:
            if not eq:
                value = next(args, None)
                if value is None or value.startswith("-"):
                    return None
            if name in _SITE_OPTIONS:
                values[_SITE_OPTIONS[name]] = value
        else:
            return None  # --help, unknown options: let the CLI handle it alone
    from pathlib import Path

    from igny8_agent.site import SiteOptions

    db = {key: values.get(f"db.{key}") for key in ("host", "name", "user", "charset", "table_prefix")}
    return SiteOptions(
        path=values.get("path"),
        url=values.get("url"),
        config=Path(values["config"]) if "config" in values else None,
        db=db,
    )
