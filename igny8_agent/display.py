"""Tables for people at a terminal (rich). Only the CLI imports this.

Everything that comes from the database or the backend (slugs, labels, URLs,
warnings that quote them) goes in as ``Text`` of ``visible()`` text: never
parsed as markup, control characters shown as escapes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from igny8_agent.status_view import visible
from igny8_agent.structure import KINDS, TITLES, Structure

console = Console()


def plain(text: object, style: str = "") -> Text:
    return Text(visible(text), style=style)


def structure_table(structure: Structure, leftovers: bool = False) -> None:
    if structure.site_url:
        console.print(plain(structure.site_url, style="bold"))
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
                plain(t.slug),
                plain(t.label),
                f"{t.count:,}",
                "[green]Enabled[/green]" if t.enabled else "[dim]Disabled[/dim]",
                plain(t.fetch_limit),
                plain(t.source),
            )
        console.print(table)
    hidden = sum(len(v) for v in structure.leftovers.values())
    if not leftovers:
        if hidden:
            console.print(Text(f"{hidden} leftover type(s) in the tables are not listed (see --leftovers)", style="dim"))
        return
    table = Table(title="Leftovers: in the tables, registered by no active plugin or theme", title_justify="left")
    table.add_column("Kind")
    table.add_column("Slug")
    table.add_column("Count", justify="right")
    for kind in KINDS:
        for slug, rows in structure.leftovers.get(kind, {}).items():
            table.add_row("post type" if kind == "post_types" else "taxonomy", plain(slug), f"{rows:,}")
    console.print(table if hidden else Text("No leftovers.", style="dim"))
    console.print(Text("To sync a leftover anyway: igny8-agent config type SLUG --list include", style="dim"))
    for note in structure.notes:
        console.print(plain(f"note: {note}", style="yellow"))


def sync_summary(result, title: str) -> None:
    """What was sent: counts per type, as the operator will see them in IGNY8."""
    console.print(
        f"[bold green]{title}[/bold green] — site {result.site_id}, integration {result.integration_id}"
        f" ({result.seconds:.2f} s)"
    )
    for kind in KINDS:
        counts = result.counts.get(kind, {})
        listed = ", ".join(f"{slug} ({n:,})" for slug, n in counts.items()) or "none"
        console.print(plain(f"  {TITLES[kind]}: {listed}"))
    for warning in result.warnings:
        console.print(Text.assemble("  ", ("warning:", "yellow"), " ", visible(warning)))
