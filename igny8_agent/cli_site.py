"""Commands that read the site and talk to the backend: structure, connect,
sync, status, disconnect."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

import typer

from igny8_agent.cli import (
    ApiUrlOpt, JsonOpt, OutputFormat, app, command, exit_code_for, locate, print_json, refuse_with_all, with_site,
)
from igny8_agent.errors import ConfigError, Igny8Error
from igny8_agent.status_view import visible  # stdlib only: fail() must never import at an interrupt


@app.command()
@command
@with_site(database=True)
def structure(
    format: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table, json, csv or yaml (default: table on a terminal, json otherwise)."),
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
    if fmt in ("json", "yaml"):
        body = result.content_types()
        if leftovers:
            body.update(leftovers=result.leftovers, notes=result.notes)
        if fmt == "json":
            print_json(body)
        else:
            from igny8_agent.formats import to_yaml

            sys.stdout.write(to_yaml(body))
    elif fmt == "csv":
        from igny8_agent.formats import structure_csv

        sys.stdout.write(structure_csv(result, leftovers=leftovers))
    else:
        from igny8_agent import display

        display.structure_table(result, leftovers=leftovers)


# -- connect / sync / status / disconnect ----------------------------------------

_KEY_SHAPE = "igny8_"


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

    def note(self, text: str) -> None:
        """A line about the run (what a retry waits for), above the spinner if one runs."""
        if self._status is not None:
            self._status.console.print(f"  {visible(text)}", markup=False, highlight=False, soft_wrap=True)
        else:
            print(f"igny8-agent: {visible(text)}", file=sys.stderr, flush=True)


def _notices(steps: Optional[Steps] = None, quiet: bool = False):
    """Where a retry says what it waits for: stderr on a terminal; under cron
    (or with --quiet) nowhere."""
    if quiet or not sys.stderr.isatty():
        return None
    return (steps or Steps(show=False)).note


def _sync_then(site) -> str:
    """How a sync's spent retry budget's message ends: a run by cron, a timer
    or a script (no terminal) is run again; on a terminal, the next run is
    the site's installed schedule, if there is one."""
    from igny8_agent import flow, schedule
    from igny8_agent.transport import NEXT_RUN

    if not sys.stderr.isatty():
        return NEXT_RUN
    try:
        installed = schedule.for_site(site.paths.name)
    except Igny8Error:
        installed = None
    return "the next scheduled run will retry" if installed else flow.again_later("sync")


