"""Finding the WordPress installs on a host, for an operator's loop over them.

The walk reads directory listings and a few small files, nothing else: no
database, no network, no writes. It is bounded three ways: ``max_depth``
directories below each root, a ``timeout`` after which it stops and says it
was cut short, and a set of directories already seen (a bind mount looping
back cannot make it go round). Symbolic links to directories are never
followed below a root, so a planted link loop or a link out of the tree
changes nothing; a default root that is itself a link (``/var/www ->
/data/www``) is followed only when every link on its way belongs to root.

A WordPress install is a directory with WordPress's core files whose
``wp-config.php`` is in it or one level above (found as ``--path`` finds
it). Inside an install the walk goes on -- cPanel puts addon domains in
``public_html/example.org`` -- but not into ``wp-admin``, ``wp-includes`` or
``wp-content``. Hidden directories, ``node_modules``, ``vendor`` and
version-control folders are never entered.

"Connected" is what the agent running the walk knows: a config in its config
directory (``sites/*.toml``) whose WordPress path is the install, or the
state file ``--path`` would use for it, with a backend site and a key.
"""

from __future__ import annotations

import glob
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from igny8_agent import paths, trust
from igny8_agent.errors import ConfigError
from igny8_agent.sitefiles import SKIPPED_DIRS as CODE_SKIPPED_DIRS
from igny8_agent.webroots import DEFAULT_MAX_DEPTH, DEFAULT_ROOTS, DEFAULT_TIMEOUT

SKIPPED_DIRS = CODE_SKIPPED_DIRS | {".hg", "__pycache__"}
CORE_DIRS = frozenset({"wp-admin", "wp-includes", "wp-content"})  # not walked inside an install
CORE_MARKERS = frozenset({"wp-settings.php", "wp-load.php"})  # what wpconfig.find_wordpress looks for


@dataclass
class Connection:
    """One config (or state file) of the agent's for an install."""

    name: str
    config: str
    state: str
    url: str = ""
    connected: bool = False
    site_id: Optional[int] = None
    site_url: str = ""
    api_url: str = ""
    problem: str = ""  # why the state could not be read

    def as_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Install:
    path: Path
    wp_config: Path
    version: Optional[str] = None
    multisite: Optional[bool] = None  # None: cannot be told without running PHP
    owner: str = ""
    connections: List[Connection] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return any(c.connected for c in self.connections)

    def as_dict(self) -> Dict[str, object]:
        return {
            "path": str(self.path),
            "wp_config": str(self.wp_config),
            "version": self.version,
            "multisite": self.multisite,
            "owner": self.owner,
            "connected": self.connected,
            "sites": [c.as_dict() for c in self.connections],
        }


@dataclass
class Discovery:
    roots: List[str] = field(default_factory=list)  # the roots walked
    installs: List[Install] = field(default_factory=list)
    unreadable_dirs: int = 0  # could not be listed: skipped
    beyond_max_depth: int = 0  # directories not entered because of max_depth
    without_config: int = 0  # WordPress core without a wp-config.php
    cut_short: bool = False  # the timeout stopped the walk
    seconds: float = 0.0
    warnings: List[str] = field(default_factory=list)

    @property
    def connected(self) -> int:
        return sum(1 for i in self.installs if i.connected)

    def as_dict(self) -> Dict[str, object]:
        return {
            "installs": [i.as_dict() for i in self.installs],
            "roots": list(self.roots),
            "summary": {
                "installs": len(self.installs),
                "connected": self.connected,
                "unreadable_dirs": self.unreadable_dirs,
                "beyond_max_depth": self.beyond_max_depth,
                "without_wp_config": self.without_config,
                "cut_short": self.cut_short,
                "seconds": round(self.seconds, 3),
            },
            "warnings": list(self.warnings),
        }


# -- roots -----------------------------------------------------------------------


def expand_roots(patterns: Sequence[str] = DEFAULT_ROOTS) -> List[str]:
    """The existing directories the patterns name, globs expanded, in order.

    A path reached through a symbolic link someone other than root owns (a
    link a user planted in their home) is left out."""
    found: List[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]:
            if os.path.isdir(path) and _links_owned_by_root(path) and path not in found:
                found.append(path)
    return found


