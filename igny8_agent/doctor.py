"""``igny8-agent doctor``: every link from WordPress to the backend, checked.

Each link gives a :class:`Check`: ``ok``, ``warn`` (it works, but is worth
fixing), ``fail`` (broken: a sync would fail here) or ``skip`` (a link it
depends on failed, or it does not apply), with one line of detail and, for
warn and fail, one line saying what to do. The checks go through the code
paths the real commands use, and change nothing: the database is read in one
read-only session, the backend is asked ``GET auth/me/`` only, no lock is
taken and no file is written (the theme scan's cache included). Nothing here
prints; the API key never appears in a check's text.

This module checks the site and its database; :mod:`igny8_agent.doctor_links`
the key, the backend, the schedule and the agent's files.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from igny8_agent.database import ReadOnlySession
from igny8_agent.dbgrants import read_only_statements, write_privileges
from igny8_agent.errors import ConfigError, DatabaseError, Igny8Error, Interrupted

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
STATUSES = (OK, WARN, FAIL, SKIP)

# name -> title, in the order the links are followed and shown.
TITLES = {
    "wordpress": "WordPress found",
    "wp_config": "wp-config.php parsed",
    "database": "Database reachable",
    "grants": "Database user's grants",
    "statement_limit": "Statement time limit",
    "tables": "WordPress tables",
    "api_key": "API key stored",
    "backend": "Backend reachable",
    "tls": "TLS certificate",
    "key_accepted": "API key accepted",
    "clock": "Clock",
    "schedule": "Schedule installed",
    "schedule_user": "Schedule's user access",
    "last_run": "Last sync",
    "files": "File owners and modes",
}
WORDPRESS_TABLES = ("options", "posts", "term_taxonomy")  # what every read needs
DB_SETTINGS_FIX = ("the settings come from wp-config.php, or from --db-host/--db-name/--db-user, "
                   "IGNY8_DB_* or the [database] table of the site's config file")


@dataclass
class Check:
    """One link: ``status`` is one of STATUSES (empty while undecided).
    ``kind`` is the error class of a failure; the CLI turns it into an exit code."""

    name: str
    title: str
    status: str = ""
    detail: str = ""
    fix: str = ""
    kind: Optional[type] = None

    def set(self, status: str, detail: str, fix: str = "", kind: Optional[type] = None) -> None:
        self.status, self.detail, self.fix, self.kind = status, detail, fix, kind

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status, "detail": self.detail,
                "fix": self.fix or None}


@dataclass
class Report:
    checks: List[Check] = field(default_factory=list)

    def first_failure(self) -> Optional[Check]:
        return next((c for c in self.checks if c.status == FAIL), None)

    def counts(self) -> Dict[str, int]:
        return {status: sum(1 for c in self.checks if c.status == status) for status in STATUSES}


class Checks:
    """The checks of one run, by name, and the rule that a step's failure
    lands on its first undecided check and leaves the rest skipped."""

    def __init__(self) -> None:
        self.by_name = {name: Check(name, title) for name, title in TITLES.items()}

    def __getitem__(self, name: str) -> Check:
        return self.by_name[name]

    def skip(self, names: List[str], why: str) -> None:
        for name in names:
            if not self.by_name[name].status:
                self.by_name[name].set(SKIP, why)

    def step(self, names: List[str], run: Callable[[], None], fix: str = "") -> None:
        """Run one step that decides ``names``; an error it raises is the
        first undecided check's failure."""
        try:
            run()
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not crash
            pending = [n for n in names if not self.by_name[n].status]
            if not pending:
                raise
            if isinstance(exc, Igny8Error):
                self.by_name[pending[0]].set(FAIL, str(exc), fix, type(exc))
            else:
                self.by_name[pending[0]].set(FAIL, f"internal error: {type(exc).__name__}: {exc}", "")
        self.skip(names, "skipped: an earlier check of this step failed")

    def report(self, secrets: List[str]) -> Report:
        checks = list(self.by_name.values())
        for check in checks:
            for secret in secrets:
                check.detail = check.detail.replace(secret, "***")
                check.fix = check.fix.replace(secret, "***")
        return Report(checks)