@app.command()
@command
@with_site(database=True)
def connect(
    api_key_stdin: bool = typer.Option(False, "--api-key-stdin", help="Read the API key from standard input (for automation)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", hidden=True, callback=_refuse_key_in_argv),
    email: Optional[str] = typer.Option(None, "--email", help="Check that the key belongs to this account."),
    site_id: Optional[int] = typer.Option(None, "--site-id", min=1, help="The IGNY8 site id (default: matched by the WordPress home URL)."),
    api_url: Optional[str] = ApiUrlOpt,
    network: bool = typer.Option(False, "--network", help="Multisite: connect every subsite WordPress serves, each as its own IGNY8 site, all with this key; `sync --all` then keeps the whole network in sync."),
    auto_connect: bool = typer.Option(True, "--auto-connect/--no-auto-connect", help="With --network: let `sync --all` connect subsites added later (default) or not."),
    jobs: int = typer.Option(4, "--jobs", "-j", min=1, max=64, help="With --network: subsites connected at once."),
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Connect this site to IGNY8 (once) and push its structure.

    Validates the API key, stores it in the keyring, finds the site and its
    integration (creating it if missing) and pushes the structure. Safe to
    re-run: it updates the key and reuses the integration.

    With --network, every served subsite of a multisite (not archived,
    deleted or spam) is connected and pushed, each matched to its IGNY8 site
    by its URL; subsites IGNY8 does not know are listed, not fatal. Exit 0
    when every served subsite connected, 6 when only temporary failures
    remain, else 5 (or the worst other code).

    The key is asked for with hidden input, or read from --api-key-stdin or
    IGNY8_API_KEY; it is never accepted as an argument."""
    from igny8_agent import flow

    if network and (site_id or where.url):
        raise typer.BadParameter("--network connects every subsite: drop --site-id / --url", param_hint="--network")
    site = locate(where)
    key = _read_api_key(api_key_stdin)
    if network:
        from igny8_agent.cli_fleet import connect_network

        return connect_network(site, key, email, api_url, auto_connect, jobs, as_json)
    steps = Steps(show=not as_json)
    try:
        result = flow.connect(site, key, email=email, site_id=site_id, api_url=api_url, progress=steps,
                              notify=_notices(steps))
    except BaseException:
        steps.done(ok=False)
        raise
    steps.done()
    flow.remember_site(site, api_url or site.settings.api_url, site_id)
    if as_json:
        print_json(result.as_dict())
        return
    from igny8_agent import display

    display.sync_summary(result, title="Connected & Ready")


@app.command()
@command
@with_site(database=True)
def sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact payload and send nothing."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="If another sync of this site is running, wait up to this many seconds instead of exiting with code 7."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success, only the one-line error on failure (for cron: a good day mails nobody). Exit codes are unchanged."),
    metrics_file: Optional[str] = typer.Option(None, "--metrics-file", metavar="PATH", help="Replace this node_exporter textfile (.prom) with the run's metrics, instead of the one `config metrics` set; '' for none. With --all it must hold {site}."),
    all_sites: bool = typer.Option(False, "--all", help="Every site connected on this host, and every served subsite of each network connected with --network, in one process."),
    jobs: int = typer.Option(4, "--jobs", "-j", min=1, max=64, help="With --all: sites synced at once (they share one database connection per database and one connection pool to IGNY8)."),
    connect_new: bool = typer.Option(True, "--connect-new/--no-connect-new", help="With --all: connect subsites added to a network connected with --network since (default), or leave them."),
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Push the structure to IGNY8 now ("Sync Now"; what cron runs daily).

    On a terminal it shows progress; under cron it prints one line per run,
    with details only on failure. Exit code 6 means a temporary failure that
    the next run retries; 3 and 5 need an operator.

    With --all: one line per site and a summary line (--quiet: failures
    only); archived, deleted and spam subsites get no push; a 429 from IGNY8
    slows every worker; the exit code is the worst of the sites' codes."""
    from igny8_agent import flow

    started = time.monotonic()
    metrics_file = _metrics_option(metrics_file, dry_run)
    if all_sites:
        from igny8_agent.cli_fleet import sync_all

        refuse_with_all(where, "syncs every connected site", ("--dry-run", dry_run), ("--wait", wait))
        if metrics_file and "{site}" not in metrics_file:
            raise typer.BadParameter("with --all the metrics file name must hold {site} (one file per site)",
                                     param_hint="--metrics-file")
        return sync_all(jobs, connect_new, quiet, as_json, metrics_file)
    site = locate(where)
    metrics_to = "" if dry_run else site.settings.metrics_file if metrics_file is None else metrics_file
    steps = Steps(show=sys.stderr.isatty() and not as_json and not dry_run and not quiet)
    try:
        result = flow.sync(site, dry_run=dry_run, wait=wait, progress=steps, reader=_read_ahead(where),
                           then=_sync_then(site), notify=_notices(steps, quiet))
    except Igny8Error as exc:
        steps.done(ok=False)
        write_metrics(site, metrics_to, exit_code_for(exc), time.monotonic() - started)
        if (sys.stderr.isatty() and not quiet) or as_json:
            raise
        # Under cron: the failure is the run's one line in the log.
        _log_line(site, f"sync failed (exit {exit_code_for(exc)}): {exc}")
        raise typer.Exit(exit_code_for(exc)) from None
    except BaseException as exc:  # a bug (exit 1) or Ctrl-C (130): recorded with the code the process exits with
        write_metrics(site, metrics_to, 130 if isinstance(exc, KeyboardInterrupt) else exit_code_for(exc),
                      time.monotonic() - started)
        raise
    steps.done()
    write_metrics(site, metrics_to, 0, time.monotonic() - started)
    if quiet and not dry_run and not as_json:
        return
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
        _log_line(site, "sync ok: " + counts_line(result))


def _read_ahead(where: Any):
    """The site's facts as read while the CLI loaded (prefetch.py), for the
    same options; else read now. A read error surfaces inside the sync, which
    records it."""
    def read(site):
        from igny8_agent import prefetch

        ahead = prefetch.take(where)
        return ahead[1] if ahead is not None else site.read_facts()

    return read


def _metrics_option(value: Optional[str], dry_run: bool) -> Optional[str]:
    """``--metrics-file`` checked before anything runs: a wrong one is a usage error."""
    from igny8_agent.metrics import check_path

    if value is not None and dry_run:
        raise typer.BadParameter("a dry run writes no metrics", param_hint="--metrics-file")
    try:
        return None if value is None else check_path(value.strip(), where="--metrics-file")
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def write_metrics(site, template: str, exit_code: int, seconds: float) -> None:
    """The run's metrics file, if one is set: a failure to write it is one
    warning line and never changes the exit code."""
    if not template:
        return
    from igny8_agent.metrics import after_run

    problem = after_run(site, template, exit_code, seconds)
    if problem:
        print(f"igny8-agent: warning: metrics not written: {visible(problem)}", file=sys.stderr)


def counts_line(result) -> str:
    """What a push sent, on one line: a sync's result or a ``--all`` run's
    site outcome (both have site_id, integration_id, counts, seconds)."""
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
