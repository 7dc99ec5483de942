"""Crash safety and concurrency, with the agent as a real process.

SIGKILL at random points of ``sync`` and ``connect`` (the backend slowed
down so kills land mid-request) and while a file is being written; after
each: the state, config and key files parse, the site and integration ids
and ``last_success`` are intact, the key file holds the old or the new key,
and the next successful run leaves no temp file behind. Twenty syncs of one
site started at once push one at a time. SIGTERM / SIGINT end a run with
exit 130 and one line. ``bench/soak_crash.py`` runs the same checks many
more times.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from conftest import API_KEY, REPO
from contract_server import ContractServer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PUSH = "update-structure"
BUSY = "another sync of this site is running"
SERVICE = "igny8-agent"
PROGRESS = ("Authenticating…", "Connected", "Structure syncing…", "Connected & Ready",
            "Reading the WordPress database…")
FSYNC_DELAY = 0.25
# The agent with os.fsync slowed down, so that a kill can land between
# writing a temp file and renaming it over the real one.
SLOW_WRITES = (
    "import os, time\n"
    "_fsync = os.fsync\n"
    "def _slow_fsync(fd):\n"
    f"    time.sleep({FSYNC_DELAY})\n"
    "    return _fsync(fd)\n"
    "os.fsync = _slow_fsync\n"
    "from igny8_agent.__main__ import main\n"
    "main()\n"
)


@pytest.fixture
def backend():
    """As conftest's backend, keeping the account id (used by ``site`` too)."""
    server = ContractServer(page_size=2).start()
    server.account_id = server.add_account("Acme", "dev@igny8.com", API_KEY)
    server.site_id = server.add_site(server.account_id, "https://www.Example.com/", name="Example")
    server.other_site = server.add_site(server.account_id, "https://other.example.org", name="Other")
    yield server
    server.stop()


