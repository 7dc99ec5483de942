"""Where a WordPress site keeps the code that registers types: the content
directory, the mu-plugins folder and the themes, and how to read their files
safely.

The files belong to the site (often to the web server's user), so they are
only ever read, never run: a file is opened without following a symlink,
must be a regular file, and is read only up to a size limit.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Mapping, NamedTuple, Optional

MAX_FILE_BYTES = 1024 * 1024  # larger PHP or JSON files are skipped
SKIPPED_DIRS = frozenset({"vendor", "node_modules", ".git", ".svn"})


class ThemeDirs(NamedTuple):
    stylesheet: Optional[Path]  # the active theme (a child theme, if one is active)
    template: Optional[Path]  # its parent (the same directory when there is no child)

    def in_load_order(self) -> List[Path]:
        """Child first, then the parent, as WordPress loads functions.php."""
        dirs = [d for d in (self.stylesheet, self.template) if d is not None]
        return list(dict.fromkeys(dirs))


@dataclass(frozen=True)
class SiteFiles:
    root: Path
    content_dir: Path
    mu_plugin_dir: Path
    cache_dir: Optional[Path] = None  # where the code scan may keep its result

    @classmethod
    def of(cls, root: Path, constants: Mapping[str, object], cache_dir: Optional[Path] = None) -> "SiteFiles":
        """From the WordPress root and wp-config.php's constants
        (``WP_CONTENT_DIR``, ``WPMU_PLUGIN_DIR``), with WordPress's defaults."""
        content = _path_constant(constants, "WP_CONTENT_DIR") or root / "wp-content"
        mu = _path_constant(constants, "WPMU_PLUGIN_DIR") or content / "mu-plugins"
        return cls(root=root, content_dir=content, mu_plugin_dir=mu, cache_dir=cache_dir)

    def themes(self, stylesheet: str, template: str, stylesheet_root: str = "", template_root: str = "") -> ThemeDirs:
        """The directories of the ``stylesheet`` and ``template`` options.

        A theme root option is either absolute or relative to the content
        directory (``/themes``), as ``get_theme_root()`` reads it."""
        return ThemeDirs(
            self._theme_dir(stylesheet, stylesheet_root),
            self._theme_dir(template or stylesheet, template_root or stylesheet_root),
        )

    def _theme_dir(self, name: str, root_option: str) -> Optional[Path]:
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            return None
        roots = [self.content_dir / "themes"]
        if root_option:
            given = Path(root_option)
            roots.insert(0, given if given.is_absolute() and given.is_dir() else self.content_dir / root_option.lstrip("/"))
        for theme_root in roots:
            candidate = theme_root / name
            if candidate.is_dir():
                return candidate
        return None


def _path_constant(constants: Mapping[str, object], name: str) -> Optional[Path]:
    value = constants.get(name)
    if isinstance(value, str) and value.startswith("/"):
        return Path(value.rstrip("/") or "/")
    return None


def read_file(path: Path, limit: int = MAX_FILE_BYTES) -> Optional[bytes]:
    """The bytes of a regular file no larger than ``limit``, else None.
    A symlink, a FIFO or a device is never opened for reading."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def walk_files(top: Path, suffix: str, max_files: int = 5000) -> Iterator[Path]:
    """Files ending in ``suffix`` under ``top``, in a stable order, without
    following symlinked directories and skipping ``vendor/``,
    ``node_modules/`` and version-control folders."""
    count = 0
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS:
                        subdirs.append(Path(entry.path))
                elif entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
                    count += 1
                    if count > max_files:
                        return
                    yield Path(entry.path)
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def top_level_files(directory: Path, suffix: str) -> List[Path]:
    """Files ending in ``suffix`` directly in ``directory`` (as WordPress
    loads mu-plugins), sorted by name."""
    try:
        with os.scandir(directory) as it:
            return sorted(
                (Path(e.path) for e in it if e.name.endswith(suffix) and e.is_file(follow_symlinks=False)),
                key=lambda p: p.name,
            )
    except OSError:
        return []
