"""The one-file igny8-agent.pyz (scripts/build-pyz), as operators run it.

dist/igny8-agent.pyz (built by scripts/test, or here when missing or stale)
must hold pure Python only, run on this Python and on 3.9, read its templates
and package metadata from inside the zip, start from its unpacked copy or,
without a safe cache, from the archive, take a signal while it unpacks, and
run connect / sync / status against the loopback contract server and MariaDB
as an unprivileged user. Its cache rules: tests/test_pyz_cache.py.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import API_KEY, HOME, REPO, run_agent, write_wp_config

PYZ = REPO / "dist" / "igny8-agent.pyz"


# -- the archive and its contents --------------------------------------------------------


@pytest.fixture(scope="session")
def pyz() -> Path:
    """dist/igny8-agent.pyz, (re)built when missing or its inputs changed (a no-op otherwise)."""
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "build-pyz")], capture_output=True,
                            text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"scripts/build-pyz failed:\n{result.stderr[-3000:]}", pytrace=False)
    return PYZ


def other_pythons() -> List[str]:
    """Python 3.9 (the oldest supported) when this host has one: python3.9 on
    PATH, $IGNY8_TEST_PYTHON39, or pyenv's."""
    found = [os.environ.get("IGNY8_TEST_PYTHON39", ""), shutil.which("python3.9") or ""]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        found += sorted(glob.glob(os.path.join(root, "versions", "3.9*", "bin", "python3.9")))
    usable = []
    for python in found:
        if python and subprocess.run([python, "-c", "import sys; assert sys.version_info[:2] == (3, 9)"],
                                     capture_output=True).returncode == 0:
            usable.append(python)
            break
    return usable


def pyz_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "IGNY8_", "XDG_", "DBUS_"))}
    env.update(extra)
    return env


def test_the_pyz_is_pure_python_with_its_templates_and_a_matching_checksum(pyz):
    data = pyz.read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    recorded, name = (pyz.parent / (pyz.name + ".sha256")).read_text().split()
    assert (recorded, name) == (hashlib.sha256(data).hexdigest(), pyz.name)
    assert os.stat(pyz).st_mode & 0o755 == 0o755
    with zipfile.ZipFile(pyz) as archive:
        names = archive.namelist()
        main = archive.read("__main__.py").decode()
        for template in (REPO / "igny8_agent" / "templates").iterdir():
            assert archive.read(f"igny8_agent/templates/{template.name}") == template.read_bytes()
    compiled = [n for n in names if n.lower().endswith((".so", ".pyd", ".dylib", ".dll")) or ".so." in n]
    assert compiled == []
    tops = {n.split("/")[0].lower() for n in names}
    assert not tops & {"secretstorage", "jeepney", "cryptography", "cffi", "_cffi_backend"}
    assert {"igny8_agent", "typer", "click", "httpx", "pymysql", "keyring", "tenacity", "rich", "tomlkit",
            "tomli", "exceptiongroup"} <= tops
    assert "@BUILD_ID@" not in main and "igny8_agent/_pyz.py" in names


@pytest.mark.parametrize("python", [sys.executable, *other_pythons()],
                         ids=lambda p: "this-python" if p == sys.executable else "python3.9")