class Agent:
    """Starts the agent for the connected-site harness and checks its files."""

    def __init__(self, site: Any, backend: ContractServer, agent_env: Dict[str, str]) -> None:
        self.site = site
        self.backend = backend
        self.config_dir = Path(agent_env["IGNY8_CONFIG_DIR"])
        self.state_dir = Path(agent_env["IGNY8_STATE_DIR"])
        self.env = dict(os.environ, IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url)
        self.processes: List[subprocess.Popen] = []
        self.key = API_KEY
        self.expect: Dict[str, Any] = {}

    def spawn(self, *args: str, key: Optional[str] = None, slow_writes: bool = False) -> subprocess.Popen:
        head = [sys.executable, "-c", SLOW_WRITES] if slow_writes else [sys.executable, "-m", "igny8_agent"]
        proc = subprocess.Popen(
            [*head, *args, "--path", str(self.site.path)], env=self.env, cwd=str(REPO),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.processes.append(proc)
        if key is not None:
            proc.stdin.write(key + "\n")
        proc.stdin.close()
        proc.stdin = None  # closed: communicate() must not flush it
        return proc

    def connect_spawn(self, key: str, slow_writes: bool = False) -> subprocess.Popen:
        self.backend.add_api_key(self.backend.account_id, key)
        return self.spawn("connect", "--api-key-stdin", key=key, slow_writes=slow_writes)

    def cleanup(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)

    # files

    @property
    def state_file(self) -> Path:
        return next(iter(self.state_dir.glob("*.state.json")))

    @property
    def config_file(self) -> Path:
        return next(iter((self.config_dir / "sites").glob("*.toml")))

    def leftovers(self) -> List[str]:
        return sorted(p.name for d in (self.state_dir, self.config_dir) for p in d.rglob(".*.tmp"))

    def stored_key(self) -> str:
        return json.loads((self.state_dir / "keyring.json").read_text())[SERVICE][self.expect["key_entry"]]

    def remember(self) -> None:
        """After a successful run: what every later kill must leave intact."""
        state = json.loads(self.state_file.read_text())
        assert state["last_success"]
        self.expect = {k: state[k] for k in ("site_id", "integration_id", "key_entry", "api_url", "last_success")}
        self.key = self.stored_key()

    def assert_intact(self, keys: Sequence[str] = (), what: str = "") -> None:
        state = json.loads(self.state_file.read_text())  # parses, whatever the kill interrupted
        for name in ("site_id", "integration_id", "key_entry", "api_url"):
            assert state[name] == self.expect[name], f"{what}: {name}"
        assert state["last_success"] >= self.expect["last_success"], f"{what}: last_success lost"
        config = tomllib.loads(self.config_file.read_text())
        assert config["wordpress"]["path"] == str(self.site.path), what
        stored = json.loads((self.state_dir / "keyring.json").read_text())[SERVICE].get(self.expect["key_entry"])
        assert stored and stored in (keys or (self.key,)), f"{what}: the key file lost the key"

    def recover(self, what: str = "") -> None:
        """The next run succeeds and leaves no temp file behind."""
        done = self.site.run("sync")
        assert done.returncode == 0, f"{what}: {done.stderr}"
        assert self.leftovers() == [], what
        self.remember()


@pytest.fixture
def agent(site, backend, agent_env):
    connected = site.connect()
    assert connected.returncode == 0, connected.stderr
    helper = Agent(site, backend, agent_env)
    helper.remember()
    yield helper
    helper.cleanup()


def finish(proc: subprocess.Popen, timeout: float = 60) -> Tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def kill9(proc: subprocess.Popen) -> bool:
    """SIGKILL; True if it was still running."""
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    finish(proc, timeout=10)
    return alive


def message_lines(stderr: str) -> List[str]:
    """stderr without connect's progress lines."""
    return [line for line in stderr.splitlines()
            if line.strip() and line.strip()[len("igny8-agent: "):] not in PROGRESS]


def overlaps(requests: Sequence[Any]) -> List[Tuple[float, float]]:
    spans = sorted((r.started, r.finished if r.finished is not None else float("inf")) for r in requests)
    return [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]


# -- SIGKILL -------------------------------------------------------------------------


def test_sigkill_at_random_points_of_sync_keeps_the_last_good_state(agent, backend):
    rng = random.Random(20240601)
    landed = 0
    for run in range(8):
        backend.clear_faults()
        if run % 2:  # a slow backend: the kill lands mid-request
            backend.inject("delay", count=None, path_contains=PUSH, seconds=rng.uniform(0.1, 0.4))
        proc = agent.spawn("sync")
        time.sleep(rng.uniform(0.0, 0.4))
        landed += kill9(proc)
        agent.assert_intact(what=f"sync kill {run}")
    backend.clear_faults()
    assert landed >= 4
    agent.recover("after the kills")


def test_sigkill_at_random_points_of_connect_with_a_new_key(agent, backend):
    rng = random.Random(20240602)
    landed = 0
    for run in range(6):
        backend.clear_faults()
        if run % 2:
            backend.inject("delay", count=None, seconds=rng.uniform(0.05, 0.3))
        new = f"igny8_newKey{run}-{rng.getrandbits(64):x}"
        proc = agent.connect_spawn(new)
        time.sleep(rng.uniform(0.0, 0.4))
        landed += kill9(proc)
        agent.assert_intact(keys=(agent.key, new), what=f"connect kill {run}")
        agent.key = agent.stored_key()  # the old key of the next run
    backend.clear_faults()
    assert landed >= 3
    agent.recover("after the kills")


@pytest.mark.parametrize("command,nth_write", [
    ("sync", 1),  # the state
    ("connect", 1),  # the key file
    ("connect", 2),  # the state, connected
    ("connect", 3),  # the state, pushed
    ("connect", 4),  # the config file
])
def test_sigkill_during_a_file_write_leaves_the_old_or_the_new_file(agent, command, nth_write):
    for immediately in (True, False):
        new = f"igny8_writeKey-{nth_write}{int(immediately)}"
        proc = agent.connect_spawn(new, slow_writes=True) if command == "connect" else agent.spawn(
            "sync", slow_writes=True)
        seen: set = set()
        deadline = time.monotonic() + 30
        while len(seen) < nth_write and proc.poll() is None and time.monotonic() < deadline:
            seen.update(agent.leftovers())
            time.sleep(0.001)
        assert len(seen) >= nth_write, f"the agent ended before its write #{nth_write}"
        if not immediately:  # after the rename, or in the next write
            time.sleep(random.uniform(0.5, 1.2) * FSYNC_DELAY)
        assert kill9(proc), "the kill came too late"
        if immediately:  # killed between writing the temp file and renaming it
            assert agent.leftovers(), "no temp file left: the kill did not land mid-write"
        agent.assert_intact(keys=(agent.key, new), what=f"{command} write {nth_write}")
        agent.recover(f"{command} write {nth_write}")  # removes the temp file


# -- many syncs at once -------------------------------------------------------------------


def start_together(agent: Agent, n: int, *args: str) -> List[Tuple[int, str, str]]:
    barrier = threading.Barrier(n)
    results: List[Tuple[int, str, str]] = [(-1, "", "not run")] * n

    def one(index: int) -> None:
        barrier.wait(timeout=30)
        results[index] = finish(agent.spawn("sync", *args), timeout=60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(75)
    return results


def test_twenty_syncs_at_once_push_one_at_a_time_and_the_others_say_busy(agent, backend):
    backend.clear_requests()
    backend.inject("delay", count=None, path_contains=PUSH, seconds=1.5)
    results = start_together(agent, 20)
    backend.clear_faults()
    codes = sorted(code for code, _, _ in results)
    assert set(codes) <= {0, 7}, results
    assert codes.count(0) >= 1 and codes.count(7) >= 1, codes
    for code, out, err in results:
        assert "Traceback" not in out + err
        if code == 7:
            assert BUSY in err and len(message_lines(err)) == 1, err
    pushes = backend.requests_to(PUSH)
    assert len(pushes) == codes.count(0)
    assert overlaps(pushes) == []
    agent.assert_intact(what="after 20 syncs")
    assert agent.leftovers() == []


def test_twenty_syncs_at_once_with_wait_all_succeed_one_after_another(agent, backend):
    backend.clear_requests()
    backend.inject("delay", count=None, path_contains=PUSH, seconds=0.1)
    before = agent.expect["last_success"]
    results = start_together(agent, 20, "--wait", "30")
    backend.clear_faults()
    assert [code for code, _, _ in results] == [0] * 20, [err for _, _, err in results if err]
    pushes = backend.requests_to(PUSH)
    assert len(pushes) == 20
    assert overlaps(pushes) == []
    agent.assert_intact(what="after 20 syncs with --wait")
    state = json.loads(agent.state_file.read_text())
    assert state["last_success"] >= before and state["last_error"] == {}
    assert agent.leftovers() == []


# -- SIGTERM and SIGINT -------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["sync", "connect"])
def test_signal_mid_request_exits_130_with_one_line(agent, backend, signum, command):
    backend.clear_requests()
    backend.inject("delay", count=None, path_contains=PUSH, seconds=10)
    new = "igny8_signalKey-" + signal.Signals(signum).name
    proc = agent.connect_spawn(new) if command == "connect" else agent.spawn("sync")
    deadline = time.monotonic() + 30
    while not backend.requests_to(PUSH) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.requests_to(PUSH), "the push never arrived"
    proc.send_signal(signum)
    code, out, err = finish(proc, timeout=30)
    backend.clear_faults()
    assert code == 130, err
    assert "Traceback" not in out + err
    lines = message_lines(err)
    assert len(lines) == 1 and ("interrupted" in lines[0] or "terminated" in lines[0]), err
    agent.assert_intact(keys=(agent.key, new), what="after the signal")
    state = json.loads(agent.state_file.read_text())
    assert state["last_success"] == agent.expect["last_success"]  # nothing recorded as pushed
    agent.recover("after the signal")


_FILE_LINE = re.compile(r'^  File "([^"]+)"', re.M)


def hit_the_interpreters_start_up(stderr: str) -> bool:
    """Whether a signal landed while Python was still starting, before the
    first line of the agent ran: in its core initialisation, its ``site``
    stage, or ``-m``'s locating of the package. Nothing but the interpreter's
    own frozen modules is on that traceback; a signal that reaches importlib
    from the agent's own imports shows the agent's files, and importlib's
    "Exception ignored" (a handler raising in a module lock's callback) is
    never excused."""
    if "Exception ignored" in stderr:
        return False
    if "Fatal Python error: init_" in stderr or "Could not import runpy module" in stderr:
        return True
    files = _FILE_LINE.findall(stderr)
    return bool(files) and all(name.startswith("<frozen ") for name in files)


def test_a_signal_put_off_during_an_import_is_dropped_once_the_command_is_over():
    """A SIGINT put off while importlib ran arms a short SIGALRM; once the
    command's exit code is decided it must neither act (130) nor, after the
    interpreter's shutdown restored SIGALRM's default, kill the process (-14):
    when the command is over the timer is disarmed, the signal dropped and
    SIGALRM ignored."""
    script = (
        "import atexit, inspect, signal, sys\n"
        "from igny8_agent import cli, process\n"
        "version = cli._version\n"
        "def deciding(value):\n"  # the exit code is decided with a signal still put off
        "    if value:\n"
        "        process._pending.append(signal.SIGINT)\n"
        "        signal.setitimer(signal.ITIMER_REAL, 30)\n"
        "    version(value)\n"
        "inspect.signature(cli.main_options).parameters['version'].default.callback = deciding\n"
        "def after():\n"
        "    print(signal.getitimer(signal.ITIMER_REAL), process._pending,\n"
        "          signal.getsignal(signal.SIGALRM) == signal.SIG_IGN, file=sys.stderr)\n"
        "atexit.register(after)\n"
        "sys.argv = ['igny8-agent', '--version']\n"
        "cli.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=str(REPO))
    assert (result.returncode, result.stderr) == (0, "(0.0, 0.0) [] True\n"), result
    assert result.stdout.startswith("igny8-agent ")


def test_signal_at_a_random_moment_never_shows_a_traceback(agent):
    rng = random.Random(20240603)
    for run in range(6):
        signum = (signal.SIGTERM, signal.SIGINT)[run % 2]
        proc = agent.spawn("sync")
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signum)
        code, out, err = finish(proc, timeout=30)
        if not hit_the_interpreters_start_up(err):
            assert "Traceback" not in out + err, err
            assert len(message_lines(err)) <= 1, err
            # -signum: it arrived before Python ran any of the agent (or CPython's
            # `-m` reporting of a Ctrl-C caught after it hit an exec()).
            assert code in (0, 130, -signum), (code, err)
        agent.assert_intact(what=f"signal {run}")
    agent.recover("after the signals")


# -- leftovers ----------------------------------------------------------------------------


def test_only_temp_files_of_dead_writers_are_removed(tmp_path):
    """Removing leftovers needs no lock: a live writer's temp file is kept."""
    from igny8_agent.files import remove_stale_temp_files, write_atomic

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    try:
        names = {
            "live": f".site.toml.{live.pid}-abc123.tmp",
            "dead": f".site.toml.{dead.pid}-def456.tmp",
            "mine": f".site.toml.{os.getpid()}-ghi789.tmp",  # an earlier process with our pid
            "old": ".site.toml.jkl012.tmp",  # named before the pid was part of the name
        }
        for name in names.values():
            (tmp_path / name).write_text("half")
        (tmp_path / ".other.toml.1-x.tmp").write_text("another file's")
        remove_stale_temp_files(tmp_path, "site.toml")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["live"], ".other.toml.1-x.tmp"])
    finally:
        live.kill()
        live.wait(timeout=30)
    write_atomic(tmp_path / "site.toml", b"x = 1\n")  # its own temp file is renamed, not left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names["live"], ".other.toml.1-x.tmp", "site.toml"])


