"""Tests for igny8_agent.keystore: the agent's key file, the choice of
keyring backend, the IGNY8_API_KEY / systemd credential overrides, and that
the key never shows up in a message."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError
from keyring.util import platform_

from igny8_agent import keystore
from igny8_agent.errors import ConfigError
from igny8_agent.keystore import SERVICE, FileKeyring, KeyStore, entry_name, key_override

API = "https://api.igny8.com"
KEY = "igny8_Sup3r-Secret_key-value_0123456789"
OTHER_KEY = "igny8_another-Secret_key_9876543210"


class MemoryKeyring(KeyringBackend):
    """A test backend an operator could name in PYTHON_KEYRING_BACKEND.

    Priority below null's, so keyring's own discovery never picks it."""

    priority = -2
    store: Dict[Tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> Optional[str]:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class LockedKeyring(KeyringBackend):
    """Fails every call the way a locked desktop keyring does, echoing its input."""

    priority = -2

    def get_password(self, service: str, username: str) -> Optional[str]:
        raise KeyringLocked(f"collection is locked\n(asked for {username})")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"failed to unlock the collection while storing {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError("cannot delete")


class ExistingEntryLockedKeyring(LockedKeyring):
    def get_password(self, service: str, username: str) -> Optional[str]:
        return KEY


MEMORY_BACKEND = f"{__name__}.MemoryKeyring"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean, headless environment with its state under tmp_path."""
    state = tmp_path / "state"
    monkeypatch.setenv("IGNY8_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND", "IGNY8_KEYRING",
                 "IGNY8_API_KEY", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # forget keyring's cached choice
    MemoryKeyring.store = {}
    return state


def key_file(state: Path) -> Path:
    return state / "keyring.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- entry names -------------------------------------------------------------


def test_entry_name_is_site_at_api_url_without_trailing_slash() -> None:
    assert entry_name(API + "/", "var-www-shop-1a2b3c4d") == "var-www-shop-1a2b3c4d@https://api.igny8.com"


def test_entry_name_rejects_an_empty_part() -> None:
    with pytest.raises(ValueError):
        entry_name("", "site")
    with pytest.raises(ValueError):
        entry_name(API, " ")


# -- the key file --------------------------------------------------------------


def test_file_keyring_round_trip_in_the_state_directory(state_dir: Path) -> None:
    backend = FileKeyring()
    assert backend.path == key_file(state_dir)
    assert backend.get_password(SERVICE, "shop@" + API) is None
    backend.set_password(SERVICE, "shop@" + API, KEY)
    assert FileKeyring().get_password(SERVICE, "shop@" + API) == KEY
    assert json.loads(key_file(state_dir).read_text()) == {SERVICE: {"shop@" + API: KEY}}


def test_file_keyring_is_a_viable_low_priority_keyring_backend() -> None:
    assert issubclass(FileKeyring, KeyringBackend)
    assert FileKeyring.viable
    assert 0 < FileKeyring.priority < 1
    assert FileKeyring.__module__ == "igny8_agent.keystore"
    assert FileKeyring.__qualname__ == "FileKeyring"


def test_file_keyring_takes_an_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "keys.json"
    FileKeyring(path).set_password(SERVICE, "shop", KEY)
    assert FileKeyring(path).get_password(SERVICE, "shop") == KEY


def test_key_file_is_0600_in_a_0700_directory_after_every_write(state_dir: Path) -> None:
    store = KeyStore()
    store.set("shop@" + API, KEY)
    assert mode(key_file(state_dir)) == 0o600
    assert mode(state_dir) == 0o700
    store.set("shop@" + API, OTHER_KEY)
    assert mode(key_file(state_dir)) == 0o600
    assert mode(state_dir) == 0o700
    assert mode(state_dir / "keyring.json.lock") == 0o600
    assert store.get("shop@" + API) == OTHER_KEY


def test_a_loose_state_directory_is_tightened_to_0700(state_dir: Path) -> None:
    state_dir.mkdir()
    os.chmod(state_dir, 0o755)
    KeyStore().set("shop@" + API, KEY)
    assert mode(state_dir) == 0o700


def test_entries_of_several_sites_coexist(state_dir: Path) -> None:
    store = KeyStore()
    entries = {entry_name(API, f"site-{n}"): f"igny8_key_{n}" for n in range(5)}
    entries[entry_name("https://staging.igny8.com", "site-0")] = "igny8_staging"
    for entry, key in entries.items():
        store.set(entry, key)
    FileKeyring().set_password("another-service", "site-0", "unrelated")
    reread = KeyStore()
    for entry, key in entries.items():
        assert reread.get(entry) == key
    assert FileKeyring().get_password("another-service", "site-0") == "unrelated"


def test_delete_removes_only_that_entry_and_says_whether_it_existed(state_dir: Path) -> None:
    store = KeyStore()
    store.set("a@" + API, KEY)
    store.set("b@" + API, OTHER_KEY)
    assert store.delete("a@" + API) is True
    assert store.get("a@" + API) is None
    assert store.get("b@" + API) == OTHER_KEY
    assert store.delete("a@" + API) is False
    assert store.delete("b@" + API) is True
    assert json.loads(key_file(state_dir).read_text()) == {}


def test_delete_without_a_key_file_is_not_an_error(state_dir: Path) -> None:
    assert KeyStore().delete("nothing@" + API) is False


def test_file_keyring_delete_of_a_missing_entry_raises_password_delete_error(state_dir: Path) -> None:
    with pytest.raises(PasswordDeleteError):
        FileKeyring().delete_password(SERVICE, "missing")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json " + KEY.encode(),
        b'{"igny8-agent": "' + KEY.encode() + b'"',
        b'{"igny8-agent": "' + KEY.encode() + b'"}',
        b'["' + KEY.encode() + b'"]',
        b'{"igny8-agent": {"shop": 42}}',
        b"\xff\xfe" + KEY.encode(),
        b"[" * 100000,
    ],
    ids=["empty", "text", "truncated", "service-not-object", "list", "key-not-string", "not-utf8", "deeply-nested"],
)
def test_corrupt_key_file_is_a_config_error_naming_the_file_not_its_content(state_dir: Path, content: bytes) -> None:
    state_dir.mkdir(mode=0o700)
    key_file(state_dir).write_bytes(content)
    for action in (lambda: KeyStore().get("shop"), lambda: KeyStore().set("shop", OTHER_KEY)):
        with pytest.raises(ConfigError) as caught:
            action()
        message = str(caught.value)
        assert str(key_file(state_dir)) in message
        assert "\n" not in message
        assert KEY not in message and "igny8_" not in message
        assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert key_file(state_dir).read_bytes() == content  # a failed set leaves the file alone


