"""`igny8-agent status` and `disconnect`: where a site stands, and forgetting it."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from igny8_agent.cli import (
    JsonOpt, OutputFormat, app, command, exit_code_for, locate, print_json, refuse_with_all, with_site,
)
from igny8_agent.cli_site import _notices
from igny8_agent.errors import ConfigError, Igny8Error


@app.command()
@command
@with_site(database=True)
def status(
    as_json: bool = JsonOpt,
    local_only: bool = typer.Option(False, "--local", help="Only the local part; do not contact the backend."),
    check: bool = typer.Option(False, "--check", help="For monitoring (Nagios, Icinga, Zabbix, Sensu): one line 'IGNY8 OK|WARNING|CRITICAL|UNKNOWN - ... | age=<s>s;<warn>;;0' from the local state only (no backend call); exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
    max_age: Optional[float] = typer.Option(None, "--max-age", metavar="HOURS", help="With --check: WARNING when the last successful sync is older than this many hours (default 36)."),
    all_sites: bool = typer.Option(False, "--all", help="A row per site of this host (site, URL, last success, last error, next run), from the local state; with --check, the worst site decides."),
    format: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="With --all: table, json, csv or yaml (default: table on a terminal, json otherwise)."),
    where: Any = None,
) -> None:
    """Show the connection, the last sync and what IGNY8 holds.

    Local part: connection, account, site, key storage, last attempt/success/
    error, schedule. Remote part: the table the IGNY8 frontend shows
    (total · synced · enabled · limit) and the last structure fetch.

    Exit codes: 0 the status was shown (also when the last sync failed, or
    with --local); 3 the site is not connected or its key is missing from the
    keyring (or a configuration error); 5 the backend refused the key or no
    longer knows the integration; 6 the backend could not be reached
    (temporary). For monitoring use --check, whose exit codes replace these:
    0 OK, 1 WARNING (last success older than --max-age), 2 CRITICAL (last
    sync failed, key refused, not connected), 3 UNKNOWN (state unreadable)."""
    if max_age is not None and not check:
        raise typer.BadParameter("--max-age goes with --check", param_hint="--max-age")
    if format is not None and not all_sites:
        raise typer.BadParameter("--format goes with --all (use --json for one site)", param_hint="--format")
    if all_sites:
        from igny8_agent.cli_fleet import status_all

        refuse_with_all(where, "shows every site of the host", ("--local", local_only))
        fmt = "json" if as_json else (format.value if format else ("table" if sys.stdout.isatty() else "json"))
        return status_all(fmt, check and not as_json, max_age)
    if check:
        from igny8_agent.status_view import run_check

        code, line = run_check(lambda: locate(where), as_json, max_age)
        print(line)
        raise typer.Exit(code)
    from igny8_agent import flow
    from igny8_agent.keystore import KeyStore, key_override
    from igny8_agent.state import load_state

    site = locate(where)
    state = load_state(site.paths.state)
    keystore = KeyStore()
    override = key_override()
    local = _local_status(site, state, keystore, override)
    remote = None
    if state.connected and not local_only:
        # status answers quickly: a few seconds of retrying at most
        remote = flow.remote_status(site, state, keystore, budget=min(5.0, site.settings.retry_budget),
                                    notify=_notices())
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
        installed = schedule.for_site(site.paths.name)
    except Igny8Error:
        installed = None
    if not state.connected:
        connection = "Not connected"
    elif state.api_url and state.api_url.rstrip("/") != site.settings.api_url.strip().rstrip("/"):
        connection = f"Not connected to the configured backend {site.settings.api_url} (connected to {state.api_url})"
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

    site = locate(where)
    outcome = flow.disconnect(site)
    if as_json:
        print_json(outcome)
    elif outcome["removed_key"] or outcome["removed_state"]:
        print("Disconnected: the API key and the connection state were removed.")
    else:
        print("This site was not connected; nothing to remove.")
