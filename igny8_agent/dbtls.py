"""Keeping the database password between the agent and the real server.

* TLS, when used, is verified: the server's certificate must chain to a
  trusted CA (the system's, or the one configured) and name the host
  connected to. Switching verification off is the operator's explicit choice.
* The password is never sent in clear text (``mysql_clear_password``,
  MariaDB's PAM ``dialog``) except over verified TLS: a server that asks for
  it otherwise is refused before anything is sent.
"""

from __future__ import annotations

import os
import ssl
from typing import Dict, Optional

from igny8_agent.dberrors import CA_SOURCES
from igny8_agent.errors import ConfigError

# Authentication plugins that send the password itself, not a proof of it.
CLEAR_TEXT_PLUGINS = ("mysql_clear_password", "dialog")


class ClearTextRefused(Exception):
    """The server asked for the password in clear text over an unverified link."""

    def __init__(self, plugin: str) -> None:
        super().__init__(plugin)
        self.plugin = plugin


class _Refuse:
    """A pymysql authentication plugin handler that sends nothing."""

    plugin = ""

    def __init__(self, connection: object) -> None:
        self.connection = connection

    def authenticate(self, packet: object) -> object:
        raise ClearTextRefused(self.plugin)


def refusing_plugins(verified_tls: bool) -> Dict[str, type]:
    """pymysql's ``auth_plugin_map``: the clear-text plugins refuse, unless
    the connection is TLS with a verified certificate."""
    if verified_tls:
        return {}
    return {name: type(f"Refuse_{name}", (_Refuse,), {"plugin": name}) for name in CLEAR_TEXT_PLUGINS}


def tls_context(ca: Optional[str], verify: bool) -> ssl.SSLContext:
    """The client TLS context: certificate and host name verified against
    ``ca`` (a file or a directory) or the system's CAs; nothing verified when
    ``verify`` is False."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if ca and os.path.isdir(ca):
            context = ssl.create_default_context(capath=ca)
        elif ca:
            context = ssl.create_default_context(cafile=ca)
        else:
            context = _system_context()
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot use the database CA {ca}: {reason} (set by {CA_SOURCES})") from None
    # As pymysql does: certificates that MySQL generates itself lack
    # extensions Python 3.13's strict mode wants; chain and name are checked.
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _system_context() -> ssl.SSLContext:
    """The system's CAs, or certifi's bundle where the system has none."""
    paths = ssl.get_default_verify_paths()
    if (paths.cafile and os.path.exists(paths.cafile)) or (paths.capath and os.path.isdir(paths.capath)):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())