def test_unreadable_key_file_is_a_config_error_naming_the_file(state_dir: Path) -> None:
    key_file(state_dir).mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(ConfigError, match="cannot read .*keyring.json"):
        KeyStore().get("shop")


def test_failed_write_leaves_the_previous_file_whole(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore()
    store.set("shop", KEY)
    before = key_file(state_dir).read_bytes()

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(ConfigError, match="cannot write"):
        store.set("other", OTHER_KEY)
    assert key_file(state_dir).read_bytes() == before
    assert sorted(p.name for p in state_dir.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_writer_killed_mid_write_never_leaves_an_empty_or_partial_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = dict(os.environ, IGNY8_STATE_DIR=str(state), IGNY8_KEYRING="file")
    script = textwrap.dedent(
        """
        import sys
        from igny8_agent.keystore import KeyStore
        store = KeyStore()
        store.set("first", "igny8_first")
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            store.set("bulk-%d" % (n % 5), "igny8_" + "x" * 500000)
        """
    )
    for delay in (0.05, 0.15, 0.3):
        child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        entries = json.loads(key_file(state).read_text())[SERVICE]
        assert entries["first"] == "igny8_first"
    KeyStore(environ={"IGNY8_KEYRING": "file", "IGNY8_STATE_DIR": str(state)}).set("after", "igny8_after")
    assert not list(state.glob(".keyring.json.*.tmp"))  # the next writer removes what a kill left


def _write_many(state: str, site: str, count: int, start: "multiprocessing.synchronize.Event") -> None:
    store = KeyStore(environ={"IGNY8_KEYRING": "file", "IGNY8_STATE_DIR": state})
    start.wait()
    for n in range(count):
        store.set(entry_name(API, site), f"igny8_{site}_{n}")


def test_concurrent_writers_never_lose_an_entry(state_dir: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    sites = [f"site-{n}" for n in range(8)]
    workers = [context.Process(target=_write_many, args=(str(state_dir), site, 20, start)) for site in sites]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    store = KeyStore()
    for site in sites:
        assert store.get(entry_name(API, site)) == f"igny8_{site}_19"


# -- choosing the backend ------------------------------------------------------


def test_headless_environment_uses_the_key_file(state_dir: Path) -> None:
    store = KeyStore()
    assert store.is_file_backend
    assert store.backend_name == f"file ({key_file(state_dir)})"


def test_headless_path_never_imports_keyring(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from igny8_agent.keystore import KeyStore
        store = KeyStore()
        store.set("shop", "igny8_abc")
        assert store.get("shop") == "igny8_abc" and store.is_file_backend
        print(sorted(m for m in sys.modules if m == "keyring" or m.startswith(("keyring.", "jaraco"))))
        """
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND", "IGNY8_KEYRING")}
    env.update(IGNY8_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_igny8_keyring_file_forces_the_key_file_over_any_keyring_choice(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IGNY8_KEYRING", "file")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", MEMORY_BACKEND)
    store = KeyStore()
    assert store.is_file_backend
    store.set("shop", KEY)
    assert MemoryKeyring.store == {}


def test_unknown_igny8_keyring_value_is_a_config_error(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNY8_KEYRING", "vault")
    with pytest.raises(ConfigError, match="IGNY8_KEYRING"):
        KeyStore()


def test_python_keyring_backend_null_is_honoured_and_a_discarded_key_is_an_error(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    store = KeyStore()
    assert not store.is_file_backend
    assert store.backend_name == "keyring.backends.null.Keyring"
    assert store.get("shop") is None
    assert store.delete("shop") is False
    with pytest.raises(ConfigError, match="did not keep it") as caught:
        store.set("shop", KEY)
    assert KEY not in str(caught.value)
    assert not key_file(state_dir).exists()


def test_python_keyring_backend_naming_a_test_backend_is_honoured(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", MEMORY_BACKEND)
    store = KeyStore()
    assert store.backend_name == MEMORY_BACKEND
    store.set("shop", KEY)
    assert MemoryKeyring.store == {(SERVICE, "shop"): KEY}
    assert store.get("shop") == KEY
    assert store.delete("shop") is True
    assert store.delete("shop") is False
    assert not key_file(state_dir).exists()


def test_python_keyring_backend_may_name_file_keyring(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "igny8_agent.keystore.FileKeyring")
    store = KeyStore()
    assert store.is_file_backend
    assert store.backend_name == f"file ({key_file(state_dir)})"


def test_keyringrc_cfg_in_keyrings_config_root_is_honoured(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config" / "python_keyring" / "keyringrc.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(f"[backend]\ndefault-keyring={MEMORY_BACKEND}\n")
    store = KeyStore()
    assert store.backend_name == MEMORY_BACKEND
    store.set("shop", KEY)
    assert MemoryKeyring.store == {(SERVICE, "shop"): KEY}


def test_keyringrc_cfg_location_agrees_with_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    expected = platform_.config_root() / "keyringrc.cfg"
    assert keystore._keyring_config_file(os.environ) == expected
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert keystore._keyring_config_file(os.environ) == platform_.config_root() / "keyringrc.cfg"


def test_unloadable_python_keyring_backend_is_a_config_error(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    with pytest.raises(ConfigError, match="PYTHON_KEYRING_BACKEND.*IGNY8_KEYRING=file"):
        KeyStore()


def test_desktop_session_uses_keyrings_discovery(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
    monkeypatch.setattr(keyring, "get_keyring", MemoryKeyring)
    store = KeyStore()
    assert store.backend_name == MEMORY_BACKEND
    store.set("shop", KEY)
    assert MemoryKeyring.store == {(SERVICE, "shop"): KEY}


def _empty_chainer(monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    return chainer.ChainerBackend()


def _chainer_of_only_file_keyring(monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [FileKeyring()])
    return chainer.ChainerBackend()


@pytest.mark.parametrize(
    "discovered",
    [lambda mp: fail.Keyring(), _empty_chainer, _chainer_of_only_file_keyring, lambda mp: FileKeyring()],
    ids=["fail-keyring", "empty-chainer", "chainer-of-file-keyring", "file-keyring"],
)
def test_desktop_session_without_a_usable_keyring_falls_back_to_the_key_file(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, discovered
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
    backend = discovered(monkeypatch)
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    store = KeyStore()
    assert store.is_file_backend
    assert store.backend_name == f"file ({key_file(state_dir)})"


def test_explicit_backend_is_used_as_given(state_dir: Path, tmp_path: Path) -> None:
    assert KeyStore(backend=null.Keyring()).backend_name == "keyring.backends.null.Keyring"
    store = KeyStore(backend=FileKeyring(tmp_path / "keys.json"))
    assert store.is_file_backend
    assert store.backend_name == f"file ({tmp_path / 'keys.json'})"


# -- errors never carry the key -------------------------------------------------


def test_keyring_errors_become_one_line_config_errors_without_the_key(state_dir: Path) -> None:
    store = KeyStore(backend=LockedKeyring())
    with pytest.raises(ConfigError) as caught:
        store.set("shop", KEY)
    message = str(caught.value)
    assert message.startswith(f"cannot store the API key in {__name__}.LockedKeyring: ")
    assert message.endswith("; set IGNY8_KEYRING=file to use the agent's own key file")
    assert KEY not in message and "<redacted>" in message
    assert "\n" not in message
    assert caught.value.__context__ is None
    with pytest.raises(ConfigError, match=r"^cannot read the API key from .*collection is locked \(asked"):
        store.get("shop")


def test_password_delete_error_becomes_a_config_error(state_dir: Path) -> None:
    with pytest.raises(ConfigError, match="^cannot remove the API key from .*cannot delete; set IGNY8_KEYRING=file"):
        KeyStore(backend=ExistingEntryLockedKeyring()).delete("shop")


def test_key_never_appears_in_reprs(state_dir: Path) -> None:
    for store in (KeyStore(), KeyStore(backend=MemoryKeyring())):
        store.set("shop", KEY)
        assert KEY not in repr(store) and KEY not in store.backend_name
    backend = FileKeyring()
    assert KEY not in repr(backend) and KEY not in str(backend)


def test_empty_key_is_refused(state_dir: Path) -> None:
    with pytest.raises(ValueError):
        KeyStore().set("shop", "")


# -- overrides ------------------------------------------------------------------


def credentials(tmp_path: Path, content: bytes) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir(exist_ok=True)
    (directory / "igny8-api-key").write_bytes(content)
    return directory


def test_no_override_without_env_or_credential(tmp_path: Path) -> None:
    assert key_override({}) is None
    assert key_override({"IGNY8_API_KEY": "  ", "CREDENTIALS_DIRECTORY": str(tmp_path)}) is None


def test_igny8_api_key_env_is_an_override(tmp_path: Path) -> None:
    assert key_override({"IGNY8_API_KEY": KEY + "\n"}) == (KEY, "IGNY8_API_KEY")


def test_systemd_credential_is_an_override_with_trailing_newline_stripped(tmp_path: Path) -> None:
    directory = credentials(tmp_path, KEY.encode() + b"\r\n")
    assert key_override({"CREDENTIALS_DIRECTORY": str(directory)}) == (KEY, "systemd credential")


def test_env_key_takes_precedence_over_systemd_credential(tmp_path: Path) -> None:
    directory = credentials(tmp_path, OTHER_KEY.encode())
    environ = {"IGNY8_API_KEY": KEY, "CREDENTIALS_DIRECTORY": str(directory)}
    assert key_override(environ) == (KEY, "IGNY8_API_KEY")


def test_override_reads_the_process_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IGNY8_API_KEY", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials(tmp_path, KEY.encode())))
    assert key_override() == (KEY, "systemd credential")


@pytest.mark.parametrize("content", [b"", b" \n", b"\xff" + KEY.encode()], ids=["empty", "blank", "not-utf8"])
def test_unusable_systemd_credential_is_a_config_error_without_content(tmp_path: Path, content: bytes) -> None:
    directory = credentials(tmp_path, content)
    with pytest.raises(ConfigError, match="systemd credential .*igny8-api-key") as caught:
        key_override({"CREDENTIALS_DIRECTORY": str(directory)})
    assert KEY not in str(caught.value)