def diagnose(options: Any, locate: Callable[[Any], Any], environ: Mapping[str, str] = os.environ) -> Report:
    """Check every link for the site that ``options`` (site.SiteOptions) names;
    ``locate`` finds it as the commands do (cli.locate)."""
    from igny8_agent import doctor_links

    checks = Checks()
    site = _locate(options, locate, environ, checks)
    secrets: List[str] = []
    if site is None:
        why = "WordPress was not found" if checks["wordpress"].status == FAIL else "wp-config.php could not be read"
        checks.skip(list(TITLES), f"skipped: {why}")
        return checks.report(secrets)
    _database(site, checks)
    doctor_links.follow(site, checks, secrets)
    return checks.report(secrets)


# -- the site --------------------------------------------------------------------


def _locate(options: Any, locate: Callable[[Any], Any], environ: Mapping[str, str], checks: Checks) -> Any:
    """WordPress found, wp-config.php parsed, the site's settings resolved."""
    from igny8_agent.settings import load_settings
    from igny8_agent.site import wordpress_start
    from igny8_agent.wpconfig import find_wordpress, read_wp_config

    wordpress, wp_config = checks["wordpress"], checks["wp_config"]
    found = not_found = unreadable = None
    try:
        settings = load_settings(options.config) if options.config is not None else None
        found = find_wordpress(wordpress_start(options, environ, settings))
        read_wp_config(found[1], environ, root=found[0])
    except ConfigError as exc:
        if found is None:
            not_found = exc
        else:
            unreadable = exc
    try:
        site = locate(options)
    except ConfigError as exc:
        if found is None:
            wordpress.set(FAIL, str(not_found or exc),
                          "run it from the WordPress root, or pass --path /var/www/site (or set IGNY8_WP_PATH)",
                          type(not_found or exc))
        else:
            wordpress.set(OK, _where(*found))
            wp_config.set(FAIL, str(unreadable or exc), "make it readable without running PHP (DB_* and"
                          f" $table_prefix literal or from getenv()); {DB_SETTINGS_FIX}", type(unreadable or exc))
        return None
    # Found, or not needed: the settings given instead are complete.
    given = "; the database settings given instead are used"
    if found is None:
        wordpress.set(WARN, f"{not_found}{given}", "pass --path to the WordPress root to read its wp-config.php")
        wp_config.set(SKIP, "skipped: no wp-config.php was read")
        return site
    wordpress.set(OK, _where(*found))
    if unreadable is not None:
        wp_config.set(WARN, f"{unreadable}{given}", f"fix wp-config.php; {DB_SETTINGS_FIX}")
    else:
        db = site.db
        multisite = ", multisite" if site.multisite else ""
        wp_config.set(OK, f"database {db.name} on {db.where()} as {db.user}, table prefix {site.table_prefix}{multisite}")
    return site


def _where(root: Any, config: Any) -> str:
    return str(root) if config.parent == root else f"{root} (wp-config.php one level above: {config})"


# -- the database ------------------------------------------------------------------


def _database(site: Any, checks: Checks) -> None:
    names = ["database", "grants", "statement_limit", "tables"]
    session = ReadOnlySession(site.db)
    try:
        session.__enter__()
    except (DatabaseError, ConfigError) as exc:
        checks["database"].set(FAIL, str(exc), "check that the server runs and the host, user and password; "
                               + DB_SETTINGS_FIX, type(exc))
        checks.skip(names, "skipped: the database could not be reached")
        return
    try:
        checks["database"].set(OK, f"{_server(session.server_version)} at {site.db.where()}, database {site.db.name}"
                               f" as {site.db.user}, in a read-only transaction")
        checks.step(["grants"], lambda: _grants(session, site, checks["grants"]))
        checks.step(["statement_limit"], lambda: _statement_limit(session, site, checks["statement_limit"]))
        checks.step(["tables"], lambda: _tables(session, site, checks["tables"]),
                    fix="the user needs SELECT on the WordPress tables; check DB_NAME and $table_prefix")
    finally:
        session.__exit__(None, None, None)