def test_templates_and_entry_point_metadata_are_read_from_inside_the_zip(pyz, python):
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from igny8_agent import schedule_io\n"
        "import importlib_metadata\n"
        "names = sorted(ep.name for ep in importlib_metadata.entry_points(group='keyring.backends'))\n"
        "from keyring.backend import get_all_keyring\n"
        "get_all_keyring()\n"
        "import keyring\n"
        "print(keyring.__file__)\n"
        "print(names)\n"
        "sys.stdout.write(schedule_io.template('igny8-agent.cron'))\n"
    )
    result = subprocess.run([python, "-I", "-c", probe, str(pyz)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    where, names, template = result.stdout.split("\n", 2)
    assert where.startswith(str(pyz) + os.sep)  # the zip's keyring, not one installed beside it
    assert "SecretService" in names
    assert template == (REPO / "igny8_agent" / "templates" / "igny8-agent.cron").read_text()


@pytest.mark.parametrize("python", [sys.executable, *other_pythons()],
                         ids=lambda p: "this-python" if p == sys.executable else "python3.9")
def test_structure_from_the_pyz_equals_the_installed_agents(pyz, python, tmp_path, wpdb, agent_env):
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    installed = run_agent("structure", "--path", str(root), "--format", "json", env=agent_env)
    assert installed.returncode == 0, installed.stderr
    cache = tmp_path / "cache"
    env = pyz_env(XDG_CACHE_HOME=str(cache), **agent_env)
    for _ in ("unpacking", "unpacked"):
        result = subprocess.run([python, str(pyz), "structure", "--path", str(root), "--format", "json"],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == json.loads(installed.stdout)
    assert [p.name for p in (cache / "igny8-agent").iterdir()] == [f"pyz-{build_id(pyz)}"]
    version = subprocess.run([python, str(pyz), "--version"], capture_output=True, text=True, env=env, timeout=60)
    py_version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                capture_output=True, text=True).stdout.strip()
    assert version.stdout.splitlines()[1:] == [
        f"installed: .pyz {pyz} (build {build_id(pyz)}, unpacked in {cache}/igny8-agent/pyz-{build_id(pyz)})",
        f"python: {py_version} {python}",
    ]


def build_id(pyz: Path) -> str:
    with zipfile.ZipFile(pyz) as archive:
        text = archive.read("igny8_agent/_pyz.py").decode()
    return text.split("BUILD_ID = '", 1)[1].split("'", 1)[0]


def test_without_a_safe_cache_the_pyz_runs_from_the_archive_and_writes_nothing(pyz, tmp_path, wpdb, agent_env):
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    env = pyz_env(XDG_CACHE_HOME=str(shared), **agent_env)
    version = subprocess.run([sys.executable, str(pyz), "-V"], capture_output=True, text=True, env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    assert f"run from the archive: {shared} has mode 0777" in version.stdout
    result = subprocess.run([sys.executable, str(pyz), "structure", "--path", str(root), "--format", "json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["post_types"]["post"]["count"] == 1
    assert list(shared.iterdir()) == []


def caught_signals(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_pyz_unpacks_ends_it_with_one_line_and_130(pyz, tmp_path, signum):
    """The archive's __main__ puts the agent's early handlers in place before
    it unpacks (argv[0] is igny8-agent.pyz, which igny8_agent/__init__.py
    does not know): SIGTERM is caught while the copy does not exist yet."""
    cache = tmp_path / "cache"
    env = pyz_env(XDG_CACHE_HOME=str(cache))
    target = cache / "igny8-agent" / f"pyz-{build_id(pyz)}"
    proc = subprocess.Popen([sys.executable, str(pyz), "--version"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 20
        while not caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)) and time.monotonic() < deadline:
            time.sleep(0.001)
        unpacked_then = target.exists()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not unpacked_then, "SIGTERM was first caught after the copy was made: no early handler"
    assert (proc.returncode, err, out) == (130, b"igny8-agent: interrupted; nothing was done\n", b"")
    again = subprocess.run([sys.executable, str(pyz), "--version"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert again.returncode == 0 and "unpacked in" in again.stdout, again.stdout + again.stderr
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # the killed run's copy is gone


# -- end to end, as an unprivileged user ---------------------------------------------------


class User:
    """Runs commands as an unprivileged user: `nobody` when the tests run as
    root, else the current user. ``home`` is a directory it owns."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        if os.geteuid() == 0:
            entry = pwd.getpwnam("nobody")
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            self.prefix = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--"]
        else:
            self.uid, self.gid, self.prefix = os.getuid(), os.getgid(), []

    def give(self, path: Path) -> None:
        if os.geteuid() == 0:
            for item in [path, *path.rglob("*")]:
                os.lchown(item, self.uid, self.gid)

    def run(self, args: List[str], env: Dict[str, str], input: Optional[str] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix + args, env=env, input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=str(self.workspace))

    def python(self) -> str:
        """A python3 >= 3.9 this user can run (the virtualenv's may sit under root's home)."""
        candidates = [sys.executable, "/usr/bin/python3", shutil.which("python3") or ""]
        for python in candidates:
            if python and self.run([python, "-c", "import sys; assert sys.version_info >= (3, 9)"],
                                   env={"PATH": os.defpath}).returncode == 0:
                return python
        pytest.fail(f"no python3 >= 3.9 that uid {self.uid} can run (tried {candidates})", pytrace=False)


@pytest.fixture
def workspace():
    """A directory outside root's private temp tree, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="igny8-pyz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_connect_sync_status_from_the_pyz_as_an_unprivileged_user(pyz, workspace, wpdb, backend):
    user = User(workspace)
    installed = workspace / "bin" / "igny8-agent"  # as `install -m 0755 igny8-agent.pyz /usr/local/bin/igny8-agent`
    installed.parent.mkdir()
    shutil.copyfile(pyz, installed)
    installed.chmod(0o755)
    wpdb.set_option("home", HOME)
    wpdb.add_posts("post", "publish", 4)
    root = write_wp_config(workspace / "wordpress", wpdb.name)
    home = workspace / "home"
    home.mkdir()
    user.give(workspace)
    if os.geteuid() == 0:
        os.chown(installed, 0, 0)  # root's file, as installed: the user only reads it

    python = user.python()
    env = {
        "PATH": os.pathsep.join([str(Path(python).parent), os.defpath]),  # the shebang's python3
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "IGNY8_CONFIG_DIR": str(workspace / "etc"),
        "IGNY8_STATE_DIR": str(workspace / "state"),
        "IGNY8_API_URL": backend.base_url,
    }
    agent = [str(installed)]

    connected = user.run([*agent, "connect", "--api-key-stdin", "--path", str(root), "--email", "DEV@igny8.com"],
                         env, input=API_KEY + "\n")
    assert connected.returncode == 0, connected.stdout + connected.stderr
    pushes = backend.requests_to("/update-structure/", "POST")
    assert pushes[-1].body["post_types"]["post"]["count"] == 5
    assert pushes[-1].headers["authorization"] == f"Bearer {API_KEY}"

    synced = user.run([*agent, "sync", "--path", str(root)], env)
    assert synced.returncode == 0, synced.stderr
    assert "sync ok" in synced.stdout
    assert len(backend.requests_to("/update-structure/", "POST")) == 2

    status = user.run([*agent, "status", "--json", "--path", str(root)], env)
    assert status.returncode == 0, status.stderr
    local = json.loads(status.stdout)["local"]
    assert local["connection"] == "Connected & Ready"
    assert local["key_storage"].startswith(f"file ({workspace / 'state' / 'keyring.json'}")
    has_secretstorage = user.run([python, "-c", "import secretstorage"], env).returncode == 0
    if not has_secretstorage:
        assert "the .pyz has no system keyring support" in local["key_storage"]
        text = user.run([*agent, "status", "--path", str(root)], env)
        assert "the .pyz has no system keyring support" in text.stdout

    version = user.run([*agent, "--version"], env)
    cache = home / ".cache" / "igny8-agent"
    copy = cache / f"pyz-{build_id(pyz)}"
    assert f"installed: .pyz {installed} (build {build_id(pyz)}, unpacked in {copy})" in version.stdout

    # Everything the agent wrote is the user's alone; nothing of it is elsewhere.
    written = [home / ".cache", *(home / ".cache").rglob("*"), *(workspace / "state").rglob("*"),
               workspace / "state"]
    assert (workspace / "state" / "keyring.json") in written
    for path in written:
        info = os.lstat(path)
        assert info.st_uid == user.uid, path
        assert not info.st_mode & 0o077, (path, oct(info.st_mode))
