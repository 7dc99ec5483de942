"""Where the API key is kept: the system keyring, or the agent's own key file.

The key is stored through ``keyring`` under the service ``igny8-agent``, one
entry per backend and site (``entry_name``). Which keyring backend is used:

1. ``IGNY8_KEYRING=file`` forces the agent's own file (useful for cron and tests).
2. If the operator configured keyring (``PYTHON_KEYRING_BACKEND`` is set, or a
   ``keyringrc.cfg`` exists in keyring's config root), ``keyring.get_keyring()``
   is honoured.
3. If a desktop session could be present (``DBUS_SESSION_BUS_ADDRESS`` is
   set), keyring's own discovery picks the backend.
4. Otherwise -- a headless server, cron -- the agent's own file is used.

When keyring resolves to nothing usable (its ``fail.Keyring``, or a chainer
with nothing to chain) the agent's own file is used as well. That is what the
one-file ``.pyz`` gets on Linux: it carries no SecretStorage (compiled
``cryptography``); ``backend_name`` says so (``pyz_keyring_note``).

Start-up cost: ``sync`` and ``status`` must start fast, and importing
``keyring`` alone costs tens of milliseconds (discovery, with its entry
points, more). Steps 1 and 4 decide from the environment and one file
existence check, and the headless path does not import ``keyring`` at all:
``KeyStore`` uses the key file directly. ``FileKeyring``, the same file
wrapped as a real ``keyring`` backend, is defined on first access to the name
(``from igny8_agent.keystore import FileKeyring`` works as usual), so only
code that wants a keyring backend pays for importing keyring.

Overrides: ``IGNY8_API_KEY``, then the systemd credential
``$CREDENTIALS_DIRECTORY/igny8-api-key``, take precedence over the stored key
(``key_override``).

The key never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from igny8_agent import paths
from igny8_agent.errors import ConfigError
from igny8_agent.keyfile import KeyFile

SERVICE = "igny8-agent"
CREDENTIAL_NAME = "igny8-api-key"
KEYRING_CHOICE_ENV = "IGNY8_KEYRING"
FILE_HINT = "set IGNY8_KEYRING=file to use the agent's own key file"



def entry_name(api_url: str, site_name: str) -> str:
    """The keyring entry ("username") for one site on one backend."""
    url = api_url.strip().rstrip("/")
    name = site_name.strip()
    if not url or not name:
        raise ValueError("entry_name needs both an API URL and a site name")
    return f"{name}@{url}"


def key_override(environ: Mapping[str, str] = os.environ) -> Optional[Tuple[str, str]]:
    """The key given from outside, as ``(key, source)``, or None.

    ``IGNY8_API_KEY`` first, then the systemd credential
    ``$CREDENTIALS_DIRECTORY/igny8-api-key`` (``LoadCredential=`` /
    ``SetCredential=`` in the unit). Surrounding whitespace and the trailing
    newline are stripped.
    """
    value = environ.get("IGNY8_API_KEY", "").strip()
    if value:
        return value, "IGNY8_API_KEY"
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / CREDENTIAL_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the systemd credential {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        raise ConfigError(f"the systemd credential {path} is not UTF-8 text")
    key = text.strip()
    if not key:
        raise ConfigError(f"the systemd credential {path} is empty")
    return key, "systemd credential"


# -- FileKeyring: the key file as a keyring backend, defined on first use ---


def __getattr__(name: str) -> Any:
    # PEP 562: ``FileKeyring`` subclasses keyring's KeyringBackend, so defining
    # it imports keyring; do that only when someone asks for it.
    if name == "FileKeyring":
        return _file_keyring_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _file_keyring_class() -> type:
    existing = globals().get("FileKeyring")
    if existing is not None:
        return existing

    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class FileKeyring(KeyringBackend):
        """A keyring backend storing JSON ``{service: {username: password}}``
        in the agent's key file (``paths.keyring_file()`` by default).

        The file is NOT encrypted: its protection is the file mode (0600, in a
        0700 directory owned by the agent's user), like ``~/.pgpass``. Writes
        are atomic and serialised with ``flock``. A corrupt or unreadable file
        raises ``ConfigError`` naming the file, never its content.
        """

        __qualname__ = "FileKeyring"
        priority = 0.5  # viable everywhere, below every recommended backend (>= 1)

        def __init__(self, path: Optional[Path] = None) -> None:
            super().__init__()
            self._file = KeyFile(Path(path) if path is not None else paths.keyring_file())

        @property
        def path(self) -> Path:
            return self._file.path

        def __repr__(self) -> str:
            return f"<FileKeyring {str(self.path)!r}>"

        def get_password(self, service: str, username: str) -> Optional[str]:
            return self._file.get(service, username)

        def set_password(self, service: str, username: str, password: str) -> None:
            self._file.set(service, username, password)

        def delete_password(self, service: str, username: str) -> None:
            if not self._file.delete(service, username):
                raise PasswordDeleteError("no such entry in the key file")

    globals()["FileKeyring"] = FileKeyring
    return FileKeyring


def _is_file_keyring(backend: object) -> bool:
    # No FileKeyring instance can exist before the class was defined.
    cls = globals().get("FileKeyring")
    return cls is not None and isinstance(backend, cls)


# -- choosing the backend ---------------------------------------------------


def _keyring_config_file(environ: Mapping[str, str]) -> Path:
    """keyring's ``keyringrc.cfg``, found without importing keyring.

    Mirrors ``keyring.util.platform_.config_root()`` on Linux and macOS (the
    XDG convention); a test pins the agreement.
    """
    base = environ.get("XDG_CONFIG_HOME") or str(paths.home(environ) or "~") + "/.config"
    return Path(base) / "python_keyring" / "keyringrc.cfg"


def _choose(environ: Mapping[str, str]) -> Any:
    """A ``KeyFile`` or a keyring backend, deciding as cheaply as possible."""
    choice = environ.get(KEYRING_CHOICE_ENV, "").strip().lower()
    if choice == "file":
        return KeyFile(paths.keyring_file(environ))
    if choice:
        raise ConfigError(f"{KEYRING_CHOICE_ENV} must be 'file' or unset")
    config_file = _keyring_config_file(environ)
    if "PYTHON_KEYRING_BACKEND" in environ:
        source = "PYTHON_KEYRING_BACKEND"
    elif config_file.is_file():
        source = str(config_file)
    elif environ.get("DBUS_SESSION_BUS_ADDRESS"):
        source = "keyring's discovery"
    else:
        return KeyFile(paths.keyring_file(environ))  # headless: keyring is never imported
    backend = _load_keyring(source)
    if _is_file_keyring(backend) or not _usable(backend):
        return KeyFile(paths.keyring_file(environ))
    return backend


def _load_keyring(source: str) -> Any:
    try:
        import keyring

        return keyring.get_keyring()
    except Exception as exc:  # a bad backend name, a broken plugin, a non-viable backend
        reason = _reason(exc)
    raise ConfigError(f"cannot load the keyring backend chosen by {source}: {reason}; {FILE_HINT}")


def _usable(backend: Any) -> bool:
    """False for keyring's "nothing available" answers."""
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(not _is_file_keyring(chained) for chained in backend.backends)
    return True


def pyz_keyring_note() -> str:
    """Why the one-file build keeps the key in the agent's file, or "".

    The .pyz carries pure Python only; on Linux the system keyring
    (SecretStorage) needs ``cryptography``, a compiled module, so unless the
    host's Python has SecretStorage itself, keyring finds no backend there
    and ``_choose`` falls back to the file."""
    import sys

    from igny8_agent.install import running_from_pyz

    if not running_from_pyz() or not sys.platform.startswith("linux"):
        return ""
    import importlib.util

    if importlib.util.find_spec("secretstorage") is not None:
        return ""
    return "the .pyz has no system keyring support: SecretStorage needs the compiled cryptography module"


def _reason(exc: BaseException, secret: Optional[str] = None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if secret:
        text = text.replace(secret, "<redacted>")
    return text[:200]


# -- the store the rest of the agent uses ---------------------------------


class KeyStore:
    """Get, set and delete the API key of one entry (see ``entry_name``)."""

    def __init__(self, backend: Any = None, environ: Mapping[str, str] = os.environ) -> None:
        """``backend``: a keyring backend instance; None chooses as the module
        docstring describes. Note that keyring itself always reads the
        process environment (``PYTHON_KEYRING_BACKEND``), not ``environ``."""
        chosen = _choose(environ) if backend is None else backend
        if _is_file_keyring(chosen):
            chosen = chosen._file
        self._file: Optional[KeyFile] = chosen if isinstance(chosen, KeyFile) else None
        self._backend: Any = None if self._file is not None else chosen

    def __repr__(self) -> str:
        return f"<KeyStore {self.backend_name}>"

    @property
    def backend_name(self) -> str:
        if self._file is not None:
            note = pyz_keyring_note()
            return f"file ({self._file.path}{'; ' + note if note else ''})"
        cls = type(self._backend)
        return f"{cls.__module__}.{cls.__qualname__}"

    @property
    def is_file_backend(self) -> bool:
        return self._file is not None

    def get(self, entry: str) -> Optional[str]:
        if self._file is not None:
            return self._file.get(SERVICE, entry)
        try:
            return self._backend.get_password(SERVICE, entry)
        except Exception as exc:
            reason = _reason(exc)
        raise self._error("read the API key from", reason)

    def set(self, entry: str, api_key: str) -> None:
        if not api_key:
            raise ValueError("refusing to store an empty API key")
        if self._file is not None:
            self._file.set(SERVICE, entry, api_key)
            return
        try:
            self._backend.set_password(SERVICE, entry, api_key)
            kept = self._backend.get_password(SERVICE, entry) == api_key
        except Exception as exc:
            reason = _reason(exc, secret=api_key)
        else:
            if kept:
                return
            reason = "the backend did not keep it"
        raise self._error("store the API key in", reason)

    def delete(self, entry: str) -> bool:
        """Remove the entry; True if there was one. A missing entry is fine."""
        if self._file is not None:
            return self._file.delete(SERVICE, entry)
        try:
            if self._backend.get_password(SERVICE, entry) is None:
                return False
            self._backend.delete_password(SERVICE, entry)
            return True
        except Exception as exc:
            reason = _reason(exc)
        raise self._error("remove the API key from", reason)

    def _error(self, action: str, reason: str) -> ConfigError:
        return ConfigError(f"cannot {action} {self.backend_name}: {reason}; {FILE_HINT}")
