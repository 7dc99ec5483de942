"""Where the agent keeps a site's config, state, lock and key file.

As root: ``/etc/igny8-agent`` and ``/var/lib/igny8-agent``; as a normal user:
the XDG config and state directories. ``IGNY8_CONFIG_DIR`` /
``IGNY8_STATE_DIR`` override both, and ``--config FILE`` names a site's
config directly. Every site on a host gets its own files, named after the
config file's stem (its "site name").
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("IGNY8_CONFIG_DIR"):
        return Path(environ["IGNY8_CONFIG_DIR"])
    if os.geteuid() == 0:
        return Path("/etc/igny8-agent")
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "igny8-agent"


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("IGNY8_STATE_DIR"):
        return Path(environ["IGNY8_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/igny8-agent")
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "igny8-agent"


def site_name(wordpress_root: Path, url: Optional[str] = None) -> str:
    """A stable, readable file name for one site: ``var-www-shop-1a2b3c4d``."""
    ident = str(wordpress_root.resolve()) + ("|" + url if url else "")
    readable = re.sub(r"[^A-Za-z0-9]+", "-", str(wordpress_root.resolve())).strip("-")[-40:] or "root"
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


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
