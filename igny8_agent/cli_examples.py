"""Examples shown at the end of every command's ``--help``."""

from __future__ import annotations

from typing import Dict, Tuple

EXAMPLES: Dict[str, Tuple[str, ...]] = {
    "": (
        "igny8-agent --path /var/www/shop structure",
        "igny8-agent connect --email you@example.com",
        "igny8-agent status --check",
    ),
    "structure": (
        "igny8-agent structure --path /var/www/shop",
        "igny8-agent structure --format csv > types.csv",
        "igny8-agent structure --leftovers",
    ),
    "connect": (
        "igny8-agent connect --email you@example.com",
        "printf '%s\\n' \"$KEY\" | igny8-agent connect --api-key-stdin --path /var/www/shop",
        "igny8-agent connect --url https://network.example/shop/",
        "igny8-agent connect --network --path /var/www/network   # every subsite",
    ),
    "sync": (
        "igny8-agent sync",
        "igny8-agent sync --dry-run",
        "igny8-agent sync --quiet   # for cron: silent unless it fails",
        "igny8-agent sync --all --jobs 8   # every site of this host",
    ),
    "status": (
        "igny8-agent status",
        "igny8-agent status --json",
        "igny8-agent status --check --max-age 36   # for Nagios / Icinga / Zabbix",
        "igny8-agent status --all --format csv",
    ),
    "doctor": (
        "igny8-agent doctor --path /var/www/shop",
        "igny8-agent doctor --json | jq '.checks[] | select(.status != \"ok\")'",
    ),
    "disconnect": ("igny8-agent disconnect", "igny8-agent disconnect --path /var/www/shop"),
    "config": ("igny8-agent config show", "igny8-agent config type product --enable --limit 50"),
    "config show": ("igny8-agent config show", "igny8-agent config show --json"),
    "config type": (
        "igny8-agent config type product --enable --limit 50",
        "igny8-agent config type product_cat --list include",
        "igny8-agent config type product --reset",
    ),
    "config sync": ("igny8-agent config sync --disable", "igny8-agent config sync --no-two-way"),
    "config backend": ("igny8-agent config backend --retry-budget 120", "igny8-agent config backend --timeout 20"),
    "config metrics": (
        "igny8-agent config metrics --file /var/lib/node_exporter/textfile_collector/igny8-agent-{site}.prom",
        "igny8-agent config metrics --file ''   # no metrics",
    ),
    "schedule": ("igny8-agent schedule install", "igny8-agent schedule show"),
    "schedule install": ("igny8-agent schedule install", "igny8-agent schedule install --user www-data --kind cron",
                         "igny8-agent schedule install --all   # one job for every site"),
    "schedule remove": ("igny8-agent schedule remove",),
    "schedule show": ("igny8-agent schedule show",),
    "discover": (
        "igny8-agent discover",
        "igny8-agent discover /srv/sites --max-depth 6 --timeout 30",
        "igny8-agent discover --format json | jq -r '.installs[] | select(.connected | not) | .path'",
    ),
}


def epilog(path: str, existing: str = "") -> str:
    """``existing`` with the examples for the command at ``path`` appended."""
    lines = EXAMPLES.get(path, ())
    if not lines:
        return existing
    block = "Examples:\n\n" + "\n\n".join(f"  $ {line}" for line in lines)
    return f"{existing}\n\n{block}" if existing else block


def add_examples(app) -> None:
    """Set every registered command's and group's epilog (typer ``app``)."""
    app.info.epilog = epilog("", app.info.epilog or "")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        command.epilog = epilog(name, command.epilog or "")
    for group in app.registered_groups:
        sub = group.typer_instance
        group_name = group.name or sub.info.name
        sub.info.epilog = epilog(group_name, sub.info.epilog or "")
        for command in sub.registered_commands:
            name = command.name or command.callback.__name__.replace("_", "-")
            command.epilog = epilog(f"{group_name} {name}", command.epilog or "")