def _server(version: str) -> str:
    """"10.11.6-MariaDB-0+deb12u1" -> "MariaDB 10.11.6" (MariaDB may announce
    itself as "5.5.5-10.11.6-MariaDB...", for old replication clients)."""
    if version.startswith("5.5.5-") and "mariadb" in version.lower():
        version = version[len("5.5.5-"):]
    number = version.split("-", 1)[0]
    return f"MariaDB {number}" if "mariadb" in version.lower() else f"MySQL {number}" if number else "the server"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _grants(session: ReadOnlySession, site: Any, check: Check) -> None:
    user, _, host = _text(session.query("SELECT CURRENT_USER()")[0][0]).rpartition("@")
    account = "'{}'@'{}'".format(user.replace("'", "''"), host.replace("'", "''"))
    lines = [_text(row[0]) for row in session.query("SHOW GRANTS")]
    writes = write_privileges(lines, site.db.name)
    if not writes:
        check.set(OK, f"{account} may read, not change, database {site.db.name}")
        return
    shown = "; ".join(writes[:3]) + (f" (and {len(writes) - 3} more)" if len(writes) > 3 else "")
    check.set(WARN, f"{account} may change database {site.db.name}: {shown}",
              "the agent needs SELECT only; give it a read-only user: "
              f"{read_only_statements(site.db.name, host)} then set user and password in the"
              f" [database] table of {site.paths.config} (or IGNY8_DB_USER / IGNY8_DB_PASSWORD)")


def _statement_limit(session: ReadOnlySession, site: Any, check: Check) -> None:
    """The limit ReadOnlySession set on its session: max_statement_time
    (MariaDB, seconds) or max_execution_time (MySQL 5.7.8+, milliseconds)."""
    variable = "max_statement_time" if session.is_mariadb else "max_execution_time"
    server = _server(session.server_version)
    try:
        value = session.query(f"SELECT @@SESSION.{variable}")[0][0]
    except DatabaseError as exc:
        check.set(WARN, f"{server} has no {variable} ({exc}): a slow query is not stopped by the server; the agent"
                  f" still stops waiting after {site.db.read_timeout:g} s",
                  "upgrade to MariaDB 10.1+ or MySQL 5.7.8+")
        return
    seconds = float(_text(value)) / (1 if session.is_mariadb else 1000)
    if seconds <= 0:
        check.set(WARN, f"{variable} is 0 on this session: a slow query is not stopped by the server",
                  "check the server's configuration (the agent sets it per session)")
        return
    check.set(OK, f"{variable} = {seconds:g} s per query")


def _tables(session: ReadOnlySession, site: Any, check: Check) -> None:
    names = [site.table_prefix + table for table in WORDPRESS_TABLES]
    present = session.existing_tables(names)
    missing = [name for name in names if name not in present]
    if missing:
        check.set(FAIL, f"{', '.join(missing)} not found in database {site.db.name}: not a WordPress database,"
                  f" or the table prefix {site.table_prefix!r} is wrong",
                  "check DB_NAME and $table_prefix in wp-config.php (or --db-name / --table-prefix)", DatabaseError)
        return
    if site.files is not None:  # read as sync does, but keep no theme-scan cache
        site.files = dataclasses.replace(site.files, cache_dir=None)
    facts = site.read_facts(session)
    types, taxonomies = len(facts.post_type_counts), len(facts.taxonomy_counts)
    detail = (f"{', '.join(names)} read: {types} post type{'s' if types != 1 else ''} and {taxonomies}"
              f" {'taxonomy' if taxonomies == 1 else 'taxonomies'} in the rows of"
              f" {facts.site_url or 'a site without a home URL'}")
    if facts.warnings:
        check.set(WARN, f"{detail}; {facts.warnings[0]}", "see `igny8-agent structure --leftovers`")
    else:
        check.set(OK, detail)
