"""`igny8-agent schedule`: the daily job."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from igny8_agent.cli import app, command, locate, with_site
from igny8_agent.errors import ConfigError


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

    site = locate(where)
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

    site = locate(where)
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

    site = locate(where)
    found = schedule.show(site.paths.name)
    if found is None:
        print("no schedule installed for this site (igny8-agent schedule install)")
        return
    print(found.description)
    for item in found.files:
        print(f"  {item}")
