"""The API key goes nowhere but the keyring store.

A canary key (``igny8_CANARY`` + random) is taken through every command -
connect (ok, wrong key, site not found), sync (ok, backend down, --dry-run,
--json, under cron), status (--json and plain), config, disconnect - each
also with ``-v`` debug output, plus a run killed with SIGKILL mid-sync. Then
the canary is searched for in everything the agent printed or left behind:
stdout, stderr (its log lines included), every file under its config and
state directories and every file name there, and, while the agent is blocked
on a slow backend, its ``/proc/<pid>/cmdline`` (always) and
``/proc/<pid>/environ`` (when the key came on stdin or from the keyring; with
``IGNY8_API_KEY`` the environment holds it by the operator's choice). The one
place it may be is the keyring store file itself.

Everything the agent creates is 0600 (directories 0700), and stays so after
``config`` edits and reconnects.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from conftest import HOME
from contract_server import ContractServer

CANARY = "igny8_CANARY" + secrets.token_hex(16)
WRONG_CANARY = "igny8_CANARYwrong" + secrets.token_hex(16)
KEYRING_FILE = "keyring.json"


@pytest.fixture
def backend() -> Iterator[ContractServer]:
    """The loopback backend, whose one account owns the canary key."""
    server = ContractServer(page_size=2).start()
    account = server.add_account("Acme", "dev@igny8.com", CANARY)
    server.site_id = server.add_site(account, "https://www.Example.com/", name="Example")
    yield server
    server.stop()


class Transcript:
    """Every output of every run, to be searched at the end."""

    def __init__(self) -> None:
        self.outputs: List[Tuple[str, str]] = []

    def add(self, label: str, result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
        self.outputs.append((label + " stdout", result.stdout))
        self.outputs.append((label + " stderr", result.stderr))
        return result

    def hits(self, needle: str) -> List[str]:
        return [label for label, text in self.outputs if needle in text]


def agent_dirs(site) -> List[Path]:
    return [site.state_dir, site.state_dir.parent / "etc"]


def leaks(site, needle: str) -> List[str]:
    """Files (content or name) holding ``needle`` under the agent's directories,
    except the keyring store file itself."""
    found = []
    for top in agent_dirs(site):
        for path in [top, *top.rglob("*")] if top.exists() else []:
            if needle in path.name:
                found.append(f"name: {path}")
            if path.is_file() and path.name != KEYRING_FILE and needle.encode() in path.read_bytes():
                found.append(f"content: {path}")
    return found


def wrong_modes(site) -> List[str]:
    bad = []
    for top in agent_dirs(site):
        for path in [top, *top.rglob("*")] if top.exists() else []:
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = 0o700 if path.is_dir() else 0o600
            if mode != want:
                bad.append(f"{path} is {mode:o}, not {want:o}")
    return bad


def keyring_text(site) -> str:
    path = site.state_dir / KEYRING_FILE
    return path.read_text() if path.exists() else ""


def ok(result: subprocess.CompletedProcess, code: int = 0) -> subprocess.CompletedProcess:
    assert result.returncode == code, (result.args, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


def run_sampled(site, backend: ContractServer, args: List[str], *, stdin: Optional[str] = None,
                extra_env: Optional[Dict[str, str]] = None, kill: bool = False,
                seconds: float = 4.0) -> Tuple[subprocess.CompletedProcess, bytes, bytes]:
    """Run the agent against a backend that delays its first answer; while the
    agent waits for it, read its /proc cmdline and environ. With ``kill`` the
    agent is then killed with SIGKILL (a crash mid-request)."""
    backend.inject("delay", count=1, seconds=seconds)
    env = dict(os.environ, IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url, **(extra_env or {}))
    command = [sys.executable, "-m", "igny8_agent", *args, "--path", str(site.path)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        if stdin is not None:
            proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None  # communicate() below must not touch it again
        deadline = time.monotonic() + 30
        while backend.pending_faults and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert backend.pending_faults == 0, "the agent never reached the backend"
        assert proc.poll() is None, "the agent was not blocked on the slow backend"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        if kill:
            proc.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    return result, cmdline, environ


def test_the_key_appears_nowhere_but_the_keyring_store(site, backend):
    log = Transcript()

    def run(label: str, *args: str, code: int = 0, **kwargs) -> subprocess.CompletedProcess:
        return ok(log.add(label, site.run(*args, **kwargs)), code)

    # connect: the wrong key, then a site the account does not have, then success.
    run("connect wrong key", "-v", "connect", "--api-key-stdin", input=WRONG_CANARY + "\n", code=5)
    site.db.set_option("home", "https://unknown.example.net")
    site.db.set_option("siteurl", "https://unknown.example.net")
    missing = run("connect site not found", "-v", "connect", "--api-key-stdin", input=CANARY + "\n", code=5)
    assert "Site not found" in missing.stderr
    site.db.set_option("home", HOME)
    site.db.set_option("siteurl", HOME)
    assert wrong_modes(site) == []

    connected, cmdline, environ = run_sampled(site, backend, ["-v", "connect", "--api-key-stdin"], stdin=CANARY + "\n")
    ok(log.add("connect (sampled)", connected))
    assert CANARY.encode() not in cmdline and CANARY.encode() not in environ
    assert CANARY in keyring_text(site)  # it is stored, so the search below can find it
    assert wrong_modes(site) == []
    run("connect --json", "connect", "--api-key-stdin", "--json", input=CANARY + "\n")
    run("connect again -v", "-v", "connect", "--api-key-stdin", input=CANARY + "\n")
    assert wrong_modes(site) == []

    # sync, every way; the key now comes from the keyring, never the environment.
    synced, cmdline, environ = run_sampled(site, backend, ["-v", "sync"])
    ok(log.add("sync -v (sampled)", synced))
    assert CANARY.encode() not in cmdline and CANARY.encode() not in environ
    run("sync (cron)", "sync")
    run("sync -v (cron)", "-v", "sync")
    run("sync --json", "sync", "--json")
    run("sync --json -v", "-v", "sync", "--json")
    run("sync --dry-run", "sync", "--dry-run")
    run("sync --dry-run -v", "-v", "sync", "--dry-run")

    # status and config
    run("status --json", "status", "--json")
    run("status", "status")
    run("status -v", "-v", "status")
    run("status --local", "status", "--local")
    run("config show", "config", "show")
    run("config show --json", "config", "show", "--json")
    run("config type", "config", "type", "post", "--disable", "--limit", "7")
    run("config sync", "config", "sync", "--no-two-way")
    run("config backend", "-v", "config", "backend", "--retry-budget", "1", "--timeout", "2")
    assert wrong_modes(site) == []

    # the backend goes down: sync and status fail, the key stays unsaid
    backend.stop()
    run("sync backend down (cron)", "sync", code=6)
    run("sync backend down -v", "-v", "sync", code=6)
    run("sync backend down --json", "sync", "--json", code=6)
    run("status backend down", "status", code=6)
    run("status backend down --json -v", "-v", "status", "--json", code=6)
    backend.start()
    run("config backend again", "config", "backend", "--retry-budget", "30", "--timeout", "20")

    # a crash: SIGKILL while the agent waits for the backend
    killed, cmdline, environ = run_sampled(site, backend, ["-v", "sync"], kill=True)
    log.add("sync killed", killed)
    assert killed.returncode == -signal.SIGKILL
    assert CANARY.encode() not in cmdline and CANARY.encode() not in environ
    run("sync after the crash", "sync")
    run("reconnect", "-v", "connect", "--api-key-stdin", input=CANARY + "\n")
    assert wrong_modes(site) == []

    run("disconnect -v", "-v", "disconnect")
    assert CANARY not in keyring_text(site)
    run("status after disconnect", "status", "--json", code=3)

    for needle in (CANARY, WRONG_CANARY):
        assert log.hits(needle) == []
        assert leaks(site, needle) == []
    assert wrong_modes(site) == []
    # the runs above did print something worth searching, -v output included
    assert any("DEBUG" in text for _, text in log.outputs)
    assert any("Authorization: Bearer ***" in text for _, text in log.outputs)


def test_a_key_given_in_the_environment_is_never_printed(site, backend):
    log = Transcript()
    key_env = {"IGNY8_API_KEY": CANARY}
    ok(log.add("connect env", site.run("-v", "connect", extra_env=key_env)))
    ok(log.add("sync env", site.run("-v", "sync", "--json", extra_env=key_env)))
    ok(log.add("status env", site.run("-v", "status", extra_env=key_env)))
    # environ holds the key by the operator's choice; argv must not.
    synced, cmdline, _environ = run_sampled(site, backend, ["-v", "sync"], extra_env=key_env)
    ok(log.add("sync env sampled", synced))
    assert CANARY.encode() not in cmdline
    assert log.hits(CANARY) == [] and leaks(site, CANARY) == []
    assert wrong_modes(site) == []


@pytest.mark.parametrize("how", ["option", "option=", "bad characters", "wrong shape"])
def test_a_key_given_the_wrong_way_is_refused_without_echoing_it(site, how):
    if how == "option":
        result = site.run("connect", "--api-key", CANARY)
        assert result.returncode == 2
    elif how == "option=":
        result = site.run("connect", f"--api-key={CANARY}")
        assert result.returncode == 2
    elif how == "bad characters":
        result = site.run("connect", "--api-key-stdin", input=CANARY + "!$\n")
        assert result.returncode == 3
    else:
        result = site.run("connect", "--api-key-stdin", input="sk_" + CANARY + "\n")
        assert result.returncode == 3
    assert CANARY not in result.stdout + result.stderr
    assert leaks(site, CANARY) == [] and CANARY not in keyring_text(site)
