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
