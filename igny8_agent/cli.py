"""The command line: parsing, printing and exit codes, nothing else.

The work is done by the core modules; this file turns their results into
text and their exceptions into one-line errors and documented exit codes
(``EXIT_CODES``, the only place they are mapped).

Heavy libraries (httpx, keyring, tenacity, rich) are imported inside the
commands that use them, so ``structure --format json`` starts fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from igny8_agent import __version__
from igny8_agent.errors import (
    BackendError,
    ConfigError,
    DatabaseError,
    Igny8Error,
    Interrupted,
    LockBusy,
    TransientError,
)

# Exit codes (documented in the README). Order matters: first match wins.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CODES = (
    (ConfigError, 3),  # local configuration: needs an operator
    (DatabaseError, 4),  # the WordPress database could not be read
    (BackendError, 5),  # the backend refused: needs an operator
    (TransientError, 6),  # temporary failure: the next run retries
    (LockBusy, 7),  # another sync of this site is running
    (Interrupted, 130),  # SIGINT / SIGTERM
)

log = logging.getLogger("igny8_agent")

app = typer.Typer(
    name="igny8-agent",
    help=(
        "Read a WordPress site's post types and taxonomies straight from its "
        "MySQL/MariaDB tables and push them to IGNY8."
    ),
    epilog=(
        "Exit codes: 0 ok, 2 usage, 3 configuration, 4 database, 5 backend refused "
        "(needs an operator), 6 temporary failure (the next run retries), "
        "7 another sync is running, 130 interrupted. See the README."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def exit_code_for(exc: BaseException) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_INTERNAL


def fail(exc: BaseException) -> "typer.Exit":
    """Print ``exc`` as one line on stderr and give the Exit to raise."""
    message = str(exc) if isinstance(exc, Igny8Error) else f"internal error: {type(exc).__name__}: {exc}"
    print(f"igny8-agent: error: {message}", file=sys.stderr)
    if log.isEnabledFor(logging.DEBUG) and not isinstance(exc, Igny8Error):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return typer.Exit(exit_code_for(exc))


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body; map every failure to a one-line error and exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except KeyboardInterrupt:
            raise fail(Interrupted("interrupted; nothing was left half-written")) from None
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
            raise fail(exc) from None

    return run


# -- options shared by the commands that read a site ---------------------------

PathOpt = typer.Option(None, "--path", help="WordPress root (default: walk up from the current directory; env IGNY8_WP_PATH).")
UrlOpt = typer.Option(None, "--url", help="Multisite: the subsite to read, as WP-CLI's --url (env IGNY8_URL).")
ConfigOpt = typer.Option(None, "--config", help="The site's igny8-agent config file (default: one per site, found from --path).")
DbHostOpt = typer.Option(None, "--db-host", help="Override DB_HOST: host, host:port, host:/socket, [::1]:3306 (env IGNY8_DB_HOST).")
DbNameOpt = typer.Option(None, "--db-name", help="Override DB_NAME (env IGNY8_DB_NAME).")
DbUserOpt = typer.Option(None, "--db-user", help="Override DB_USER (env IGNY8_DB_USER). The password only comes from wp-config.php, the config file or IGNY8_DB_PASSWORD.")
DbCharsetOpt = typer.Option(None, "--db-charset", help="Override DB_CHARSET (env IGNY8_DB_CHARSET).")
PrefixOpt = typer.Option(None, "--table-prefix", help="Override $table_prefix (env IGNY8_TABLE_PREFIX).")


def site_options(path, url, config, db_host, db_name, db_user, db_charset, table_prefix):
    from igny8_agent.site import SiteOptions

    return SiteOptions(
        path=path,
        url=url,
        config=Path(config) if config else None,
        db={"host": db_host, "name": db_name, "user": db_user, "charset": db_charset, "table_prefix": table_prefix},
    )


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# -- global options ------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        print(f"igny8-agent {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output on stderr (the API key is redacted)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- structure -----------------------------------------------------------------


@app.command()
@command
def structure(
    format: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table or json (default: table on a terminal, json otherwise)."),
    path: Optional[str] = PathOpt,
    url: Optional[str] = UrlOpt,
    config: Optional[str] = ConfigOpt,
    db_host: Optional[str] = DbHostOpt,
    db_name: Optional[str] = DbNameOpt,
    db_user: Optional[str] = DbUserOpt,
    db_charset: Optional[str] = DbCharsetOpt,
    table_prefix: Optional[str] = PrefixOpt,
) -> None:
    """Print the site's public post types and taxonomies with labels and counts,
    read from the database (no PHP runs, nothing is sent)."""
    fmt = format.value if format else ("table" if sys.stdout.isatty() else "json")
    from igny8_agent.site import locate_site
    from igny8_agent.structure import build_structure

    site = locate_site(site_options(path, url, config, db_host, db_name, db_user, db_charset, table_prefix))
    result = build_structure(site.read_facts(), site.settings)
    for warning in result.warnings:
        print(f"igny8-agent: warning: {warning}", file=sys.stderr)
    if fmt == "json":
        print_json(result.content_types())
    else:
        from igny8_agent import display

        display.structure_table(result)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="igny8-agent")
    except KeyboardInterrupt:  # during parsing, before a command runs
        print("igny8-agent: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
