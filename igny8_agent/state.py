"""What the agent remembers about one site between runs, and the run lock.

The state file is JSON, owner-only, replaced atomically: a run killed at any
point leaves either the previous state or the new one. A failed push records
its error next to the last success; it never erases it. Outcomes are ordered
by a counter kept in the state, never by their times: the clock may step.
The state directory, state file and lock must pass ``trust``'s rule.
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

from igny8_agent import trust
from igny8_agent.errors import ConfigError, LockBusy
from igny8_agent.files import FILE_MODE, ensure_private_dir, remove_stale_temp_files, write_atomic

STATE_FILE = "the state file"
LOCK_FILE = "the lock file"
MAX_STATE_BYTES = 4 * 1024 * 1024


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
    last_error: Dict[str, Any] = field(default_factory=dict)  # at, message, status, temporary, seq
    pushed_connection_enabled: Optional[bool] = None  # the switch as last sent
    seq: int = 0  # counts recorded outcomes: orders them whatever the clock said
    last_success_seq: int = 0  # ``seq`` of the last success (0: none, or an older file)

    @property
    def connected(self) -> bool:
        return bool(self.site_id and self.key_entry)

    def record_success(self, fetch_time: str, counts: Dict[str, Dict[str, int]], connection_enabled: bool) -> None:
        now = utc_now()
        self.seq += 1
        self.last_success_seq = self.seq
        self.last_attempt = self.last_success = now
        self.last_structure_fetch = fetch_time or now
        self.last_counts = counts
        self.last_error = {}
        self.pushed_connection_enabled = connection_enabled

    def record_failure(self, message: str, status: Optional[int], temporary: bool) -> None:
        self.seq += 1
        self.last_attempt = utc_now()
        self.last_error = {"at": self.last_attempt, "message": message, "status": status,
                           "temporary": temporary, "seq": self.seq}

    def last_outcome(self) -> Optional[str]:
        """"success", "error" or None: which was recorded last, by sequence
        number, never by comparing times (the clock may have stepped).

        A success clears the error, so in a file written before sequence
        numbers an error next to a success is the later of the two."""
        if self.last_error:
            error_seq = self.last_error.get("seq")
            if self.last_success and isinstance(error_seq, int) and self.last_success_seq > error_seq:
                return "success"
            return "error"
        return "success" if self.last_success else None


def load_state(path: Path) -> State:
    """The state in ``path`` (a fresh one when there is none). A damaged file,
    or one the rule of ``trust`` refuses, is a ConfigError naming it."""
    trust.check_dir(path.parent, "the state directory")
    raw = trust.read_file(path, STATE_FILE, MAX_STATE_BYTES)
    if raw is None:
        return State()
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return State(**{f.name: _checked(f.name, data[f.name]) for f in fields(State) if f.name in data})
    except RecursionError:
        reason = "nested too deeply"
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = " ".join(str(exc).split())[:120]
    raise ConfigError(f"the state file {path} is damaged ({reason}); remove it and run `igny8-agent connect` again")


_MAX_ID = 2 ** 63 - 1


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= _MAX_ID


def _is_counts(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(kind, dict) and all(isinstance(slug, str) and _is_int(n) for slug, n in kind.items())
        for kind in value.values()
    )


def _is_error(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kinds = {"at": str, "message": str, "temporary": bool}
    return all(isinstance(value[k], t) for k, t in kinds.items() if k in value) and all(
        value.get(k) is None or _is_int(value[k]) for k in ("status", "seq"))


_VALID = {
    "site_id": lambda v: v is None or _is_int(v, 1),
    "integration_id": lambda v: v is None or _is_int(v, 1),
    "fingerprint": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "last_counts": _is_counts,
    "last_error": _is_error,
    "pushed_connection_enabled": lambda v: v is None or isinstance(v, bool),
    "seq": _is_int,
    "last_success_seq": _is_int,
}


def _checked(name: str, value: Any) -> Any:
    """``value`` if it has the type the field ``name`` holds; else ValueError."""
    if not _VALID.get(name, lambda v: isinstance(v, str))(value):
        raise ValueError(f"{name} has an unexpected {type(value).__name__} value")
    return value


def save_state(path: Path, state: State) -> None:
    write_atomic(path, (json.dumps(asdict(state), indent=2, sort_keys=True) + "\n").encode("utf-8"), what=STATE_FILE)


class RunLock:
    """One run per site at a time: an exclusive ``flock`` on the site's lock file.

    The kernel drops the lock when the process dies, however it dies, so a
    killed run never blocks the next one.
    """

    def __init__(self, path: Path, wait: float = 0.0, also: Sequence[Path] = (), sweep: bool = True) -> None:
        """``also``: other files of the site (its config) whose leftover temp
        files are removed once the lock is taken, like the state's. Not with
        ``sweep`` false: a run over many sites sweeps each directory once."""
        self.path = path
        self.wait = wait
        self.also = tuple(also) if sweep else ()
        self.sweep = sweep
        self._fd = -1

    def __enter__(self) -> "RunLock":
        ensure_private_dir(self.path.parent, what="the state directory")
        self._fd = trust.open_file(self.path, os.O_RDWR | os.O_CREAT, LOCK_FILE, FILE_MODE)
        try:
            self._take()
        except BaseException:
            self.__exit__()
            raise
        # A run killed while writing may have left temp files; we own the site now.
        if self.sweep:
            remove_stale_temp_files(self.path.parent, self.path.name.replace(".lock", ".state.json"))
        for other in self.also:
            remove_stale_temp_files(other.parent, other.name)
        return self

    def _take(self) -> None:
        """Lock, then write our pid into the file (for the "is running" message)."""
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise ConfigError(f"cannot lock {self.path}: {exc.strerror}") from None
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"another sync of this site is running{self._holder()}; try again later or use --wait"
                    ) from None
                time.sleep(0.05)
        try:
            if os.fstat(self._fd).st_nlink != 1:  # a hard link to another file: never truncate that
                raise ConfigError(f"refusing {LOCK_FILE} {self.path}: it has other hard links; remove it and run again")
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, str(os.getpid()).encode(), 0)
        except OSError as exc:  # a full disk, a quota
            raise ConfigError(f"cannot write {LOCK_FILE} {self.path}: {exc.strerror or exc}") from None

    def _holder(self) -> str:
        try:
            pid = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def __exit__(self, *exc_info: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock
            self._fd = -1


def shares_key(state_dir: Path, entry: str, besides: Path) -> bool:
    """Whether a site other than ``besides`` (a state file) uses key ``entry``:
    a network's subsites share the one key, which stays until the last goes."""
    try:
        others = [p for p in state_dir.glob("*.state.json") if p != besides]
    except OSError:
        return False
    for other in others:
        try:
            if load_state(other).key_entry == entry:
                return True
        except ConfigError:  # a damaged state file names no key it could keep
            continue
    return False
