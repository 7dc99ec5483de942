"""What the agent remembers about one site between runs, and the run lock.

The state file is JSON, owner-only, replaced atomically: a run killed at any
point leaves either the previous state or the new one. A failed push records
its error next to the last success; it never erases it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from igny8_agent.errors import ConfigError, LockBusy
from igny8_agent.files import FILE_MODE, ensure_private_dir, remove_stale_temp_files, write_atomic


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?\Z",
    re.IGNORECASE,
)


def parse_time(text: object) -> Optional[datetime]:
    """An ISO 8601 time with or without fractional seconds, ``Z`` or an offset
    (any Python version); None when it is not one."""
    m = _ISO.match(str(text or "").strip())
    if not m:
        return None
    year, month, day, hour, minute, sec, frac, zone = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tz = timezone.utc
        if zone and zone.upper() != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec or 0), micro, tz)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc)


@dataclass
class State:
    api_url: str = ""
    key_entry: str = ""  # the keyring entry holding the API key (never the key)
    account_email: str = ""
    account_name: str = ""
    site_id: Optional[int] = None
    site_url: str = ""
    integration_id: Optional[int] = None
    fingerprint: Dict[str, str] = field(default_factory=dict)
    connected_at: str = ""
    last_attempt: str = ""
    last_success: str = ""
    last_structure_fetch: str = ""  # the backend's time of the last push
    last_counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    last_error: Dict[str, Any] = field(default_factory=dict)  # at, message, status, temporary
    pushed_connection_enabled: Optional[bool] = None  # the switch as last sent

    @property
    def connected(self) -> bool:
        return bool(self.site_id and self.key_entry)

    def record_success(self, fetch_time: str, counts: Dict[str, Dict[str, int]], connection_enabled: bool) -> None:
        now = utc_now()
        self.last_attempt = self.last_success = now
        self.last_structure_fetch = fetch_time or now
        self.last_counts = counts
        self.last_error = {}
        self.pushed_connection_enabled = connection_enabled

    def record_failure(self, message: str, status: Optional[int], temporary: bool) -> None:
        self.last_attempt = utc_now()
        self.last_error = {"at": self.last_attempt, "message": message, "status": status, "temporary": temporary}


def load_state(path: Path) -> State:
    try:
        raw = path.read_text("utf-8")
    except FileNotFoundError:
        return State()
    except OSError as exc:
        raise ConfigError(f"cannot read the state file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {f.name for f in fields(State)}
        return State(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the state file {path} is damaged ({exc}); run `igny8-agent connect` again"
        ) from None


def save_state(path: Path, state: State) -> None:
    write_atomic(path, (json.dumps(asdict(state), indent=2, sort_keys=True) + "\n").encode("utf-8"))


class RunLock:
    """One run per site at a time: an exclusive ``flock`` on the site's lock file.

    The kernel drops the lock when the process dies, however it dies, so a
    killed run never blocks the next one.
    """

    def __init__(self, path: Path, wait: float = 0.0, also: Sequence[Path] = ()) -> None:
        """``also``: other files of the site (its config) whose leftover temp
        files are removed once the lock is taken, like the state's."""
        self.path = path
        self.wait = wait
        self.also = tuple(also)
        self._fd = -1

    def __enter__(self) -> "RunLock":
        ensure_private_dir(self.path.parent)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise ConfigError(f"cannot lock {self.path}: {exc.strerror}") from None
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(self._fd)
                    self._fd = -1
                    raise LockBusy(
                        f"another sync of this site is running{holder}; try again later or use --wait"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())
        # A run killed while writing may have left temp files; we own the site now.
        remove_stale_temp_files(self.path.parent, self.path.name.replace(".lock", ".state.json"))
        for other in self.also:
            remove_stale_temp_files(other.parent, other.name)
        return self

    def _holder(self) -> str:
        try:
            pid = os.pread(self._fd, 32, 0).decode().strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def __exit__(self, *exc_info: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock
            self._fd = -1
