"""Finding one WordPress site and everything needed to read it.

Each database setting comes from, in order: a command-line option, an
``IGNY8_*`` environment variable, the ``[database]`` table of the agent's
config file, then ``wp-config.php`` (read statically, never executed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional

from igny8_agent.database import DbSettings, ReadOnlySession, connection_charset
from igny8_agent.dboptions import connection_options
from igny8_agent.errors import ConfigError
from igny8_agent.paths import SitePaths, site_name
from igny8_agent.settings import Settings, load_settings
from igny8_agent.sitefiles import SiteFiles
from igny8_agent.wordpress import SiteFacts, read_site, validate_table_prefix
from igny8_agent.wpconfig import WPConfig, find_wordpress, parse_db_host, read_wp_config

# setting -> (wp-config constant, environment variable, command-line option)
DB_SOURCES = {
    "name": ("DB_NAME", "IGNY8_DB_NAME", "--db-name"),
    "user": ("DB_USER", "IGNY8_DB_USER", "--db-user"),
    "password": ("DB_PASSWORD", "IGNY8_DB_PASSWORD", None),
    "host": ("DB_HOST", "IGNY8_DB_HOST", "--db-host"),
    "charset": ("DB_CHARSET", "IGNY8_DB_CHARSET", "--db-charset"),
    "table_prefix": ("$table_prefix", "IGNY8_TABLE_PREFIX", "--table-prefix"),
}


@dataclass
class SiteOptions:
    """What the command line said about the site (all optional)."""

    path: Optional[str] = None
    url: Optional[str] = None
    config: Optional[Path] = None
    db: Dict[str, Optional[str]] = field(default_factory=dict)  # keys of DB_SOURCES


@dataclass
class Site:
    root: Optional[Path]
    wp_config: Optional[Path]
    url: Optional[str]
    db: DbSettings
    table_prefix: str
    multisite: Optional[bool]
    main_blog_id: int
    main_site_id: int
    paths: SitePaths
    settings: Settings
    files: Optional[SiteFiles] = None  # the theme and mu-plugins, when the root is known

    def read_facts(self, session: Optional[ReadOnlySession] = None) -> SiteFacts:
        """Read the site in one read-only session: a new one, or ``session``
        if already opened (it is closed afterwards either way)."""
        with session or ReadOnlySession(self.db) as session:
            return self.read_facts_in(session)

    def read_facts_in(self, session: ReadOnlySession, blog_id: Optional[int] = None,
                      network_plugins: Optional[dict] = None) -> SiteFacts:
        """Read the site in ``session``'s transaction, leaving it open
        (``blog_id``, ``network_plugins``: see ``read_site``)."""
        return read_site(
            session,
            self.table_prefix,
            multisite=self.multisite,
            url=self.url,
            main_blog_id=self.main_blog_id,
            main_site_id=self.main_site_id,
            files=self.files,
            blog_id=blog_id,
            network_plugins=network_plugins,
        )

    def fingerprint(self, home: str) -> Dict[str, str]:
        """What tells this site from a copy of it (staging clones carry the config)."""
        return {"home": home, "database": self.db.name, "table_prefix": self.table_prefix}


def locate_site(options: SiteOptions, environ: Mapping[str, str] = os.environ) -> Site:
    settings: Optional[Settings] = None
    if options.config is not None:
        settings = load_settings(options.config)
        if not options.config.exists():
            raise ConfigError(f"config file {options.config} does not exist")

    url = options.url or environ.get("IGNY8_URL") or (settings.url if settings else "") or None

    root: Optional[Path] = None
    wpconfig: Optional[WPConfig] = None
    try:
        root, config_path = find_wordpress(wordpress_start(options, environ, settings))
        wpconfig = read_wp_config(config_path, environ, root=root)
    except ConfigError:
        if not _overrides_complete(options, environ, settings):
            raise

    if settings is None:
        name = site_name(root, url, wpconfig.constants if wpconfig else None, environ) if root else "default"
        paths = SitePaths.for_site(name, environ=environ)
        settings = load_settings(paths.config)
    else:
        paths = SitePaths.for_site(options.config.stem, config=options.config, environ=environ)

    def value(key: str) -> Optional[str]:
        constant, env_name, _option = DB_SOURCES[key]
        for candidate in (options.db.get(key), environ.get(env_name), settings.database.get(key)):
            if candidate:
                return str(candidate)
        if wpconfig is None:
            return None
        hint = _hint(key)
        if key == "table_prefix":
            got = wpconfig.get("$table_prefix", hint, None)
            if got is None:
                raise ConfigError(f"$table_prefix is not set (statically) in {wpconfig.path}; {hint}")
            return str(got)
        default = "" if key in ("password", "charset") else _REQUIRED
        got = wpconfig.get(constant, hint, default)
        if got is _REQUIRED:
            raise ConfigError(f"{constant} is not defined in {wpconfig.path}; {hint}")
        return "" if got is None else str(got)

    address = parse_db_host(value("host") or "localhost")
    db = DbSettings(
        name=value("name") or "",
        user=value("user") or "",
        password=value("password") or "",
        host=address.host,
        port=address.port,
        socket=address.socket,
        charset=connection_charset(value("charset")),
        **connection_options(
            environ, settings.path, settings.database_connection,
            wpconfig.constants if wpconfig is not None else {},
            wants_tls=wpconfig is not None and _wants_tls(wpconfig),
        ),
    )
    if not db.name:
        raise ConfigError(f"no database name: set DB_NAME in wp-config.php; {_hint('name')}")
    prefix = validate_table_prefix(value("table_prefix"))

    multisite: Optional[bool] = None
    main_blog, main_site = 1, 1
    if wpconfig is not None:
        if "MULTISITE" in wpconfig.constants or "MULTISITE" in wpconfig.undecided:
            multisite = bool(wpconfig.get("MULTISITE", "set MULTISITE where it can be read statically"))
        main_blog = _int_constant(wpconfig, "BLOG_ID_CURRENT_SITE", 1)
        main_site = _int_constant(wpconfig, "SITE_ID_CURRENT_SITE", 1)

    return Site(
        root=root,
        wp_config=wpconfig.path if wpconfig else None,
        url=url,
        db=db,
        table_prefix=prefix,
        multisite=multisite,
        main_blog_id=main_blog,
        main_site_id=main_site,
        paths=paths,
        settings=settings,
        files=(SiteFiles.of(root, wpconfig.constants, cache_dir=paths.state.parent / "cache")
               if root is not None and wpconfig is not None else None),
    )


def environment_api_url(site: Site, environ: Mapping[str, str] = os.environ) -> Site:
    """``IGNY8_API_URL`` beats the config file's API URL."""
    if environ.get("IGNY8_API_URL"):
        site.settings.api_url = environ["IGNY8_API_URL"]
    return site


