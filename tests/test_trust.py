"""The agent trusts only files and directories that are its own.

The state directory, state file, key file, locks and config (and the config
directories) must belong to the user the agent runs as, or root, must not be
writable by group or others, and are never symbolic links -- as ssh and sudo
decide. Tests run as root and make "another user" with ``os.chown``.
Also here: a full disk (every OSError on the agent's files is exit 3 naming
the file) and a user without a home directory.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import API_KEY, run_agent, write_wp_config
from contract_server import ContractServer
from igny8_agent import paths, settings, state, trust
from igny8_agent.errors import ConfigError

OTHER = 65534  # another user (nobody)


def error_line(result) -> str:
    """The single line a refused run prints on stderr (``sync`` prints its own
    one-line form, "... sync failed (exit 3): ...")."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ("igny8-agent: error: " in lines[0] or "failed (exit 3)" in lines[0]), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return lines[0]


def assert_refused(result, path: Path, *words: str) -> None:
    assert result.returncode == 3, (result.returncode, result.stderr)
    line = error_line(result)
    for word in (str(path), *words):
        assert word in line, line


def state_file(site) -> Path:
    return next(site.state_dir.glob("*.state.json"))


def lock_file(site) -> Path:
    return next(p for p in site.state_dir.glob("*.lock") if not p.name.startswith("keyring"))


@pytest.fixture
def foreign():
    """A server another user would like the key to go to."""
    server = ContractServer(page_size=2).start()
    yield server
    server.stop()


# -- 1. the state directory and the files in it ------------------------------------


def test_a_state_directory_another_user_owns_is_refused_and_nothing_is_sent(site, backend):
    assert site.connect().returncode == 0
    os.chown(site.state_dir, OTHER, OTHER)
    before = len(backend.requests)
    assert_refused(site.run("sync"), site.state_dir, "uid 65534", "mode 0700", "chown")
    assert len(backend.requests) == before


def test_a_state_file_another_user_replaced_never_sends_the_key_to_its_api_url(site, backend, foreign):
    assert site.connect().returncode == 0
    path = state_file(site)
    data = json.loads(path.read_text())
    data["api_url"] = foreign.base_url
    path.write_text(json.dumps(data))
    os.chown(path, OTHER, OTHER)
    assert_refused(site.run("sync"), path, "uid 65534", "mode 0600", "chown")
    assert foreign.requests == []


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(site, tmp_path):
    assert site.connect().returncode == 0
    lock = lock_file(site)
    lock.unlink()
    target = tmp_path / "root-only"
    target.write_text("precious\n")
    target.chmod(0o600)
    lock.symlink_to(target)
    assert_refused(site.run("sync"), lock, "symbolic link", "rm ")
    assert target.read_text() == "precious\n"


def test_a_lock_file_hard_linked_to_another_file_is_never_truncated(site, tmp_path):
    assert site.connect().returncode == 0
    lock = lock_file(site)
    lock.unlink()
    target = tmp_path / "root-only"
    target.write_text("precious\n")
    target.chmod(0o600)
    os.link(target, lock)
    assert_refused(site.run("sync"), lock, "hard links")
    assert target.read_text() == "precious\n"


def test_a_state_file_that_is_a_symlink_is_refused(site, tmp_path):
    assert site.connect().returncode == 0
    path = state_file(site)
    elsewhere = tmp_path / "elsewhere.json"
    os.replace(path, elsewhere)
    path.symlink_to(elsewhere)
    assert_refused(site.run("status", "--local"), path, "symbolic link")


def test_a_state_directory_others_can_write_is_refused(site):
    assert site.connect().returncode == 0
    site.state_dir.chmod(0o777)
    assert_refused(site.run("status", "--local"), site.state_dir, "mode 0777", "chmod go-w")


