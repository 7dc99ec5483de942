"""`igny8-agent config`: show or change a site's settings."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from igny8_agent.cli import JsonOpt, app, command, locate, print_json, with_site
from igny8_agent.errors import ConfigError


# -- config --------------------------------------------------------------------

config_app = typer.Typer(
    help="Show or change this site's settings: per-type sync and limits, the two "
    "switches, backend options. Changes are sent with the next sync.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("show")
@command
@with_site(database=False)
def config_show(
    as_json: bool = JsonOpt,
    where: Any = None,
) -> None:
    """Print the settings in force and where they come from."""
    site = locate(where)
    s = site.settings
    data = {
        "config_file": str(site.paths.config),
        "exists": site.paths.config.exists(),
        "wordpress": {"path": str(site.root or s.wordpress_path), "url": site.url or ""},
        "backend": {"api_url": s.api_url, "site_id": s.site_id, "ca_bundle": s.ca_bundle,
                    "timeout": s.timeout, "retry_budget": s.retry_budget},
        "sync": {"plugin_connection_enabled": s.plugin_connection_enabled,
                 "two_way_sync_enabled": s.two_way_sync_enabled},
        "listing": {f"{verb}_{kind}": list(getattr(s.listing(kind), verb))
                    for kind in ("post_types", "taxonomies") for verb in ("include", "exclude")},
        "post_type": s.configured_types("post_types"),
        "taxonomy": s.configured_types("taxonomies"),
        "metrics": {"file": s.metrics_file},
    }
    if as_json:
        print_json(data)
        return
    print(f"# {data['config_file']}{'' if data['exists'] else ' (not written yet: defaults)'}")
    print(site.paths.config.read_text("utf-8") if data["exists"] else json.dumps(data, indent=2))


@config_app.command("type")
@command
@with_site(database=False)
def config_type(
    slug: str = typer.Argument(..., help="A post type or taxonomy slug, e.g. product or product_cat."),
    enable: Optional[bool] = typer.Option(None, "--enable/--disable", help="Sync this type's content or not."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="fetch_limit: how many items IGNY8 fetches."),
    listing: Optional[str] = typer.Option(None, "--list", help="include: always list it; exclude: never list it; auto: as WordPress says."),
    taxonomy: Optional[bool] = typer.Option(None, "--taxonomy/--post-type", help="Which kind the slug is (default: found in the site)."),
    reset: bool = typer.Option(False, "--reset", help="Forget everything about this type: its own settings and its place on the include/exclude list (back to what WordPress says and the defaults)."),
    where: Any = None,
) -> None:
    """Change one post type's or taxonomy's settings.

    Prints what the next sync will do with the type: excluded from the sync,
    included even if not public, and enabled/disabled with its limit."""
    from igny8_agent.settings import TYPE_TABLE, edit_settings

    if listing not in (None, "include", "exclude", "auto"):
        raise typer.BadParameter("must be include, exclude or auto", param_hint="--list")
    if enable is None and limit is None and listing is None and not reset:
        raise typer.BadParameter("nothing to change: give --enable/--disable, --limit, --list or --reset")
    site = locate(where)
    kind = _kind_of(site, slug, taxonomy)
    table = TYPE_TABLE[kind]
    changes = []
    if reset:
        changes.append(((table, slug), None))
    if enable is not None:
        changes.append(((table, slug, "enabled"), enable))
    if limit is not None:
        changes.append(((table, slug, "fetch_limit"), limit))
    if listing is not None or reset:
        current = site.settings.listing(kind)
        include = [x for x in current.include if x != slug] + ([slug] if listing == "include" else [])
        exclude = [x for x in current.exclude if x != slug] + ([slug] if listing == "exclude" else [])
        changes.append((("listing", f"include_{kind}"), include))
        changes.append((("listing", f"exclude_{kind}"), exclude))
    settings = edit_settings(site.paths.config, changes)
    print(f"{_kind_name(kind)} {slug}: {_type_outcome(settings, kind, slug)}")


def _kind_name(kind: str) -> str:
    """"post type" / "taxonomy", as a kind is printed."""
    return {"post_types": "post type", "taxonomies": "taxonomy"}[kind]


def _type_outcome(settings, kind: str, slug: str) -> str:
    """What the next sync does with the type, as the settings now say."""
    listing = settings.listing(kind)
    if slug in listing.exclude:
        return "excluded from the sync (sent with the next sync; --list auto or --reset undoes it)"
    now = settings.type_settings(kind, slug)
    state = f"{'enabled' if now.enabled else 'disabled'}, limit {now.fetch_limit} (sent with the next sync)"
    return f"included even if not public, {state}" if slug in listing.include else state


def _kind_of(site, slug: str, taxonomy: Optional[bool]) -> str:
    if taxonomy is not None:
        return "taxonomies" if taxonomy else "post_types"
    facts = site.read_facts()
    is_post_type = slug in facts.post_type_counts or slug in facts.registered.post_types
    is_taxonomy = slug in facts.taxonomy_counts or slug in facts.registered.taxonomies
    if is_post_type == is_taxonomy:
        what = "both a post type and a taxonomy" if is_post_type else "not found on this site"
        raise ConfigError(f"{slug} is {what}: say which with --post-type or --taxonomy")
    return "post_types" if is_post_type else "taxonomies"


@config_app.command("sync")
@command
@with_site(database=False)
def config_sync(
    enable: Optional[bool] = typer.Option(None, "--enable/--disable", help='"Enable Sync Operations" (plugin_connection_enabled).'),
    two_way: Optional[bool] = typer.Option(None, "--two-way/--no-two-way", help='"Enable Two-Way Sync" (two_way_sync_enabled).'),
    where: Any = None,
) -> None:
    """Set "Enable Sync Operations" and "Enable Two-Way Sync".

    With sync operations disabled, the next sync tells IGNY8 once and later
    syncs push nothing."""
    from igny8_agent.settings import edit_settings

    changes = []
    if enable is not None:
        changes.append((("sync", "plugin_connection_enabled"), enable))
    if two_way is not None:
        changes.append((("sync", "two_way_sync_enabled"), two_way))
    if not changes:
        raise typer.BadParameter("nothing to change: give --enable/--disable or --two-way/--no-two-way")
    site = locate(where)
    settings = edit_settings(site.paths.config, changes)
    print(f"sync operations {'enabled' if settings.plugin_connection_enabled else 'disabled'}, "
          f"two-way sync {'enabled' if settings.two_way_sync_enabled else 'disabled'} (sent with the next sync)")


@config_app.command("backend")
@command
@with_site(database=False)
def config_backend(
    api_url: Optional[str] = typer.Option(None, "--api-url", help="IGNY8 API base URL."),
    ca_bundle: Optional[str] = typer.Option(None, "--ca-bundle", help="CA bundle (PEM) for a private certificate authority; '' to remove."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Seconds for each request."),
    retry_budget: Optional[float] = typer.Option(None, "--retry-budget", min=0, help="Seconds a run may spend retrying transient failures."),
    where: Any = None,
) -> None:
    """Set how the agent talks to the backend.

    --api-url must be https:// (plain http only for loopback). A site
    connected to another backend is moved with `igny8-agent connect --api-url
    URL`, never here: its key and ids belong to the backend it is connected to."""
    from igny8_agent.settings import edit_settings

    changes = []
    if api_url is not None:
        from igny8_agent.httpbits import parse_api_url

        api_url = parse_api_url(api_url)[0]
        changes.append((("backend", "api_url"), api_url))
    if ca_bundle is not None:
        changes.append((("backend", "ca_bundle"), ca_bundle or None))
    if timeout is not None:
        changes.append((("backend", "timeout"), timeout))
    if retry_budget is not None:
        changes.append((("backend", "retry_budget"), retry_budget))
    if not changes:
        raise typer.BadParameter("nothing to change")
    site = locate(where)
    if api_url is not None:
        from igny8_agent.state import load_state

        state = load_state(site.paths.state)
        connected = state.api_url.strip().rstrip("/")
        if state.connected and connected and connected != api_url:
            raise ConfigError(f"this site is connected to {connected}; "
                              f"run `igny8-agent connect --api-url {api_url}` to move it")
    edit_settings(site.paths.config, changes)
    print(f"saved to {site.paths.config}")


@config_app.command("metrics")
@command
@with_site(database=False)
def config_metrics(
    file: Optional[str] = typer.Option(None, "--file", metavar="PATH", help="The .prom file to replace after every sync, in node_exporter's textfile directory; {site} in the name stands for this site's name; '' turns the metrics off."),
    where: Any = None,
) -> None:
    """Write metrics for node_exporter's textfile collector after every sync.

    PATH must be absolute, end in .prom and be in an existing directory that
    no other user can write to (unless sticky). Each site needs its own file:
    {site} in the file name gives each its own. `sync --metrics-file PATH`
    overrides this for one run."""
    from igny8_agent import metrics
    from igny8_agent.settings import edit_settings

    if file is None:
        raise typer.BadParameter("nothing to change: give --file PATH, or --file '' to turn the metrics off")
    try:
        file = metrics.check_path(file.strip(), where="--file")
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    site = locate(where)
    target = metrics.check_target(metrics.target_path(file, site.paths.name)) if file else None
    if target:
        metrics.check_owner(target, site.paths.name)  # not another site's file
    edit_settings(site.paths.config, [(("metrics", "file"), file)])
    print(f"metrics: {target} is replaced after every sync" if target else "metrics: off")
