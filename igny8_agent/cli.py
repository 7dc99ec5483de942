"""The command line: parsing, printing and exit codes, nothing else.

The work is done by the core modules; this file turns their results into
text and their exceptions into one-line errors and documented exit codes
(``EXIT_CODES``, the only place they are mapped).

Heavy libraries (httpx, keyring, tenacity, rich) are imported inside the
commands that use them, so ``structure --format json`` starts fast.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from igny8_agent import __version__
from igny8_agent.errors import (
    BackendError,
    ConfigError,
    DatabaseError,
    Igny8Error,
    Interrupted,
    LockBusy,
    TransientError,
)
from igny8_agent.status_view import visible  # stdlib only: fail() must never import at an interrupt

# Exit codes (documented in the README). Order matters: first match wins.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CODES = (
    (ConfigError, 3),  # local configuration: needs an operator
    (DatabaseError, 4),  # the WordPress database could not be read
    (BackendError, 5),  # the backend refused: needs an operator
    (TransientError, 6),  # temporary failure: the next run retries
    (LockBusy, 7),  # another sync of this site is running
    (Interrupted, 130),  # SIGINT / SIGTERM
)

VERBOSE = False  # set by -v; logging is imported only then
app = typer.Typer(
    name="igny8-agent",
    help=(
        "Read a WordPress site's post types and taxonomies straight from its "
        "MySQL/MariaDB tables and push them to IGNY8."
    ),
    epilog=(
        "Exit codes: 0 ok, 2 usage, 3 configuration, 4 database, 5 backend refused "
        "(needs an operator), 6 temporary failure (the next run retries), "
        "7 another sync is running, 130 interrupted. See the README."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def exit_code_for(exc: BaseException) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_INTERNAL


def fail(exc: BaseException, options: Optional[dict] = None) -> "typer.Exit":
    """Print ``exc`` as one line on stderr (and as JSON on stdout for
    ``--json``) and give the Exit to raise."""
    message = str(exc) if isinstance(exc, Igny8Error) else f"internal error: {type(exc).__name__}: {exc}"
    code = exit_code_for(exc)
    if options and options.get("as_json"):
        print_json({"ok": False, "error": message, "exit_code": code})
    print(f"igny8-agent: error: {visible(message)}", file=sys.stderr)
    if VERBOSE and not isinstance(exc, Igny8Error):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return typer.Exit(code)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body; map every failure to a one-line error and exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except KeyboardInterrupt:
            raise fail(Interrupted("interrupted; nothing was left half-written"), kwargs) from None
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
            raise fail(exc, kwargs) from None

    return run


# -- options shared by the commands that read a site ---------------------------

SITE_OPTIONS = {
    "path": typer.Option(None, "--path", help="WordPress root (default: walk up from the current directory; env IGNY8_WP_PATH)."),
    "url": typer.Option(None, "--url", help="Multisite: the subsite to read, as WP-CLI's --url (env IGNY8_URL)."),
    "config": typer.Option(None, "--config", help="The site's igny8-agent config file (default: one per site, found from --path)."),
}
DATABASE_OPTIONS = {
    "host": typer.Option(None, "--db-host", help="Override DB_HOST: host, host:port, host:/socket, [::1]:3306 (env IGNY8_DB_HOST)."),
    "name": typer.Option(None, "--db-name", help="Override DB_NAME (env IGNY8_DB_NAME)."),
    "user": typer.Option(None, "--db-user", help="Override DB_USER (env IGNY8_DB_USER). The password only comes from wp-config.php, the config file or IGNY8_DB_PASSWORD."),
    "charset": typer.Option(None, "--db-charset", help="Override DB_CHARSET (env IGNY8_DB_CHARSET)."),
    "table_prefix": typer.Option(None, "--table-prefix", help="Override $table_prefix (env IGNY8_TABLE_PREFIX)."),
}


def with_site(database: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the options that find a site (and, with ``database``, the ``--db-*``
    overrides) to a command, and hand it a ``where: SiteOptions`` instead."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        names = {**{k: k for k in SITE_OPTIONS}, **({f"db_{k}": k for k in DATABASE_OPTIONS} if database else {})}
        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                              default=SITE_OPTIONS.get(name) or DATABASE_OPTIONS[names[name]])
            for name in names
        ]
        signature = inspect.signature(fn)
        kept = [p for p in signature.parameters.values() if p.name != "where"]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from igny8_agent.site import SiteOptions

            given = {name: kwargs.pop(name, None) for name in names}
            kwargs["where"] = SiteOptions(
                path=given["path"],
                url=given["url"],
                config=Path(given["config"]) if given["config"] else None,
                db={key: given.get(f"db_{key}") for key in DATABASE_OPTIONS},
            )
            return fn(*args, **kwargs)

        run.__signature__ = signature.replace(parameters=kept + extra)  # type: ignore[attr-defined]
        return run

    return decorate


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# -- global options ------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        print(f"igny8-agent {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output on stderr (the API key is redacted)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    global VERBOSE
    if verbose:
        import logging

        VERBOSE = True
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- structure -----------------------------------------------------------------


@app.command()
@command
@with_site(database=True)
def structure(
    format: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table or json (default: table on a terminal, json otherwise)."),
    leftovers: bool = typer.Option(False, "--leftovers", help="Also show leftovers: types found in the tables that no active plugin or theme registers (never synced unless put on the include list), and theme code that could not be read."),
    where: Any = None,
) -> None:
    """Print the site's public post types and taxonomies with their counts.

    Read straight from the database: no PHP runs and nothing is sent. The JSON
    is the post_types / taxonomies part of the payload `sync` pushes; with
    --leftovers it also has "leftovers" (kind -> slug -> count) and "notes"."""
    fmt = format.value if format else ("table" if sys.stdout.isatty() else "json")
    from igny8_agent import prefetch
    from igny8_agent.site import locate_site
    from igny8_agent.structure import build_structure

    ahead = prefetch.take(where)
    if ahead is not None:
        site, facts = ahead
    else:
        site = locate_site(where)
        facts = site.read_facts()
    result = build_structure(facts, site.settings)
    for warning in result.warnings:
        print(f"igny8-agent: warning: {visible(warning)}", file=sys.stderr)
    if fmt == "json":
        body = result.content_types()
        if leftovers:
            body.update(leftovers=result.leftovers, notes=result.notes)
        print_json(body)
    else:
        from igny8_agent import display

        display.structure_table(result, leftovers=leftovers)


# -- connect / sync / status / disconnect ----------------------------------------

ApiUrlOpt = typer.Option(None, "--api-url", help="IGNY8 API base URL (default from the config file, env IGNY8_API_URL, else https://api.igny8.com/api/v1).")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (for scripts).")
_KEY_SHAPE = "igny8_"


def _locate(where):
    from igny8_agent.site import locate_site

    site = locate_site(where)
    if os.environ.get("IGNY8_API_URL"):  # the environment beats the config file
        site.settings.api_url = os.environ["IGNY8_API_URL"]
    return site


def _read_api_key(from_stdin: bool) -> str:
    """The key from stdin, IGNY8_API_KEY or a hidden prompt — never from argv."""
    if from_stdin:
        key = sys.stdin.readline().strip()
    elif os.environ.get("IGNY8_API_KEY"):
        key = os.environ["IGNY8_API_KEY"].strip()
    elif sys.stdin.isatty():
        key = typer.prompt("IGNY8 API key", hide_input=True).strip()
    else:
        raise ConfigError("no API key: pass it on standard input with --api-key-stdin, or set IGNY8_API_KEY")
    if not key.startswith(_KEY_SHAPE) or not all(c.isalnum() or c in "-_" for c in key):
        raise ConfigError("that does not look like an IGNY8 API key (they start with igny8_)")
    return key


def _refuse_key_in_argv(value: Optional[str]) -> Optional[str]:
    if value is not None:
        raise typer.BadParameter(
            "a key on the command line is visible to every user of this host; "
            "use --api-key-stdin, IGNY8_API_KEY or the prompt"
        )
    return value


class Steps:
    """Shows connect/sync steps: a spinner on a terminal, plain lines when asked, nothing under cron."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.tty = show and sys.stderr.isatty()
        self._status = None

    def __call__(self, step: str) -> None:
        if not self.show:
            return
        if self.tty:
            from rich.console import Console

            if self._status is None:
                self._status = Console(stderr=True).status(step)
                self._status.start()
            else:
                self._status.console.print(f"  [green]✓[/green] {self._last}")
                self._status.update(step)
        else:
            print(f"igny8-agent: {step}", file=sys.stderr)
        self._last = step

    def done(self, ok: bool = True) -> None:
        if self._status is not None:
            mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
            self._status.console.print(f"  {mark} {self._last}")
            self._status.stop()
            self._status = None


