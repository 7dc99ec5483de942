"""The agent's own key file: JSON ``{service: {entry: key}}`` in one
owner-only file, written atomically and serialised with ``flock``; used by
:mod:`igny8_agent.keystore` directly and as the ``FileKeyring`` backend."""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional

from igny8_agent import trust
from igny8_agent.errors import ConfigError
from igny8_agent.files import DIR_MODE, FILE_MODE, ensure_private_dir, remove_stale_temp_files, write_atomic

LOCK_SUFFIX = ".lock"
KEY_FILE = "the key file"
MAX_KEY_FILE_BYTES = 4 * 1024 * 1024

_Entries = Dict[str, Dict[str, str]]

class KeyFile:
    """JSON ``{service: {entry: key}}`` in one owner-only file.

    Not encrypted: the file mode is the protection (0600 in a 0700 directory
    owned by the agent's user), as with ``~/.pgpass``; the file, its lock and
    its directory must pass ``trust``'s rule on every read. Replaced atomically,
    so a killed process leaves the old file or the new one, never an empty
    or half-written one; writers take an ``flock`` on a sidecar lock file
    around read-modify-write, so concurrent writers never lose an entry.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + LOCK_SUFFIX)

    def __repr__(self) -> str:
        return f"_KeyFile({str(self.path)!r})"

    def get(self, service: str, username: str) -> Optional[str]:
        # No lock needed: the file is only ever replaced whole.
        return self._load().get(service, {}).get(username)

    def set(self, service: str, username: str, password: str) -> None:
        def put(entries: _Entries) -> bool:
            entries.setdefault(service, {})[username] = password
            return True

        self._update(put)

    def delete(self, service: str, username: str) -> bool:
        def remove(entries: _Entries) -> bool:
            users = entries.get(service, {})
            if username not in users:
                return False
            del users[username]
            if not users:
                del entries[service]
            return True

        return self._update(remove)

    def _update(self, change: Callable[[_Entries], bool]) -> bool:
        with self._locked():
            remove_stale_temp_files(self.path.parent, self.path.name)
            entries = self._load()
            changed = change(entries)
            if changed:
                text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
                write_atomic(self.path, text.encode("utf-8"), what=KEY_FILE)
            return changed

    def _load(self) -> _Entries:
        trust.check_dir(self.path.parent, "the key file's directory")
        raw = trust.read_file(self.path, KEY_FILE, MAX_KEY_FILE_BYTES)
        if raw is None:
            return {}
        entries = parse_entries(raw)
        # Raised outside any ``except`` so no chained exception carries the content.
        if entries is None:
            raise ConfigError(
                f"the key file {self.path} is corrupt (expected JSON {{service: {{entry: key}}}}); "
                "remove it and run `igny8-agent connect` again"
            )
        return entries

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._prepare_dir()
        fd = trust.open_file(self.lock_path, os.O_RDWR | os.O_CREAT, "the key file's lock", FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise ConfigError(f"cannot lock {self.lock_path}: {exc.strerror or type(exc).__name__}") from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def _prepare_dir(self) -> None:
        """Create the directory 0700 (``ensure_private_dir`` refuses one another
        user controls) and take read access away from others."""
        directory = self.path.parent
        ensure_private_dir(directory, what="the key file's directory")
        try:
            info = os.lstat(directory)
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                os.chmod(directory, DIR_MODE)
        except OSError as exc:
            raise ConfigError(f"cannot secure directory {directory}: {exc.strerror or type(exc).__name__}") from None


def parse_entries(raw: bytes) -> Optional[_Entries]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # ValueError covers UnicodeDecodeError, JSONDecodeError
        return None
    if not isinstance(data, dict):
        return None
    for users in data.values():
        if not isinstance(users, dict):
            return None
        if not all(isinstance(user, str) and isinstance(key, str) for user, key in users.items()):
            return None
    return data
