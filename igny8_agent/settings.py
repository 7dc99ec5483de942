"""The operator's configuration of one site: a commented TOML file.

Reading uses the standard library's ``tomllib`` (``tomli`` before Python
3.11); editing uses ``tomlkit`` so the operator's comments and layout survive
``igny8-agent config``. The file is created 0600 and replaced atomically.
It says where the API key goes, so it (and the agent's config directories)
must pass ``trust``'s rule before it is read; numbers must be finite and in
range.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from igny8_agent import paths, trust
from igny8_agent.errors import ConfigError
from igny8_agent.files import remove_stale_temp_files, write_atomic

CONFIG_FILE = "the config file"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_ID = 2 ** 63 - 1
MAX_TIMEOUT = 3600.0  # seconds, one request
MAX_RETRY_BUDGET = 86400.0  # seconds, one run: the next daily run comes anyway
MAX_FETCH_LIMIT = 2 ** 31 - 1

DEFAULT_API_URL = "https://api.igny8.com/api/v1"
DEFAULT_FETCH_LIMIT = 100
DEFAULT_ENABLED = {"post_types": ("post", "page"), "taxonomies": ("category", "post_tag")}
# Table name in the file for one type's settings: [post_type.product], [taxonomy.product_cat].
TYPE_TABLE = {"post_types": "post_type", "taxonomies": "taxonomy"}
DB_KEYS = ("name", "user", "password", "host", "charset", "table_prefix")
DB_CONNECTION_KEYS = ("ssl_ca", "ssl_verify", "timeout", "connect_timeout")  # checked by dboptions.py

TEMPLATE = """\
# igny8-agent: configuration of one WordPress site.
# Edit it by hand or with `igny8-agent config`; comments are kept.
# Changes are sent to IGNY8 with the next sync.

[wordpress]
# The WordPress root (the folder with wp-config.php, or the one below it).
path = ""
# Multisite only: the subsite to read, as WP-CLI's --url.
# url = "https://example.com/shop/"

[backend]
api_url = "https://api.igny8.com/api/v1"
# site_id = 42            # skip matching the site by URL
# ca_bundle = ""          # a CA bundle for a private certificate authority
# timeout = 10            # seconds for each request
# retry_budget = 180      # seconds a run may spend retrying transient failures

[sync]
plugin_connection_enabled = true   # "Enable Sync Operations"
two_way_sync_enabled = true        # "Enable Two-Way Sync"

[listing]
# Slugs to list even if WordPress would not call them public, or to leave out.
include_post_types = []
exclude_post_types = []
include_taxonomies = []
exclude_taxonomies = []

# Per-type settings, e.g.
# [post_type.product]
# enabled = true
# fetch_limit = 100
#
# [taxonomy.product_cat]
# enabled = false

[metrics]
# A Prometheus file for node_exporter's textfile collector, replaced after
# every sync; "" for none. {site} in the file name stands for this site's name.
file = ""
# file = "/var/lib/node_exporter/textfile_collector/igny8-agent-{site}.prom"

# [database]  # only when wp-config.php cannot be read statically
# host = "127.0.0.1:3306"
# name = "wordpress"
# user = "wp"
# password = ""
# table_prefix = "wp_"
# ssl_ca = "/etc/mysql/ca.pem"   # verify the database's TLS certificate against this CA
# ssl_verify = true             # false only for a server whose certificate cannot be verified
# timeout = 30                  # seconds for all of a run's database work
# connect_timeout = 5           # seconds for each step of connecting
"""


@dataclass(frozen=True)
class TypeSettings:
    enabled: bool
    fetch_limit: int


@dataclass(frozen=True)
class Listing:
    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()


@dataclass
class Settings:
    path: Optional[Path] = None
    wordpress_path: str = ""
    url: str = ""
    api_url: str = DEFAULT_API_URL
    site_id: Optional[int] = None
    ca_bundle: str = ""
    timeout: float = 10.0
    retry_budget: float = 180.0
    plugin_connection_enabled: bool = True
    two_way_sync_enabled: bool = True
    database: Dict[str, str] = field(default_factory=dict)
    database_connection: Dict[str, Any] = field(default_factory=dict)  # ssl_ca, ssl_verify, timeouts (dboptions.py)
    metrics_file: str = ""  # node_exporter textfile (metrics.py); may hold {site}
    network_all: bool = False  # connected with `connect --network`: `sync --all` reads every subsite
    network_auto_connect: bool = True  # ... and connects subsites added later
    _listing: Dict[str, Listing] = field(default_factory=dict)
    _types: Dict[str, Dict[str, Dict[str, Any]]] = field(default_factory=dict)

    def listing(self, kind: str) -> Listing:
        return self._listing.get(kind, Listing())

    def type_settings(self, kind: str, slug: str) -> TypeSettings:
        own = self._types.get(kind, {}).get(slug, {})
        return TypeSettings(
            enabled=bool(own.get("enabled", slug in DEFAULT_ENABLED[kind])),
            fetch_limit=int(own.get("fetch_limit", DEFAULT_FETCH_LIMIT)),
        )

    def configured_types(self, kind: str) -> Dict[str, Dict[str, Any]]:
        return dict(self._types.get(kind, {}))


def _toml():
    """The TOML reader, imported only when there is a file to read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on older Pythons
        import tomli as tomllib
    return tomllib


