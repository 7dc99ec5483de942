"""Private files written so that a crash never leaves half of one.

Everything the agent writes is owner-only (files 0600, directories 0700),
replaced atomically: a temp file in the same directory (created with
``O_EXCL | O_NOFOLLOW``), fsync, rename, fsync of the directory. The
agent's own directories and the file replaced must pass ``trust``'s rule.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator, Optional

from igny8_agent import trust
from igny8_agent.errors import ConfigError

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"


def ensure_private_dir(path: Path, own: bool = True, what: str = "the agent's directory") -> None:
    """Create ``path`` 0700, and every missing parent 0700 too (``mkdir(parents=True)``
    would make those with the umask's mode, 0755); existing ones are left alone.

    ``own``: ``path`` is one of the agent's own directories (state, config,
    cache), so it must pass ``trust.check_dir`` -- not a directory the
    operator named with ``--config``."""
    try:
        missing = []
        current = path
        while not current.is_dir() and current.parent != current:
            missing.append(current)
            current = current.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=DIR_MODE)
            except FileExistsError:
                if not directory.is_dir():
                    raise
    except OSError as exc:
        raise ConfigError(f"cannot create directory {path}: {exc.strerror or exc}") from None
    if own:
        trust.check_dir(path, what)


def write_atomic(path: Path, data: bytes, own_dir: bool = True, what: str = "the file",
                 mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one.
    ``own_dir``: as ``ensure_private_dir``'s ``own``, for ``path``'s directory;
    ``mode``: the new file's (0600 unless another user must read it)."""
    import tempfile

    ensure_private_dir(path.parent, own=own_dir, what=f"the directory of {what}")
    trust.check_existing(path, what)  # never replace a link or another user's file
    fd = -1
    tmp = ""
    try:
        # The writer's pid is in the name: a leftover is removed only once its writer is gone.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = ""
        if _deferred is not None:
            with _deferred_lock:
                _deferred.add(path.parent)
        else:
            _fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def remove_stale_temp_files(directory: Path, name: str) -> None:
    """Delete temp files a killed run left behind for ``name``.

    A temp file whose writer (the pid in its name) is still running is being
    written right now and is left alone, so this is safe without a lock.
    """
    _remove_dead(directory, f".{name}.")


def sweep_stale_temp_files(directory: Path) -> None:
    """Delete the temp files killed runs left behind for any file of
    ``directory`` (once per directory in a run over many sites)."""
    _remove_dead(directory, ".")


def _remove_dead(directory: Path, prefix: str) -> None:
    try:
        with os.scandir(directory) as entries:
            leftovers = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for leftover in leftovers:
        # ".NAME.<pid>-<random>.tmp": the writer's pid is in the last part before the suffix
        if _writer_alive(leftover[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1]):
            continue
        try:
            os.unlink(directory / leftover)
        except OSError:
            pass


def _writer_alive(rest: str) -> bool:
    """Whether the process that named a temp file ``.NAME.<pid>-<random>.tmp`` still runs."""
    pid = rest.split("-", 1)[0]
    if "-" not in rest or not pid.isdigit() or int(pid) == os.getpid():
        return False  # an older name without a pid, or a previous process with our pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user
        return True
    return True


# A run over many sites writes hundreds of files into one directory: the
# directory's own fsync (which makes the renames durable) is done once at the
# end of the run instead of after every file. Each file is still written and
# fsynced in full before its rename, so a crash leaves every file whole.
_deferred: "Optional[set]" = None
_deferred_lock = threading.Lock()


@contextlib.contextmanager
def directory_syncs_deferred() -> Iterator[None]:
    global _deferred
    _deferred = set()
    try:
        yield
    finally:
        folders, _deferred = _deferred, None
        for folder in sorted(folders):
            _fsync_dir(folder)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
