"""How the agent talks to the database, beyond where it is: TLS and time limits.

Each comes from, strongest first, an ``IGNY8_DB_*`` environment variable,
the ``[database]`` table of the agent's config file, then wp-config.php:

* TLS CA (file or directory): ``IGNY8_DB_SSL_CA``, ``ssl_ca``, ``MYSQL_SSL_CA``;
* TLS verification: ``IGNY8_DB_SSL_VERIFY=0``, ``ssl_verify = false`` (on otherwise);
* the time budget of a run's database work, connect included:
  ``IGNY8_DB_TIMEOUT``, ``timeout`` (30 s);
* each wait while connecting: ``IGNY8_DB_CONNECT_TIMEOUT``, ``connect_timeout`` (5 s).

TLS is used when wp-config.php asks for it (``MYSQL_CLIENT_FLAGS`` with
``MYSQLI_CLIENT_SSL``) or the agent is given a CA. Verification is on unless
switched off explicitly: wp-config.php's ``MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT``
does not switch it off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from igny8_agent.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def connection_options(
    environ: Mapping[str, str], config_path: Optional[Path], table: Mapping[str, Any],
    constants: Mapping[str, object], wants_tls: bool,
) -> Dict[str, Any]:
    """Keyword arguments for :class:`~igny8_agent.database.DbSettings`:
    ``tls``, ``tls_ca``, ``tls_verify``, ``read_timeout``, ``connect_timeout``.
    ``table`` holds those keys of the config file's ``[database]`` table, as
    settings.py read them (from a file it trusts)."""
    where = f"{config_path}: [database]"
    options: Dict[str, Any] = {}

    agent_ca = environ.get("IGNY8_DB_SSL_CA") or _text(table, "ssl_ca", where)
    wp_ca = constants.get("MYSQL_SSL_CA")
    ca = agent_ca or (wp_ca if isinstance(wp_ca, str) and wp_ca.strip() else None)
    options["tls"] = wants_tls or bool(agent_ca)
    options["tls_ca"] = ca.strip() if ca else None

    raw = environ.get("IGNY8_DB_SSL_VERIFY", "").strip().lower()
    if raw in _TRUE or raw in _FALSE:
        options["tls_verify"] = raw in _TRUE
    elif raw:
        raise ConfigError(f"IGNY8_DB_SSL_VERIFY must be 1 or 0, not {raw!r}")
    elif "ssl_verify" in table:
        if not isinstance(table["ssl_verify"], bool):
            raise ConfigError(f"{where} ssl_verify must be true or false")
        options["tls_verify"] = table["ssl_verify"]

    for key, env_name, field in (("timeout", "IGNY8_DB_TIMEOUT", "read_timeout"),
                                 ("connect_timeout", "IGNY8_DB_CONNECT_TIMEOUT", "connect_timeout")):
        seconds = _seconds(environ.get(env_name), env_name) if environ.get(env_name) else None
        if seconds is None and key in table:
            seconds = _seconds(table[key], f"{where} {key}")
        if seconds is not None:
            options[field] = seconds
    return options


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key} must be a string")
    return value.strip()


def _seconds(value: object, name: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 0.0
    if isinstance(value, bool) or not 0 < seconds <= 3600:
        raise ConfigError(f"{name} must be a number of seconds from 0 to 3600, not {value!r}")
    return seconds