def load_settings(path: Path) -> Settings:
    """Read ``path``; a missing file means all defaults (so does a default
    location that needs a home directory this user does not have)."""
    if isinstance(path, paths.HomelessPath):
        return Settings(path=path)
    raw = _read(path)
    if raw is None:
        return Settings(path=path)
    tomllib = _toml()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    return _from_dict(data, path)


def _read(path: Path) -> Optional[bytes]:
    """The file's bytes or None; it and the agent's own directories above it must pass ``trust``."""
    for directory in paths.own_config_dirs(path):
        trust.check_dir(directory, "the config directory")
    return trust.read_file(path, CONFIG_FILE, MAX_CONFIG_BYTES)


def _from_dict(data: Dict[str, Any], path: Path) -> Settings:
    v = _Validator(data, path)
    s = Settings(path=path)
    s.wordpress_path = v.text("wordpress", "path")
    s.url = v.text("wordpress", "url")
    s.api_url = v.text("backend", "api_url") or DEFAULT_API_URL
    s.site_id = v.integer("backend", "site_id", minimum=1)
    s.ca_bundle = v.text("backend", "ca_bundle")
    s.timeout = v.number("backend", "timeout", s.timeout, minimum=0.1, maximum=MAX_TIMEOUT)
    s.retry_budget = v.number("backend", "retry_budget", s.retry_budget, minimum=0, maximum=MAX_RETRY_BUDGET)
    s.plugin_connection_enabled = v.boolean("sync", "plugin_connection_enabled", True)
    s.two_way_sync_enabled = v.boolean("sync", "two_way_sync_enabled", True)
    from igny8_agent.metrics import check_path

    s.metrics_file = check_path(v.text("metrics", "file"), where=f"{path}: metrics.file")
    s.network_all = v.boolean("network", "all", False)
    s.network_auto_connect = v.boolean("network", "auto_connect", True)
    s.database = {k: v.text("database", k) for k in DB_KEYS if v.text("database", k)}
    section = v.section("database")
    s.database_connection = {k: section[k] for k in DB_CONNECTION_KEYS if k in section}
    for kind, table in TYPE_TABLE.items():
        singular = "post_types" if kind == "post_types" else "taxonomies"
        s._listing[kind] = Listing(
            include=v.slugs("listing", f"include_{singular}"),
            exclude=v.slugs("listing", f"exclude_{singular}"),
        )
        types = v.section(table)
        parsed: Dict[str, Dict[str, Any]] = {}
        for slug, entry in types.items():
            where = f"{table}.{slug}"
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: [{where}] must be a table")
            own: Dict[str, Any] = {}
            if "enabled" in entry:
                own["enabled"] = v.boolean(table, "enabled", True, entry=entry, where=where)
            if "fetch_limit" in entry:
                own["fetch_limit"] = v.integer(table, "fetch_limit", minimum=1, entry=entry, where=where,
                                               maximum=MAX_FETCH_LIMIT)
            parsed[slug] = own
        s._types[kind] = parsed
    return s


class _Validator:
    """Typed access to the parsed TOML with one-line errors naming file and key."""

    def __init__(self, data: Dict[str, Any], path: Path) -> None:
        self.data, self.path = data, path

    def section(self, name: str) -> Dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: [{name}] must be a table")
        return value

    def _get(self, section: str, key: str, entry: Optional[dict]) -> Any:
        return (entry if entry is not None else self.section(section)).get(key)

    def _bad(self, where: str, key: str, wanted: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}.{key} must be {wanted}")

    def text(self, section: str, key: str) -> str:
        value = self._get(section, key, None)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._bad(section, key, "a string")
        return value.strip()

    def boolean(self, section, key, default, entry=None, where=None) -> bool:
        value = self._get(section, key, entry)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(where or section, key, "true or false")
        return value

    def integer(self, section, key, minimum, entry=None, where=None, maximum=MAX_ID) -> Optional[int]:
        value = self._get(section, key, entry)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self._bad(where or section, key, f"a whole number from {minimum} to {maximum}")
        return value

    def number(self, section, key, default, minimum, maximum) -> float:
        value = self._get(section, key, None)
        if value is None:
            return default
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not minimum <= value <= maximum):
            raise self._bad(section, key, f"a number from {minimum:g} to {maximum:g}")
        return float(value)

    def slugs(self, section: str, key: str) -> Tuple[str, ...]:
        value = self._get(section, key, None) or []
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise self._bad(section, key, "a list of slugs")
        return tuple(x.strip() for x in value if x.strip())


# -- editing -------------------------------------------------------------------


def edit_settings(path: Path, changes: List[Tuple[Tuple[str, ...], Any]]) -> Settings:
    """Apply ``[(("sync", "two_way_sync_enabled"), False), ...]`` to the file,
    keeping comments, and return the settings as now written.

    ``None`` as a value removes the key. The result is validated before it
    replaces the file, so a bad edit leaves the old file in place.
    """
    import tomlkit

    raw = _read(path)
    try:
        doc = tomlkit.parse(TEMPLATE if raw is None else raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    for keys, value in changes:
        table = doc
        for name in keys[:-1]:
            if name not in table:
                table[name] = tomlkit.table(is_super_table=False)
            table = table[name]
        if value is None:
            table.pop(keys[-1], None)
        else:
            table[keys[-1]] = value
    new_text = tomlkit.dumps(doc)
    settings = _from_dict(_toml().loads(new_text), path)
    remove_stale_temp_files(path.parent, path.name)  # what a killed edit left
    write_atomic(path, new_text.encode("utf-8"), own_dir=bool(paths.own_config_dirs(path)), what=CONFIG_FILE)
    return settings