@app.command()
@command
@with_site(database=True)
def connect(
    api_key_stdin: bool = typer.Option(False, "--api-key-stdin", help="Read the API key from standard input (for automation)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", hidden=True, callback=_refuse_key_in_argv),
    email: Optional[str] = typer.Option(None, "--email", help="Check that the key belongs to this account."),
    site_id: Optional[int] = typer.Option(None, "--site-id", min=1, help="The IGNY8 site id (default: matched by the WordPress home URL)."),
    api_url: Optional[str] = ApiUrlOpt,
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Connect this site to IGNY8 (once) and push its structure.

    Validates the API key, stores it in the keyring, finds the site and its
    integration (creating it if missing) and pushes the structure. Safe to
    re-run: it updates the key and reuses the integration.

    The key is asked for with hidden input, or read from --api-key-stdin or
    IGNY8_API_KEY; it is never accepted as an argument."""
    from igny8_agent import flow
    from igny8_agent.settings import edit_settings

    site = _locate(where)
    key = _read_api_key(api_key_stdin)
    steps = Steps(show=not as_json)
    try:
        result = flow.connect(site, key, email=email, site_id=site_id, api_url=api_url, progress=steps)
    except BaseException:
        steps.done(ok=False)
        raise
    steps.done()
    _remember_site(site, api_url or site.settings.api_url, site_id, edit_settings)
    if as_json:
        print_json(result.as_dict())
        return
    from igny8_agent import display

    display.sync_summary(result, title="Connected & Ready")


def _remember_site(site, api_url: str, site_id: Optional[int], edit_settings) -> None:
    """Write the site's config file so cron can run `sync --config FILE`."""
    changes = [(("wordpress", "path"), str(site.root) if site.root else "")]
    if site.url:
        changes.append((("wordpress", "url"), site.url))
    changes.append((("backend", "api_url"), api_url.rstrip("/")))
    if site_id:
        changes.append((("backend", "site_id"), site_id))
    edit_settings(site.paths.config, changes)


@app.command()
@command
@with_site(database=True)
def sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact payload and send nothing."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="If another sync of this site is running, wait up to this many seconds instead of exiting with code 7."),
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Push the structure to IGNY8 now ("Sync Now"; what cron runs daily).

    On a terminal it shows progress; under cron it prints one line per run,
    with details only on failure. Exit code 6 means a temporary failure that
    the next run retries; 3 and 5 need an operator."""
    from igny8_agent import flow

    site = _locate(where)
    steps = Steps(show=sys.stderr.isatty() and not as_json and not dry_run)
    try:
        result = flow.sync(site, dry_run=dry_run, wait=wait, progress=steps)
    except Igny8Error as exc:
        steps.done(ok=False)
        if sys.stderr.isatty() or as_json:
            raise
        # Under cron: the failure is the run's one line in the log.
        _log_line(site, f"sync failed (exit {exit_code_for(exc)}): {exc}")
        raise typer.Exit(exit_code_for(exc)) from None
    steps.done()
    if dry_run:
        print_json(result.payload)
    elif as_json:
        print_json(result.as_dict())
    elif result.action == "skipped":
        print(f"igny8-agent: {result.message}")
    elif sys.stdout.isatty():
        from igny8_agent import display

        display.sync_summary(result, title="Structure pushed")
    else:
        _log_line(site, "sync ok: " + _counts_line(result))


def _counts_line(result) -> str:
    parts = [f"site {result.site_id}", f"integration {result.integration_id}"]
    for kind, counts in result.counts.items():
        parts.append(f"{kind} " + ",".join(f"{slug}={n}" for slug, n in counts.items()))
    parts.append(f"{result.seconds:.2f}s")
    return "; ".join(parts)


def _log_line(site, text: str) -> None:
    """The one line a cron run leaves in its log: time, site, outcome."""
    from igny8_agent.state import utc_now

    stream = sys.stdout if text.startswith("sync ok") else sys.stderr
    print(f"{utc_now()} igny8-agent[{site.paths.name}] {visible(text)}", file=stream)


@app.command()
@command
@with_site(database=True)
def status(
    as_json: bool = JsonOpt,
    local_only: bool = typer.Option(False, "--local", help="Only the local part; do not contact the backend."),
    where: Any = None,
) -> None:
    """Show the connection, the last sync and what IGNY8 holds.

    Local part: connection, account, site, key storage, last attempt/success/
    error, schedule. Remote part: the table the IGNY8 frontend shows
    (total · synced · enabled · limit) and the last structure fetch.

    Exit code 0 when the backend answered, 6 when it could not be reached,
    5 when it refused the key, 3 when the site is not connected."""
    from igny8_agent import flow
    from igny8_agent.keystore import KeyStore, key_override
    from igny8_agent.state import load_state

    site = _locate(where)
    state = load_state(site.paths.state)
    keystore = KeyStore()
    override = key_override()
    local = _local_status(site, state, keystore, override)
    remote = None
    if state.connected and not local_only:
        # status answers quickly: a few seconds of retrying at most
        remote = flow.remote_status(site, state, keystore, budget=min(5.0, site.settings.retry_budget))
    if as_json:
        print_json({"local": local, "remote": (remote.content_types if remote else None),
                    "remote_error": (remote.error if remote and remote.error else None)})
    else:
        from igny8_agent import status_view

        sys.stdout.write(status_view.render(local, remote))
    if not state.connected:
        raise typer.Exit(exit_code_for(ConfigError("")))
    if remote is not None and remote.error_kind is not None:
        raise typer.Exit(exit_code_for(remote.error_kind))


def _local_status(site, state, keystore, override) -> dict:
    from igny8_agent import schedule

    try:
        installed = schedule.show(site.paths.name)
    except Igny8Error:
        installed = None
    if not state.connected:
        connection = "Not connected"
    elif state.last_outcome() == "error":
        connection = "Connected — last sync failed"
    elif state.last_outcome() == "success":
        connection = "Connected & Ready"
    else:
        connection = "Connected"
    return {
        "connection": connection,
        "account": state.account_email,
        "account_name": state.account_name,
        "site_id": state.site_id,
        "site_url": state.site_url,
        "integration_id": state.integration_id,
        "backend": state.api_url or site.settings.api_url,
        "key_storage": (override[1] if override else keystore.backend_name) if state.connected or override else None,
        "last_attempt": state.last_attempt or None,
        "last_success": state.last_success or None,
        "last_structure_fetch": state.last_structure_fetch or None,
        "last_error": state.last_error or None,
        "schedule": installed.description if installed else None,
        "config": str(site.paths.config),
        "state": str(site.paths.state),
        "sync_enabled": site.settings.plugin_connection_enabled,
        "two_way_sync_enabled": site.settings.two_way_sync_enabled,
    }


@app.command()
@command
@with_site(database=False)
def disconnect(
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Forget this site's API key and connection state.

    The key is removed from the keyring and the state file deleted; the config
    file (your per-type choices) is kept."""
    from igny8_agent import flow

    site = _locate(where)
    outcome = flow.disconnect(site)
    if as_json:
        print_json(outcome)
    elif outcome["removed_key"] or outcome["removed_state"]:
        print("Disconnected: the API key and the connection state were removed.")
    else:
        print("This site was not connected; nothing to remove.")


# -- config --------------------------------------------------------------------

config_app = typer.Typer(
    help="Show or change this site's settings: per-type sync and limits, the two "
    "switches, backend options. Changes are sent with the next sync.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("show")
@command
@with_site(database=False)
def config_show(
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Print the settings in force and where they come from."""
    site = _locate(where)
    s = site.settings
    data = {
        "config_file": str(site.paths.config),
        "exists": site.paths.config.exists(),
        "wordpress": {"path": str(site.root or s.wordpress_path), "url": site.url or ""},
        "backend": {"api_url": s.api_url, "site_id": s.site_id, "ca_bundle": s.ca_bundle,
                    "timeout": s.timeout, "retry_budget": s.retry_budget},
        "sync": {"plugin_connection_enabled": s.plugin_connection_enabled,
                 "two_way_sync_enabled": s.two_way_sync_enabled},
        "listing": {f"{verb}_{kind}": list(getattr(s.listing(kind), verb))
                    for kind in ("post_types", "taxonomies") for verb in ("include", "exclude")},
        "post_type": s.configured_types("post_types"),
        "taxonomy": s.configured_types("taxonomies"),
    }
    if as_json:
        print_json(data)
        return
    print(f"# {data['config_file']}{'' if data['exists'] else ' (not written yet: defaults)'}")
    print(site.paths.config.read_text("utf-8") if data["exists"] else json.dumps(data, indent=2))


@config_app.command("type")
@command
@with_site(database=False)
def config_type(
    slug: str = typer.Argument(..., help="A post type or taxonomy slug, e.g. product or product_cat."),
    enable: Optional[bool] = typer.Option(None, "--enable/--disable", help="Sync this type's content or not."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="fetch_limit: how many items IGNY8 fetches."),
    listing: Optional[str] = typer.Option(None, "--list", help="include: always list it; exclude: never list it; auto: as WordPress says."),
    taxonomy: Optional[bool] = typer.Option(None, "--taxonomy/--post-type", help="Which kind the slug is (default: found in the site)."),
    reset: bool = typer.Option(False, "--reset", help="Forget this type's own settings (back to defaults)."),
    where: Any = None,
) -> None:
    """Change one post type's or taxonomy's settings."""
    from igny8_agent.settings import TYPE_TABLE, edit_settings

    if listing not in (None, "include", "exclude", "auto"):
        raise typer.BadParameter("must be include, exclude or auto", param_hint="--list")
    if enable is None and limit is None and listing is None and not reset:
        raise typer.BadParameter("nothing to change: give --enable/--disable, --limit, --list or --reset")
    site = _locate(where)
    kind = _kind_of(site, slug, taxonomy)
    table = TYPE_TABLE[kind]
    changes = []
    if reset:
        changes.append(((table, slug), None))
    if enable is not None:
        changes.append(((table, slug, "enabled"), enable))
    if limit is not None:
        changes.append(((table, slug, "fetch_limit"), limit))
    if listing is not None:
        current = site.settings.listing(kind)
        include = [x for x in current.include if x != slug] + ([slug] if listing == "include" else [])
        exclude = [x for x in current.exclude if x != slug] + ([slug] if listing == "exclude" else [])
        changes.append((("listing", f"include_{kind}"), include))
        changes.append((("listing", f"exclude_{kind}"), exclude))
    settings = edit_settings(site.paths.config, changes)
    now = settings.type_settings(kind, slug)
    print(f"{kind[:-1].replace('_', ' ')} {slug}: {'enabled' if now.enabled else 'disabled'}, "
          f"limit {now.fetch_limit} (sent with the next sync)")


def _kind_of(site, slug: str, taxonomy: Optional[bool]) -> str:
    if taxonomy is not None:
        return "taxonomies" if taxonomy else "post_types"
    facts = site.read_facts()
    is_post_type = slug in facts.post_type_counts or slug in facts.registered.post_types
    is_taxonomy = slug in facts.taxonomy_counts or slug in facts.registered.taxonomies
    if is_post_type == is_taxonomy:
        what = "both a post type and a taxonomy" if is_post_type else "not found on this site"
        raise ConfigError(f"{slug} is {what}: say which with --post-type or --taxonomy")
    return "post_types" if is_post_type else "taxonomies"


@config_app.command("sync")
@command
@with_site(database=False)
def config_sync(
    enable: Optional[bool] = typer.Option(None, "--enable/--disable", help='"Enable Sync Operations" (plugin_connection_enabled).'),
    two_way: Optional[bool] = typer.Option(None, "--two-way/--no-two-way", help='"Enable Two-Way Sync" (two_way_sync_enabled).'),
    where: Any = None,
) -> None:
    """Set "Enable Sync Operations" and "Enable Two-Way Sync".

    With sync operations disabled, the next sync tells IGNY8 once and later
    syncs push nothing."""
    from igny8_agent.settings import edit_settings

    changes = []
    if enable is not None:
        changes.append((("sync", "plugin_connection_enabled"), enable))
    if two_way is not None:
        changes.append((("sync", "two_way_sync_enabled"), two_way))
    if not changes:
        raise typer.BadParameter("nothing to change: give --enable/--disable or --two-way/--no-two-way")
    site = _locate(where)
    settings = edit_settings(site.paths.config, changes)
    print(f"sync operations {'enabled' if settings.plugin_connection_enabled else 'disabled'}, "
          f"two-way sync {'enabled' if settings.two_way_sync_enabled else 'disabled'} (sent with the next sync)")


@config_app.command("backend")
@command
@with_site(database=False)
def config_backend(
    api_url: Optional[str] = typer.Option(None, "--api-url", help="IGNY8 API base URL."),
    ca_bundle: Optional[str] = typer.Option(None, "--ca-bundle", help="CA bundle (PEM) for a private certificate authority; '' to remove."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Seconds for each request."),
    retry_budget: Optional[float] = typer.Option(None, "--retry-budget", min=0, help="Seconds a run may spend retrying transient failures."),
    where: Any = None,
) -> None:
    """Set how the agent talks to the backend."""
    from igny8_agent.settings import edit_settings

    changes = []
    if api_url is not None:
        changes.append((("backend", "api_url"), api_url.rstrip("/")))
    if ca_bundle is not None:
        changes.append((("backend", "ca_bundle"), ca_bundle or None))
    if timeout is not None:
        changes.append((("backend", "timeout"), timeout))
    if retry_budget is not None:
        changes.append((("backend", "retry_budget"), retry_budget))
    if not changes:
        raise typer.BadParameter("nothing to change")
    site = _locate(where)
    edit_settings(site.paths.config, changes)
    print(f"saved to {site.paths.config}")


# -- schedule --------------------------------------------------------------------

schedule_app = typer.Typer(
    help="Run `igny8-agent sync` daily for this site: a systemd timer where systemd "
    "runs, else a cron.d entry (random delay, one run at a time).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _schedule_args(site, user: Optional[str]):
    import getpass
    import shutil

    beside = Path(sys.executable).parent / "igny8-agent"
    agent = shutil.which("igny8-agent") or (str(beside) if beside.exists() else "")
    if not agent:
        raise ConfigError("cannot find the igny8-agent executable to schedule; install the package so it is on PATH")
    return dict(
        site_name=site.paths.name,
        config=site.paths.config,
        agent=agent,
        user=user or getpass.getuser(),
        lock=site.paths.lock,
        log=site.paths.log,
    )


@schedule_app.command("install")
@command
@with_site(database=False)
def schedule_install(
    kind: Optional[str] = typer.Option(None, "--kind", help="systemd or cron (default: systemd if it runs here)."),
    user: Optional[str] = typer.Option(None, "--user", help="The user the job runs as (default: you)."),
    where: Any = None,
) -> None:
    """Install the daily job for this site."""
    from igny8_agent import schedule

    site = _locate(where)
    if not site.paths.config.exists():
        raise ConfigError("this site has no config file yet: run `igny8-agent connect` first")
    installed = schedule.install(kind=kind, **_schedule_args(site, user))
    print(f"installed: {installed.description}")
    for written in installed.files:
        print(f"  {written}")


@schedule_app.command("remove")
@command
@with_site(database=False)
def schedule_remove(
    where: Any = None,
) -> None:
    """Remove this site's daily job."""
    from igny8_agent import schedule

    site = _locate(where)
    removed = schedule.remove(site.paths.name)
    print(removed.description)


@schedule_app.command("show")
@command
@with_site(database=False)
def schedule_show(
    where: Any = None,
) -> None:
    """Show this site's daily job, if any."""
    from igny8_agent import schedule

    site = _locate(where)
    found = schedule.show(site.paths.name)
    if found is None:
        print("no schedule installed for this site (igny8-agent schedule install)")
        return
    print(found.description)
    for item in found.files:
        print(f"  {item}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted("terminated (SIGTERM); nothing was left half-written")


def main(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    import signal

    from igny8_agent import process

    process.handle_signals({signal.SIGTERM: _on_sigterm, signal.SIGINT: signal.default_int_handler})
    try:
        app(args=argv, prog_name="igny8-agent")
    except (KeyboardInterrupt, Interrupted):  # during parsing, before a command runs
        print("igny8-agent: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
