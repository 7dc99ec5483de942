"""The command line: parsing, printing and exit codes, nothing else.

The work is done by the core modules; this file turns their results into
text and their exceptions into one-line errors and documented exit codes
(``EXIT_CODES``, the only place they are mapped).

Heavy libraries (httpx, keyring, tenacity, rich) are imported inside the
commands that use them, so ``structure --format json`` starts fast.
"""

from __future__ import annotations

import functools
import inspect
import json
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
from igny8_agent.status_view import visible  # stdlib only: fail() must never import at an interrupt

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

VERBOSE = False  # set by -v; logging is imported only then
app = typer.Typer(
    name="igny8-agent",
    help=(
        "Read a WordPress site's post types and taxonomies straight from its "
        "MySQL/MariaDB tables and push them to IGNY8."
    ),
    epilog=(
        "Exit codes: 0 ok, 2 usage, 3 configuration, 4 database, 5 backend refused "
        "(needs an operator), 6 temporary failure (the next run retries), "
        "7 another sync is running, 130 interrupted. Runs over many sites (--all, "
        "--network) exit with their sites' worst code, worst first: 130, 1, 3, 5, 4, 6, 7, 0. "
        "See the README."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Runs over many sites exit with the worst of their codes, best to worst.
SEVERITY = (0, 7, 6, 4, 5, 3, 1, 130)


def worst_exit(codes) -> int:
    return max(codes, key=lambda code: SEVERITY.index(code) if code in SEVERITY else len(SEVERITY), default=0)


def exit_code_for(exc: BaseException) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_INTERNAL


def fail(exc: BaseException, options: Optional[dict] = None) -> "typer.Exit":
    """Print ``exc`` as one line on stderr (and as JSON on stdout for
    ``--json``) and give the Exit to raise."""
    message = str(exc) if isinstance(exc, Igny8Error) else f"internal error: {type(exc).__name__}: {exc}"
    code = exit_code_for(exc)
    if options and options.get("as_json"):
        print_json({"ok": False, "error": message, "exit_code": code})
    print(f"igny8-agent: error: {visible(message)}", file=sys.stderr)
    if VERBOSE and not isinstance(exc, Igny8Error):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return typer.Exit(code)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body; map every failure to a one-line error and exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except KeyboardInterrupt:
            raise fail(Interrupted("interrupted; nothing was left half-written"), kwargs) from None
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
            raise fail(exc, kwargs) from None

    return run


# -- options shared by the commands that read a site ---------------------------

SITE_OPTIONS = {
    "path": typer.Option(None, "--path", help="WordPress root (default: walk up from the current directory; env IGNY8_WP_PATH)."),
    "url": typer.Option(None, "--url", help="Multisite: the subsite to read, as WP-CLI's --url (env IGNY8_URL)."),
    "config": typer.Option(None, "--config", help="The site's igny8-agent config file (default: one per site, found from --path)."),
}
DATABASE_OPTIONS = {
    "host": typer.Option(None, "--db-host", help="Override DB_HOST: host, host:port, host:/socket, [::1]:3306 (env IGNY8_DB_HOST)."),
    "name": typer.Option(None, "--db-name", help="Override DB_NAME (env IGNY8_DB_NAME)."),
    "user": typer.Option(None, "--db-user", help="Override DB_USER (env IGNY8_DB_USER). The password only comes from wp-config.php, the config file or IGNY8_DB_PASSWORD."),
    "charset": typer.Option(None, "--db-charset", help="Override DB_CHARSET (env IGNY8_DB_CHARSET)."),
    "table_prefix": typer.Option(None, "--table-prefix", help="Override $table_prefix (env IGNY8_TABLE_PREFIX)."),
}


def with_site(database: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the options that find a site (and, with ``database``, the ``--db-*``
    overrides) to a command, and hand it a ``where: SiteOptions`` instead."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        names = {**{k: k for k in SITE_OPTIONS}, **({f"db_{k}": k for k in DATABASE_OPTIONS} if database else {})}
        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                              default=SITE_OPTIONS.get(name) or DATABASE_OPTIONS[names[name]])
            for name in names
        ]
        signature = inspect.signature(fn)
        kept = [p for p in signature.parameters.values() if p.name != "where"]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from igny8_agent.site import SiteOptions

            given = {name: kwargs.pop(name, None) for name in names}
            kwargs["where"] = SiteOptions(
                path=given["path"],
                url=given["url"],
                config=Path(given["config"]) if given["config"] else None,
                db={key: given.get(f"db_{key}") for key in DATABASE_OPTIONS},
            )
            return fn(*args, **kwargs)

        run.__signature__ = signature.replace(parameters=kept + extra)  # type: ignore[attr-defined]
        return run

    return decorate


def refuse_with_all(where: Any, does: str, *others: tuple) -> None:
    """``--all`` is about every site of the host: the options that name one
    site (and ``others``, (option, value) pairs that make no sense with it)
    are a usage error."""
    given = [name for name, value in (("--path", where.path), ("--url", where.url), ("--config", where.config),
                                      *others) if value]
    if given:
        raise typer.BadParameter(f"--all {does}: drop {', '.join(given)}", param_hint="--all")


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    yaml = "yaml"


# -- global options ------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        from igny8_agent.install import describe

        print(f"igny8-agent {__version__}\n{describe()}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output on stderr (the API key is redacted)."),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version, how it was installed and which Python runs it, and exit."),
) -> None:
    global VERBOSE
    if verbose:
        import logging

        VERBOSE = True
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- structure -----------------------------------------------------------------