def test_an_interrupt_in_a_finalizer_is_put_off_not_lost():
    """A signal whose handler would raise inside ``__del__`` (the garbage
    collector runs finalizers anywhere, pymysql's result objects have one) is
    put off until the finalizer is over: the interrupt ends the command, and
    nothing prints "Exception ignored"."""
    script = (
        "import gc, signal, sys, time\n"
        "from igny8_agent import process\n"
        "def stop(signum, frame):\n"
        "    raise KeyboardInterrupt\n"
        "process.handle_signals({signal.SIGINT: stop})\n"
        "class Slow:\n"
        "    def __del__(self):\n"
        "        signal.raise_signal(signal.SIGINT)\n"
        "        time.sleep(0.05)\n"
        "try:\n"
        "    Slow()\n"
        "    time.sleep(2)\n"
        "    print('not interrupted')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=str(REPO))
    assert (result.stdout, result.stderr) == ("interrupted\n", ""), result


def test_an_error_a_finalizer_cannot_raise_is_one_line_and_nothing_after_an_interrupt():
    script = (
        "import signal, sys\n"
        "from igny8_agent import process\n"
        "process.handle_signals({signal.SIGINT: signal.default_int_handler})\n"
        "class Broken:\n"
        "    def __del__(self):\n"
        "        raise AttributeError('half made')\n"
        "Broken()\n"
        "process._interrupted.append(signal.SIGINT)\n"
        "Broken()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=str(REPO))
    assert result.returncode == 0
    assert result.stderr == "igny8-agent: warning: an error was ignored in Broken.__del__: AttributeError\n"