def _links_owned_by_root(path: str) -> bool:
    current = "/"
    for part in Path(os.path.abspath(path)).parts[1:]:
        current = os.path.join(current, part)
        try:
            info = os.lstat(current)
        except OSError:
            return False
        if stat.S_ISLNK(info.st_mode) and info.st_uid != 0:
            return False
    return True


def check_roots(roots: Sequence[str]) -> List[str]:
    """Roots named by the operator: each must be a directory (a typo in a
    loop's script must not look like a host without WordPress)."""
    for root in roots:
        if not os.path.isdir(root):
            reason = "does not exist" if not os.path.lexists(root) else "is not a directory"
            raise ConfigError(f"{root} {reason}; give directories to search, or none for the usual places")
    return [os.path.abspath(r) for r in roots]


# -- the walk --------------------------------------------------------------------


def discover(roots: Optional[Sequence[str]] = None, max_depth: int = DEFAULT_MAX_DEPTH,
             timeout: float = DEFAULT_TIMEOUT, environ: Mapping[str, str] = os.environ,
             clock: Callable[[], float] = time.monotonic) -> Discovery:
    """Walk ``roots`` (default: the usual places that exist) for installs."""
    started = clock()
    deadline = started + timeout
    result = Discovery(roots=check_roots(roots) if roots else expand_roots())
    known = _configured_sites(environ, result.warnings)
    seen_dirs: set = set()
    seen_installs: set = set()
    for root in result.roots:
        if not _walk(root, max_depth, deadline, clock, result, seen_dirs, seen_installs, known, environ):
            result.cut_short = True
            break
    result.seconds = clock() - started
    return result


def _walk(root: str, max_depth: int, deadline: float, clock: Callable[[], float], result: Discovery,
          seen_dirs: set, seen_installs: set, known: Dict[str, List[Connection]],
          environ: Mapping[str, str]) -> bool:
    """Walk one root depth first, in name order; False when time ran out."""
    stack: List[Tuple[str, int]] = [(root, 0)]
    while stack:
        if clock() >= deadline:
            return False
        directory, depth = stack.pop()
        entries = _list(directory, follow=depth == 0, seen=seen_dirs)
        if entries is None:
            result.unreadable_dirs += 1
            continue
        inside = False
        if any(name in CORE_MARKERS for name, _ in entries):
            inside = _found(directory, result, seen_installs, known, environ)
        subdirs = []
        for name, is_dir in entries:
            if not is_dir or name.startswith(".") or name in SKIPPED_DIRS or (inside and name in CORE_DIRS):
                continue
            if depth + 1 > max_depth:
                result.beyond_max_depth += 1
            else:
                subdirs.append((os.path.join(directory, name), depth + 1))
        stack.extend(reversed(subdirs))
    return True


def _list(directory: str, follow: bool, seen: set) -> Optional[List[Tuple[str, bool]]]:
    """(name, is a directory and not a link) for each entry of ``directory``,
    by name; [] when it was listed before, None when it cannot be. Opened
    without following a link (unless it is a root): what is listed is what
    was checked."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(directory, flags if follow else flags | trust.NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) in seen:
            return []
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(fd) as it:
            return sorted((e.name, _is_dir(e)) for e in it)
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_dir(entry: "os.DirEntry") -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _found(directory: str, result: Discovery, seen: set, known: Dict[str, List[Connection]],
           environ: Mapping[str, str]) -> bool:
    """Record the install at ``directory`` if it is one; whether it holds WordPress's core."""
    from igny8_agent.wpconfig import _is_wordpress_root, find_wordpress

    if not _is_wordpress_root(Path(directory)):
        return False
    try:  # a WordPress root: finds its wp-config.php here or one level up, never further
        root, config = find_wordpress(Path(directory))
    except ConfigError:
        result.without_config += 1
        return True
    if str(root) in seen:
        return True
    seen.add(str(root))
    result.installs.append(describe(root, config, known, environ))
    return True