ApiUrlOpt = typer.Option(None, "--api-url", help="IGNY8 API base URL (default from the config file, env IGNY8_API_URL, else https://api.igny8.com/api/v1).")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (for scripts).")


def locate(where):
    from igny8_agent.site import environment_api_url, locate_site

    return environment_api_url(locate_site(where))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted("terminated (SIGTERM); nothing was left half-written")


def _load_commands() -> None:
    """Register the commands (one module per group) on ``app``."""
    import importlib

    for name in ("cli_site", "cli_status", "cli_config", "cli_schedule", "cli_fleet", "cli_discover", "cli_doctor"):
        importlib.import_module(f"igny8_agent.{name}")
    from igny8_agent.cli_examples import add_examples

    add_examples(app)


_GLOBAL_FLAGS = ("-v", "--verbose")
_SITE_OPTIONS = ("--path", "--url", "--config")  # options with a value that every command takes


def wp_cli_order(argv: List[str]) -> List[str]:
    """Global options before or after the command, as WP-CLI takes them:
    ``igny8-agent --path X structure`` and ``igny8-agent sync -v`` work. Site
    options given before the command go after it; ``-v`` goes before it."""
    front: List[str] = []
    moved: List[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        arg = argv[i]
        if arg.split("=", 1)[0] in _SITE_OPTIONS and ("=" in arg or i + 1 < len(argv)):
            taken = 1 if "=" in arg else 2
            moved += argv[i:i + taken]
            i += taken
        else:
            front.append(arg)
            i += 1
    rest: List[str] = []
    for j, arg in enumerate(argv[i:]):
        if arg == "--":
            rest += argv[i + j:]
            break
        (front if arg in _GLOBAL_FLAGS else rest).append(arg)
    return front + rest + moved


def main(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    import signal

    from igny8_agent import process

    try:
        # In the try: a signal put off while the agent loaded may be handled
        # as soon as these handlers are in place.
        process.handle_signals({signal.SIGTERM: _on_sigterm, signal.SIGINT: signal.default_int_handler})
        _load_commands()
        app(args=wp_cli_order(list(sys.argv[1:] if argv is None else argv)), prog_name="igny8-agent")
    except (KeyboardInterrupt, Interrupted):  # during parsing, before a command runs
        print("igny8-agent: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        # The command is over (its exit code decided): a signal while the
        # interpreter shuts down changes nothing and must not print.
        process.ignore_signals()


if __name__ == "__main__":  # pragma: no cover
    main()
