"""`igny8-agent schedule`: the daily job."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from igny8_agent.cli import app, command, locate, refuse_with_all, with_site
from igny8_agent.errors import ConfigError


# -- schedule --------------------------------------------------------------------

schedule_app = typer.Typer(
    help="Run `igny8-agent sync` daily for this site: a systemd timer where systemd "
    "runs, else a cron.d entry (random delay, one run at a time).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _schedule_args(site, user: Optional[str]):
    import pwd
    import shutil

    beside = Path(sys.executable).parent / "igny8-agent"
    agent = shutil.which("igny8-agent") or (str(beside) if beside.exists() else "")
    if not agent:
        raise ConfigError("cannot find the igny8-agent executable to schedule; install the package so it is on PATH")
    return dict(
        site_name=site.paths.name,
        config=site.paths.config,
        agent=agent,
        user=user or pwd.getpwuid(os.geteuid()).pw_name,  # not $USER: sudo and su may keep it
        lock=site.paths.lock,
        log=site.paths.log,
    )


def _site_names() -> list:
    from igny8_agent import fleet

    return [config.stem for config in fleet.site_configs(os.environ)]


def _all_sites_args(user: Optional[str]):
    """The `--all` job's arguments, and what its user must be able to read
    and write: every connected site's files."""
    from igny8_agent import fleet, paths, schedule, schedule_users

    members, broken = fleet.locate_members(os.environ)
    if broken:
        raise ConfigError(f"site {broken[0].site}: {broken[0].message}")
    if not members:
        raise ConfigError("no site is connected on this host yet: run `igny8-agent connect` first")
    args = _schedule_args(members[0].site, user)
    state_dir = args["lock"].parent
    args.update(site_name=schedule.ALL_SITES, config=paths.config_dir(os.environ),
                lock=state_dir / f"{schedule.ALL_SITES}.lock", log=state_dir / f"{schedule.ALL_SITES}.log")
    needs = []
    for member in members:
        for need in schedule_users.needs(member.site.paths.config, member.site.wp_config, state_dir, args["agent"],
                                         member.name):
            if need not in needs:
                needs.append(need)
    return args, needs


@schedule_app.command("install")
@command
@with_site(database=False)
def schedule_install(
    kind: Optional[str] = typer.Option(None, "--kind", help="systemd or cron (default: systemd if it runs here)."),
    user: Optional[str] = typer.Option(None, "--user", help="The user the job runs as (default: you)."),
    all_sites: bool = typer.Option(False, "--all", help="One daily job for the host running `sync --all` (every connected site and network); it replaces the sites' own jobs."),
    where: Any = None,
) -> None:
    """Install the daily job for this site.

    As root: a systemd timer or an /etc/cron.d job (with a logrotate file for
    its log). As another user: an entry in your own crontab. The job's user
    must be able to read wp-config.php, the config and key files and write
    the state directory; otherwise nothing is written (exit 3). With --all,
    one job syncs every site of the host and the sites' own jobs are
    removed: a site is never synced by both."""
    from igny8_agent import schedule, schedule_users

    if all_sites:
        refuse_with_all(where, "is for every site of the host")
        args, needs = _all_sites_args(user)
    else:
        site = locate(where)
        if not site.paths.config.exists():
            raise ConfigError("this site has no config file yet: run `igny8-agent connect` first")
        if schedule.show(schedule.ALL_SITES):
            raise ConfigError("the host's `schedule install --all` job already syncs every site: "
                              "remove it first (`igny8-agent schedule remove --all`) to give sites their own jobs")
        args = _schedule_args(site, user)
        needs = schedule_users.needs(args["config"], site.wp_config, args["lock"].parent, args["agent"],
                                     args["site_name"])
    own_crontab = os.geteuid() != 0
    if own_crontab and kind == schedule.SYSTEMD:
        raise ConfigError("a systemd timer needs root: run `sudo igny8-agent schedule install`, or use --kind cron for your own crontab")
    if kind is not None and kind not in schedule.KINDS:
        raise ConfigError(f"unknown schedule kind {kind!r}: use systemd or cron")
    kind = kind or schedule.detect_kind()
    if not own_crontab and kind == schedule.SYSTEMD and schedule.detect_kind() != schedule.SYSTEMD:
        raise ConfigError("systemd is not running on this host (no /run/systemd/system): use `--kind cron`; nothing was written")
    schedule_users.check(args["user"], needs)
    if own_crontab:
        from igny8_agent import schedule_crontab

        installed = schedule_crontab.install(**args)
    else:
        installed = schedule.install(kind=kind, require_systemd=True, **args)
    print(f"installed: {installed.description}")
    for written in installed.files:
        print(f"  {written}")
    if all_sites:
        for name in _site_names():
            replaced = schedule.remove(name)
            if replaced.files:
                print(f"replaced: {replaced.description}")
    if installed.kind == schedule.SYSTEMD:
        print(f"output: the journal (journalctl -u igny8-agent@{args['site_name']}.service)")
    else:
        print(f"output: failures are mailed by cron and appended to {args['log']} (rotated weekly, 4 kept)")


@schedule_app.command("remove")
@command
@with_site(database=False)
def schedule_remove(
    all_sites: bool = typer.Option(False, "--all", help="Remove the host's one `sync --all` job."),
    where: Any = None,
) -> None:
    """Remove this site's daily job, of every kind installed (none is fine)."""
    from igny8_agent import schedule

    if all_sites:
        refuse_with_all(where, "is for every site of the host")
    removed = schedule.remove(schedule.ALL_SITES if all_sites else locate(where).paths.name)
    print(removed.description)


@schedule_app.command("show")
@command
@with_site(database=False)
def schedule_show(
    all_sites: bool = typer.Option(False, "--all", help="Show the host's one `sync --all` job."),
    where: Any = None,
) -> None:
    """Show this site's daily job(s), if any (or the host's `--all` job that syncs it)."""
    from igny8_agent import schedule

    if all_sites:
        refuse_with_all(where, "is for every site of the host")
        found = schedule.show(schedule.ALL_SITES)
    else:
        found = schedule.for_site(locate(where).paths.name)
    if found is None:
        print("no schedule installed" + (" for all sites (igny8-agent schedule install --all)" if all_sites
                                         else " for this site (igny8-agent schedule install)"))
        return
    print(found.description)
    for item in found.files:
        print(f"  {item}")
