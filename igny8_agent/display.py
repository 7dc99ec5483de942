"""Tables for people at a terminal (rich). Only the CLI imports this."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from igny8_agent.structure import KINDS, TITLES, Structure

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