def wordpress_start(options: SiteOptions, environ: Mapping[str, str] = os.environ,
                    settings: Optional[Settings] = None) -> Path:
    """Where the search for the WordPress root starts: --path, IGNY8_WP_PATH,
    the config file's [wordpress] path, else the current directory."""
    start = options.path or environ.get("IGNY8_WP_PATH") or (settings.wordpress_path if settings else "")
    return Path(start or os.getcwd())


_REQUIRED = object()


def _hint(key: str) -> str:
    _constant, env_name, option = DB_SOURCES[key]
    return f"set {env_name} or {option}" if option else f"set {env_name}"


def _overrides_complete(options: SiteOptions, environ: Mapping[str, str], settings: Optional[Settings]) -> bool:
    """Whether the database can be reached without wp-config.php."""
    def given(key: str) -> bool:
        env_name = DB_SOURCES[key][1]
        return bool(options.db.get(key) or environ.get(env_name) or (settings and settings.database.get(key)))

    return all(given(k) for k in ("name", "user", "host", "table_prefix"))


def _wants_tls(wpconfig: WPConfig) -> bool:
    """``define('MYSQL_CLIENT_FLAGS', MYSQLI_CLIENT_SSL)`` (2048) turns TLS on in WordPress."""
    flags = wpconfig.constants.get("MYSQL_CLIENT_FLAGS")
    if isinstance(flags, int):
        return bool(flags & 2048)
    # Not MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT, another flag.
    return re.search(r"\bMYSQLI_CLIENT_SSL\b", wpconfig.unresolved.get("MYSQL_CLIENT_FLAGS", "")) is not None


def _int_constant(wpconfig: WPConfig, name: str, default: int) -> int:
    raw = wpconfig.constants.get(name, default)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} in {wpconfig.path} must be a number, not {raw!r}") from None
