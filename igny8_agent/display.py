"""Tables for people at a terminal (rich). Only the CLI imports this."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from igny8_agent.structure import KINDS, Structure

TITLES = {"post_types": "Post Types", "taxonomies": "Taxonomies"}

console = Console()


def structure_table(structure: Structure) -> None:
    if structure.site_url:
        console.print(f"[bold]{structure.site_url}[/bold]")
    for kind in KINDS:
        table = Table(title=TITLES[kind], title_justify="left")
        table.add_column("Slug")
        table.add_column("Label")
        table.add_column("Count", justify="right")
        table.add_column("Sync")
        table.add_column("Limit", justify="right")
        table.add_column("Source", style="dim")
        for t in structure.kind(kind).values():
            table.add_row(
                t.slug,
                t.label,
                f"{t.count:,}",
                "[green]Enabled[/green]" if t.enabled else "[dim]Disabled[/dim]",
                str(t.fetch_limit),
                t.source,
            )
        console.print(table)


def sync_summary(result, title: str) -> None:
    """What was sent: counts per type, as the operator will see them in IGNY8."""
    console.print(
        f"[bold green]{title}[/bold green] — site {result.site_id}, integration {result.integration_id}"
        f" ({result.seconds:.2f} s)"
    )
    for kind in KINDS:
        counts = result.counts.get(kind, {})
        listed = ", ".join(f"{slug} ({n:,})" for slug, n in counts.items()) or "none"
        console.print(f"  {TITLES[kind]}: {listed}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/yellow] {warning}")


def status_report(local: dict, remote) -> None:
    """The local part, then the table the IGNY8 frontend shows."""
    colour = {"Connected & Ready": "green", "Not connected": "red"}.get(local["connection"], "yellow")
    rows = [
        ("Connection", f"[{colour}]{local['connection']}[/{colour}]"),
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
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(name, value)
    console.print(grid)
    if remote is None:
        return
    if remote.error:
        console.print(f"\n[yellow]warning:[/yellow] could not get the backend's view: {remote.error}")
        return
    data = remote.content_types or {}
    console.print(f"\n[bold]WordPress Content Types[/bold]   Last structure fetch: {ago(data.get('last_structure_fetch'))}")
    for kind in KINDS:
        table = Table(title=TITLES[kind], title_justify="left", box=None, pad_edge=False, show_header=False)
        table.add_column("", min_width=20)
        table.add_column("total", justify="right")
        table.add_column("synced", justify="right")
        table.add_column("")
        table.add_column("limit", justify="right")
        entries = data.get(kind) or {}
        for slug, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            table.add_row(
                str(entry.get("label") or slug),
                f"{_int(entry.get('count')):,} total",
                f"{_int(entry.get('synced_count')):,} synced",
                "[green][Enabled][/green]" if entry.get("enabled") else "[dim][Disabled][/dim]",
                f"Limit: {entry.get('fetch_limit', '—')}",
            )
        if not entries:
            table.add_row("(none yet)", "", "", "", "")
        console.print(table)


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_text(error) -> str:
    if not error:
        return "—"
    kind = "temporary, the next run retries" if error.get("temporary") else "needs an operator"
    return f"{error.get('message')} ({ago(error.get('at'))}; {kind})"


def ago(stamp) -> str:
    """ISO 8601 time -> "2026-11-26 07:00 UTC (3 hours ago)"."""
    if not stamp:
        return "never"
    from datetime import datetime, timezone

    from igny8_agent.state import parse_time

    when = parse_time(stamp)
    if when is None:
        return str(stamp)
    seconds = int((datetime.now(timezone.utc) - when).total_seconds())
    if seconds < 60:
        rel = "just now"
    else:
        for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
            if seconds >= size:
                n = seconds // size
                rel = f"{n} {unit}{'s' if n != 1 else ''} ago"
                break
    return f"{when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC ({rel})"
