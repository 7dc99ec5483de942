"""Where the agent keeps a site's config, state, lock and key file.

As root: ``/etc/igny8-agent`` and ``/var/lib/igny8-agent``; as a normal user:
the XDG config and state directories. ``IGNY8_CONFIG_DIR`` /
``IGNY8_STATE_DIR`` override both, and ``--config FILE`` names a site's
config directly. Every site on a host gets its own files, named after the
config file's stem (its "site name").

A user without a home directory (no ``HOME``, no passwd entry) gets a
``HomelessPath``: it prints as the documented place, but using it on disk is
a ConfigError saying what to set. So ``structure``, which needs no file of
the agent's, still works, and every command that needs one stops with one line.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple

from igny8_agent.errors import ConfigError


class NoHomeError(ConfigError, OSError):
    """A HomelessPath was used on disk. Also an OSError, so code that treats
    an unreadable optional file as absent goes on without it."""


class HomelessPath(type(Path())):  # type: ignore[misc]
    """A default location under a home directory this user does not have.

    Paths made from it (``/``, ``parent``) are HomelessPaths too, and any use
    on disk (``open``, ``stat``, ``os.*``) raises NoHomeError."""

    def __fspath__(self) -> str:
        raise NoHomeError(
            f"no home directory for uid {os.geteuid()} (HOME is not set and there is no passwd entry): "
            "set IGNY8_CONFIG_DIR and IGNY8_STATE_DIR (or XDG_CONFIG_HOME and XDG_STATE_HOME)"
        )


def home(environ: Mapping[str, str] = os.environ) -> Optional[Path]:
    """``$HOME``, else the passwd entry's home; None when there is neither."""
    value = environ.get("HOME", "")
    if not os.path.isabs(value):
        try:
            import pwd

            value = pwd.getpwuid(os.geteuid()).pw_dir
        except (ImportError, KeyError):
            return None
    return Path(value) if os.path.isabs(value) else None


def _user_dir(environ: Mapping[str, str], xdg: str, default: str) -> Path:
    """``$XDG_...`` (an absolute path, as the XDG spec says) or ``~/default``, plus ``igny8-agent``."""
    base = environ.get(xdg, "")
    if os.path.isabs(base):
        return Path(base) / "igny8-agent"
    user_home = home(environ)
    if user_home is None:
        return HomelessPath("~", default, "igny8-agent")
    return user_home / default / "igny8-agent"


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("IGNY8_CONFIG_DIR"):
        return Path(environ["IGNY8_CONFIG_DIR"])
    if os.geteuid() == 0:
        return Path("/etc/igny8-agent")
    return _user_dir(environ, "XDG_CONFIG_HOME", ".config")


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("IGNY8_STATE_DIR"):
        return Path(environ["IGNY8_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/igny8-agent")
    return _user_dir(environ, "XDG_STATE_HOME", ".local/state")


def own_config_dirs(config: Path, environ: Mapping[str, str] = os.environ) -> Tuple[Path, ...]:
    """The agent's own directories above ``config`` -- the config directory and
    its ``sites/`` -- when the file is in them; none for a file ``--config``
    names elsewhere (its directory is the operator's)."""
    base = config_dir(environ)
    if isinstance(config, HomelessPath) or config.parent == base / "sites":
        return (base, base / "sites")
    return ()


def site_name(wordpress_root: Path, url: Optional[str] = None, constants: Optional[Mapping[str, object]] = None,
              environ: Mapping[str, str] = os.environ) -> str:
    """A stable, readable file name for one backend site: ``network-test-shop-1a2b3c4d``.

    Named after the site's home URL when it is known before reading the
    database (``constants``: wp-config.php's decided values): on a multisite,
    ``url`` or else the main site (``DOMAIN_CURRENT_SITE`` + ``PATH_CURRENT_SITE``),
    so ``--url <main site>`` and no ``--url`` share one config; on a single
    site ``WP_HOME``. Otherwise after the WordPress root (``var-www-shop-...``).
    The digest tells apart two installs (a staging copy) with the same URL.
    A config or state file under the name older versions gave is kept."""
    root = str(wordpress_root.resolve())
    if constants is None:  # the caller knows nothing of wp-config.php: the name of old
        return _old_site_name(root, url)
    key = _home_key(url, constants)
    if key is None:
        readable = re.sub(r"[^A-Za-z0-9]+", "-", root).strip("-")[-40:] or "root"
        ident = root
    else:
        readable = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:60] or "site"
        ident = f"{root}|{key}"
    name = f"{readable}-{hashlib.sha256(ident.encode('utf-8')).hexdigest()[:8]}"
    old = _old_site_name(root, url)
    if old != name and _has_files(old, environ) and not _has_files(name, environ):
        return old
    return name


def _home_key(url: Optional[str], constants: Mapping[str, object]) -> Optional[str]:
    """``host[:port]/path`` of the site's home URL, when known without the database."""
    from igny8_agent.urls import site_key

    multisite = bool(constants.get("MULTISITE")) or isinstance(constants.get("DOMAIN_CURRENT_SITE"), str)
    if multisite:
        domain, path = constants.get("DOMAIN_CURRENT_SITE"), constants.get("PATH_CURRENT_SITE", "/")
        home = url or (f"{domain}{path if isinstance(path, str) else '/'}" if isinstance(domain, str) else "")
    else:  # a single site has one home; --url can only repeat it
        home = constants.get("WP_HOME")
    found = site_key(home) if isinstance(home, str) and home.strip() else None
    if found is None:
        return None
    return found.host + (f":{found.port}" if found.port else "") + found.path


def _old_site_name(root: str, url: Optional[str]) -> str:
    """The name earlier versions gave a site: its root, with --url in the digest."""
    ident = root + ("|" + url if url else "")
    readable = re.sub(r"[^A-Za-z0-9]+", "-", root).strip("-")[-40:] or "root"
    return f"{readable}-{hashlib.sha256(ident.encode('utf-8')).hexdigest()[:8]}"


def _has_files(name: str, environ: Mapping[str, str]) -> bool:
    """Whether a site of this name has a config or state file already."""
    try:
        return ((config_dir(environ) / "sites" / f"{name}.toml").exists()
                or (state_dir(environ) / f"{name}.state.json").exists())
    except OSError:  # no home directory (NoHomeError), an unreadable directory
        return False


@dataclass(frozen=True)
class SitePaths:
    name: str
    config: Path
    state: Path
    lock: Path
    log: Path

    @classmethod
    def for_site(cls, name: str, config: Optional[Path] = None, environ: Mapping[str, str] = os.environ) -> "SitePaths":
        if config is not None:
            name = config.stem
        states = state_dir(environ)
        return cls(
            name=name,
            config=config if config is not None else config_dir(environ) / "sites" / f"{name}.toml",
            state=states / f"{name}.state.json",
            lock=states / f"{name}.lock",
            log=states / f"{name}.log",
        )


def keyring_file(environ: Mapping[str, str] = os.environ) -> Path:
    """The file-backed keyring used where no system keyring is available."""
    return state_dir(environ) / "keyring.json"