@pytest.mark.parametrize("change", ["group-writable", "other-owner", "symlink"])
def test_the_key_file_is_checked_when_the_key_is_read(site, backend, tmp_path, change):
    assert site.connect().returncode == 0
    key_file = site.state_dir / "keyring.json"
    if change == "group-writable":
        key_file.chmod(0o660)
        words = ("mode 0660", "chmod go-w")
    elif change == "other-owner":
        os.chown(key_file, OTHER, OTHER)
        words = ("uid 65534", "chown")
    else:
        os.replace(key_file, tmp_path / "keys.json")
        key_file.symlink_to(tmp_path / "keys.json")
        words = ("symbolic link",)
    before = len(backend.requests)
    assert_refused(site.run("sync"), key_file, *words)
    assert len(backend.requests) == before


def test_files_owned_by_root_are_trusted_by_any_user(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    info = os.stat(path)
    assert info.st_uid == 0 and trust.trusted(info)


def test_the_refusal_names_path_owner_mode_and_fix_in_one_line(tmp_path):
    path = tmp_path / "site.state.json"
    path.write_text("{}")
    os.chown(path, OTHER, OTHER)
    path.chmod(0o664)
    with pytest.raises(ConfigError) as caught:
        state.load_state(path)
    message = str(caught.value)
    assert "\n" not in message
    for word in (str(path), "uid 65534 (nobody)", "mode 0664", f"chown root {path}", f"chmod go-w {path}"):
        assert word in message


# -- 2. the config file says where the key goes -------------------------------------


def site_config(site, agent_env) -> Path:
    assert site.run("config", "sync", "--two-way").returncode == 0  # writes the site's config file
    return next((Path(agent_env["IGNY8_CONFIG_DIR"]) / "sites").glob("*.toml"))


def test_a_config_file_others_can_write_never_sends_the_key_to_its_api_url(site, backend, agent_env, foreign):
    config = site_config(site, agent_env)
    text = config.read_text().replace('api_url = "https://api.igny8.com/api/v1"', f'api_url = "{foreign.base_url}"')
    config.write_text(text)
    config.chmod(0o666)
    result = site.run("connect", "--api-key-stdin", input=API_KEY + "\n", extra_env={"IGNY8_API_URL": ""})
    assert_refused(result, config, "mode 0666", "chmod go-w")
    assert foreign.requests == [] and backend.requests == []


def test_a_config_file_another_user_owns_is_refused(site, agent_env):
    config = site_config(site, agent_env)
    os.chown(config, OTHER, OTHER)
    assert_refused(site.run("config", "show", "--json"), config, "uid 65534", "chown")


def test_a_config_directory_another_user_owns_is_refused(site, agent_env):
    config = site_config(site, agent_env)
    os.chown(config.parent, OTHER, OTHER)
    assert_refused(site.run("status", "--local"), config.parent, "uid 65534")


def test_a_config_file_named_with_dash_dash_config_is_checked_but_not_its_directory(site, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)  # like /tmp: the operator's choice of directory
    config = shared / "shop.toml"
    config.write_text('[sync]\ntwo_way_sync_enabled = false\n')
    shown = site.run("config", "show", "--json", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["sync"]["two_way_sync_enabled"] is False
    config.chmod(0o646)
    assert_refused(site.run("config", "show", "--json", "--config", str(config)), config, "mode 0646")


def test_load_settings_refuses_a_config_file_others_can_write(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[backend]\napi_url = "https://elsewhere.example"\n')
    path.chmod(0o666)
    with pytest.raises(ConfigError, match="refusing the config file .*mode 0666"):
        settings.load_settings(path)


# -- 16. a full disk ---------------------------------------------------------------------


@pytest.fixture
def full_state_dir(tmp_path):
    """A state directory on a tiny tmpfs that is full."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        directory = mount / "state"
        directory.mkdir(mode=0o700)
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield directory
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_before_the_lock_file_exists_is_exit_3_naming_it(site, backend, full_state_dir):
    result = site.run("connect", "--api-key-stdin", input=API_KEY + "\n",
                      extra_env={"IGNY8_STATE_DIR": str(full_state_dir)})
    assert result.returncode == 3, result.stderr
    line = error_line(result)
    assert "lock file" in line and str(full_state_dir) in line and "No space left on device" in line
    assert backend.requests == []


def test_no_space_for_the_lock_files_pid_is_a_config_error_naming_it(tmp_path, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    lock = tmp_path / "state" / "site.lock"
    with pytest.raises(ConfigError, match=f"cannot write the lock file {lock}: No space left on device"):
        with state.RunLock(lock):
            pass


# -- 18. no home directory -----------------------------------------------------------------


def homeless_uid() -> int:
    for uid in range(54321, 54421):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    pytest.fail("no free uid without a passwd entry")


def _drop_to(uid: int):
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return drop


def _can_run_python_as(uid: int) -> bool:
    """Whether this interpreter and its standard library are readable by ``uid``
    (not when Python lives in a private home directory)."""
    try:
        probe = subprocess.run([sys.executable, "-c", "import json, ssl, tomllib"], preexec_fn=_drop_to(uid),
                               capture_output=True, timeout=60, cwd="/")
    except PermissionError:
        return False
    return probe.returncode == 0


# When the interpreter is out of the uid's reach, the agent runs as root with
# its uids reported as ``uid``: the paths it picks, the passwd lookup that
# finds nothing and the ownership rule are the same.
_AS_UID = "import os; os.getuid = os.geteuid = lambda: {uid}; from igny8_agent.__main__ import main; main()"


def run_as(uid: int, *args: str, env: dict):
    if _can_run_python_as(uid):
        argv, drop = [sys.executable, "-m", "igny8_agent", *args], _drop_to(uid)
    else:
        argv, drop = [sys.executable, "-c", _AS_UID.format(uid=uid), *args], None
    return subprocess.run(argv, env=env, preexec_fn=drop, capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def homeless(wpdb):
    """A uid with no passwd entry and no HOME, a WordPress root it can read,
    and a directory of its own."""
    uid = homeless_uid()
    base = Path(tempfile.mkdtemp(prefix="igny8-homeless-"))
    try:
        base.chmod(0o755)
        root = write_wp_config(base / "wordpress", wpdb.name)
        root.chmod(0o755)
        own = base / "own"
        own.mkdir()
        os.chown(own, uid, uid)
        env = {k: v for k, v in os.environ.items()
               if k != "HOME" and not k.startswith(("XDG_", "IGNY8_"))}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        yield uid, root, own, env
    finally:
        shutil.rmtree(base)


def test_structure_works_for_a_user_without_a_home(homeless):
    uid, root, _own, env = homeless
    result = run_as(uid, "structure", "--format", "json", "--path", str(root), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["post_types"]["post"]["count"] >= 1


def test_other_commands_without_a_home_say_what_to_set(homeless):
    uid, root, _own, env = homeless
    for args in (("status", "--local"), ("config", "sync", "--disable"), ("sync",)):
        result = run_as(uid, *args, "--path", str(root), env=env)
        assert result.returncode == 3, (args, result.stderr)
        line = error_line(result)
        assert "no home directory" in line and "IGNY8_STATE_DIR" in line, line


def test_without_a_home_the_agent_uses_igny8_config_dir_and_state_dir(homeless):
    uid, root, own, env = homeless
    env = dict(env, IGNY8_CONFIG_DIR=str(own / "etc"), IGNY8_STATE_DIR=str(own / "state"))
    changed = run_as(uid, "config", "sync", "--disable", "--path", str(root), env=env)
    assert changed.returncode == 0, changed.stderr
    assert next((own / "etc" / "sites").glob("*.toml")).stat().st_uid in (uid, 0)
    shown = run_as(uid, "config", "show", "--json", "--path", str(root), env=env)
    assert json.loads(shown.stdout)["sync"]["plugin_connection_enabled"] is False


def test_default_paths_without_a_home_fail_only_when_used(monkeypatch):
    monkeypatch.delenv("HOME", raising=False)
    for name in ("IGNY8_CONFIG_DIR", "IGNY8_STATE_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 54321)

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    site_paths = paths.SitePaths.for_site("shop")
    assert str(site_paths.state) == "~/.local/state/igny8-agent/shop.state.json"
    assert settings.load_settings(site_paths.config).api_url == settings.DEFAULT_API_URL
    with pytest.raises(ConfigError, match="no home directory for uid 54321 .*IGNY8_STATE_DIR"):
        state.load_state(site_paths.state)
    with pytest.raises(ConfigError, match="no home directory"):
        site_paths.lock.exists()