def describe(root: Path, config: Path, known: Dict[str, List[Connection]],
             environ: Mapping[str, str] = os.environ) -> Install:
    """What can be told of one install from its files and the agent's own."""
    from igny8_agent.wpconfig import read_wp_config

    install = Install(path=root, wp_config=config, version=wordpress_version(root))
    try:
        install.owner = trust.user_name(os.stat(root).st_uid)
    except OSError:
        pass
    constants: Optional[Mapping[str, object]] = None
    try:
        wpconfig = read_wp_config(config, environ, root=root)
    except ConfigError:
        wpconfig = None
    if wpconfig is not None:
        constants = wpconfig.constants
        try:
            install.multisite = bool(wpconfig.get("MULTISITE", "", False))
        except ConfigError:  # set where it cannot be read statically
            install.multisite = None
    install.connections = list(known.get(str(root), []))
    default = _default_connection(root, constants, environ)
    if default is not None and all(c.config != default.config for c in install.connections):
        install.connections.insert(0, default)
    return install


def wordpress_version(root: Path) -> Optional[str]:
    """``$wp_version`` from ``wp-includes/version.php``, read as wp-config.php
    is (never run; a link, a FIFO or a file over 1 MiB is not read)."""
    from igny8_agent.phpvalues import Unknown
    from igny8_agent.sitefiles import read_file
    from igny8_agent.wpconfig_eval import Walker

    path = root / "wp-includes" / "version.php"
    raw = read_file(path)
    if raw is None:
        return None
    try:
        walker = Walker(path, {}, real=str(path), abspath=Unknown(), area=None)  # area None: includes not followed
        walker.walk(raw.decode("utf-8", "replace"))
    except (ConfigError, RecursionError):
        return None
    version = walker.vars.get("wp_version")
    return version if isinstance(version, str) and 0 < len(version) <= 40 else None


# -- the agent's own files -------------------------------------------------------


def _configured_sites(environ: Mapping[str, str], warnings: List[str]) -> Dict[str, List[Connection]]:
    """The configs in the agent's config directory, by the install they name."""
    from igny8_agent.settings import load_settings
    from igny8_agent.wpconfig import find_wordpress

    sites_dir = paths.config_dir(environ) / "sites"
    try:
        with os.scandir(sites_dir) as it:
            files = sorted(e.name for e in it if e.name.endswith(".toml") and e.is_file(follow_symlinks=False))
    except OSError:  # none yet, unreadable, or no home directory
        return {}
    found: Dict[str, List[Connection]] = {}
    for file_name in files:
        config = sites_dir / file_name
        try:
            settings = load_settings(config)
        except ConfigError as exc:
            warnings.append(str(exc))
            continue
        if not settings.wordpress_path:
            continue
        try:  # as --config finds the install: walking up from the configured path
            root = str(find_wordpress(Path(settings.wordpress_path))[0])
        except (ConfigError, OSError):
            continue
        site_paths = paths.SitePaths.for_site(config.stem, config=config, environ=environ)
        found.setdefault(root, []).append(_connection(site_paths, settings.url, settings.api_url))
    return found


def _default_connection(root: Path, constants: Optional[Mapping[str, object]],
                        environ: Mapping[str, str]) -> Optional[Connection]:
    """The config and state ``--path ROOT`` would use, if either exists."""
    try:
        name = paths.site_name(root, None, constants, environ)
        site_paths = paths.SitePaths.for_site(name, environ=environ)
        if not (site_paths.config.exists() or site_paths.state.exists()):
            return None
    except OSError:
        return None
    return _connection(site_paths, "", "")


def _connection(site_paths: "paths.SitePaths", url: str, api_url: str) -> Connection:
    from igny8_agent.state import load_state

    found = Connection(name=site_paths.name, config=str(site_paths.config), state=str(site_paths.state),
                       url=url, api_url=api_url)
    try:
        state = load_state(site_paths.state)
    except (ConfigError, OSError) as exc:
        found.problem = str(exc)
        return found
    found.connected = state.connected
    if state.connected:
        found.site_id, found.site_url = state.site_id, state.site_url
        found.api_url = state.api_url or api_url
    return found
