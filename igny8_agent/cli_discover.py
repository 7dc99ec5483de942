"""`igny8-agent discover`: the WordPress installs of this host."""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import typer

from igny8_agent.cli import JsonOpt, OutputFormat, app, command, print_json
from igny8_agent.webroots import DEFAULT_MAX_DEPTH, DEFAULT_ROOTS, DEFAULT_TIMEOUT
from igny8_agent.status_view import visible

CSV_COLUMNS = ("path", "version", "multisite", "owner", "connected", "sites", "wp_config")


@app.command()
@command
def discover(
    roots: Optional[List[str]] = typer.Argument(None, metavar="[ROOT]...", show_default=False, help=(
        "Directories to search (default: " + ", ".join(DEFAULT_ROOTS) + "; those that exist).")),
    max_depth: int = typer.Option(DEFAULT_MAX_DEPTH, "--max-depth", min=0, max=64, help="How many directories below each root to look."),
    timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=0.0, max=3600.0, help="Stop after this many seconds and say the list is incomplete."),
    format: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table, json, csv or yaml (default: table on a terminal, json otherwise)."),
    as_json: bool = JsonOpt,
) -> None:
    """List the WordPress installs on this host and whether each is connected.

    Looks for WordPress's core files with a wp-config.php in or one level
    above their directory; symbolic links to directories are not followed,
    hidden directories, node_modules, vendor and an install's wp-content are
    not entered. Reads files only: changes nothing, connects to nothing.
    "Connected" is what this agent (this user's config and state
    directories) knows. A summary goes to standard error. Exit 0, also when
    the walk was cut short; 3 when a ROOT given is not a directory."""
    from igny8_agent.discover import discover as walk

    fmt = "json" if as_json else (format.value if format else ("table" if sys.stdout.isatty() else "json"))
    found = walk(roots or None, max_depth=max_depth, timeout=timeout)
    problems = [c.problem for i in found.installs for c in i.connections if c.problem]
    for warning in found.warnings + problems:
        print(f"igny8-agent: warning: {visible(warning)}", file=sys.stderr)
    if fmt == "json":
        print_json(found.as_dict())
    elif fmt == "yaml":
        from igny8_agent.formats import to_yaml

        sys.stdout.write(to_yaml(found.as_dict()))
    elif fmt == "csv":
        from igny8_agent.formats import rows_csv

        sys.stdout.write(rows_csv(CSV_COLUMNS, [_row(i, csv=True) for i in found.installs]))
    else:
        _table(found)
    print(f"igny8-agent: {_summary(found)}", file=sys.stderr)


def _connected(install: Any) -> str:
    names = [c.name for c in install.connections if c.connected]
    return " ".join(names) if names else "no"


def _row(install: Any, csv: bool = False) -> List[str]:
    multisite = {True: "yes", False: "no", None: "unknown"}[install.multisite]
    row = [str(install.path), install.version or "", multisite, install.owner, _connected(install)]
    if csv:
        row = row[:4] + ["yes" if install.connected else "no", " ".join(c.name for c in install.connections),
                         str(install.wp_config)]
    return row


def _table(found: Any) -> None:
    from rich.table import Table

    from igny8_agent.display import console, plain

    table = Table(title_justify="left")
    for title in ("Path", "WordPress", "Multisite", "Owner", "Connected"):
        table.add_column(title)
    for install in found.installs:
        table.add_row(*(plain(cell) for cell in _row(install)))
    console.print(table)


def _summary(found: Any) -> str:
    count = len(found.installs)
    parts = [f"{count} WordPress install{'' if count == 1 else 's'}, {found.connected} connected"]
    if found.without_config:
        parts.append(f"{found.without_config} without wp-config.php")
    if found.unreadable_dirs:
        parts.append(f"{found.unreadable_dirs} unreadable director{'y' if found.unreadable_dirs == 1 else 'ies'} skipped")
    if found.beyond_max_depth:
        parts.append(f"{found.beyond_max_depth} deeper than --max-depth not searched")
    if found.cut_short:
        parts.append(f"cut short after {round(found.seconds, 2):g}s: the list is incomplete (raise --timeout)")
    if not found.roots:
        parts.append("none of the usual directories exists; name the ones to search")
    return "; ".join(parts)
