"""Crash-safety and concurrency soak for igny8-agent.

Kills the agent at random moments and checks that what it leaves on disk is
always usable; starts many syncs of one site at once and checks that they
push one at a time.

* SIGKILL during ``sync`` and during ``connect`` (with a new key each time),
  0-400 ms after the start, the backend sometimes slowed down with the
  contract server's ``delay`` fault so that kills land mid-request.
* SIGKILL during a file write: the agent runs with ``os.fsync`` slowed down
  and is killed while one of its temp files exists (state, key file or
  config file between "written" and "renamed").
* After every kill: the state and config files parse (json / tomllib), the
  site and integration ids and ``last_success`` are intact, the key file
  holds the old or the new key (never none); then the next ``sync`` exits 0
  and no ``.*.tmp`` file is left in the state or config directory.
* SIGTERM / SIGINT while a request is in flight: exit 130, one line on
  stderr, no traceback, ``last_success`` unchanged.
* N syncs started at once: exit 0 or 7 ("another sync of this site is
  running"), or all 0 with ``--wait``; no two structure pushes overlap in
  time at the backend; the state is intact afterwards.

Everything is real: the agent as separate processes, a WordPress database
(WordPress's own schema, tests/wp_schema.py) created in the local MariaDB and
dropped at the end, the loopback contract server (tests/contract_server.py),
the agent's file keyring in a temp dir.

    .venv/bin/python bench/soak_crash.py --kills 200 [--concurrent 20] [--seed N] [--json]

``run(kills, concurrent)`` returns the rows that bench/soak.py prints:
``{"section", "kind", "runs", "as_expected"}`` (plus ``problems``: the first
few failures, described).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from conftest import _create_database, drop_database, write_wp_config  # noqa: E402
from contract_server import ContractServer  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOME = "https://soak.example.com"
EMAIL = "soak@example.com"
SERVICE = "igny8-agent"  # the key file's service name
PUSH = "update-structure"
BUSY = "another sync of this site is running"
TIMEOUT = 60.0  # no agent process may take longer
SECTION_CRASH = "crash safety"
SECTION_CONCURRENCY = "concurrency"

# The agent with os.fsync slowed down: a kill can then land while a temp file
# is written but not yet renamed (or renamed, the directory not yet synced).
SLOW_WRITES = (
    "import os, time\n"
    "_fsync = os.fsync\n"
    "def _slow_fsync(fd):\n"
    "    time.sleep(float(os.environ['IGNY8_SOAK_FSYNC_DELAY']))\n"
    "    return _fsync(fd)\n"
    "os.fsync = _slow_fsync\n"
    "from igny8_agent.__main__ import main\n"
    "main()\n"
)
FSYNC_DELAY = 0.15
# A sync to recover after every kill during a write, after every third random
# kill (kills in a row must not hurt either: the next killed run finds the
# leftovers of the previous one).
RECOVER_EVERY = 3


def new_key() -> str:
    return "igny8_soak-" + secrets.token_hex(12)


def overlapping(requests: Sequence[Any]) -> List[Tuple[Any, Any]]:
    """Pairs of requests whose [started, finished] intervals overlap."""
    spans = sorted(
        (r for r in requests if r.started is not None),
        key=lambda r: r.started,
    )
    pairs = []
    for i, first in enumerate(spans):
        end = first.finished if first.finished is not None else float("inf")
        for second in spans[i + 1:]:
            if second.started >= end:
                break
            pairs.append((first, second))
    return pairs


# -- a WordPress site in MariaDB -------------------------------------------------


def create_wordpress_db(home: str = HOME, posts: int = 5) -> str:
    """A fresh database with WordPress's tables and a freshly installed site
    (the test suite's own fixture code)."""
    db = _create_database("wp_")
    try:
        db.install(home)
        db.add_posts("post", "publish", posts - 1)
    except BaseException:
        drop_database(db.name)
        raise
    finally:
        db.conn.close()
    return db.name


# -- what the agent leaves on disk -------------------------------------------------


def temp_files(*directories: Path) -> List[Path]:
    """Files named like the agent's temp files (``.NAME.*.tmp``), anywhere below."""
    found: List[Path] = []
    for directory in directories:
        if directory.is_dir():
            found.extend(p for p in directory.rglob(".*.tmp") if p.is_file())
    return found


def read_json(path: Path) -> Tuple[Optional[Any], str]:
    try:
        return json.loads(path.read_text("utf-8")), ""
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, ValueError) as exc:
        return None, f"{path.name} does not parse: {exc}"


def read_toml(path: Path) -> Tuple[Optional[Dict[str, Any]], str]:
    try:
        return tomllib.loads(path.read_text("utf-8")), ""
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
        return None, f"{path.name} does not parse: {exc}"


class Agent:
    """One connected site: the WordPress root, the agent's directories and
    environment, the backend; runs the agent as separate processes."""

    def __init__(self, workdir: Path, server: ContractServer, db_name: str, account_id: int) -> None:
        self.server = server
        self.account_id = account_id
        self.root = write_wp_config(workdir / "wordpress", db_name)
        self.config_dir = workdir / "etc"
        self.state_dir = workdir / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IGNY8_")}
        self.env.update(
            IGNY8_CONFIG_DIR=str(self.config_dir),
            IGNY8_STATE_DIR=str(self.state_dir),
            IGNY8_KEYRING="file",
            IGNY8_API_URL=server.base_url,
            IGNY8_SOAK_FSYNC_DELAY=str(FSYNC_DELAY),
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.env.pop("PYTHON_KEYRING_BACKEND", None)
        self.key = ""  # the key the key file holds now
        self.expect: Dict[str, Any] = {}

    # running

    def command(self, args: Sequence[str], slow_writes: bool = False) -> List[str]:
        head = [sys.executable, "-c", SLOW_WRITES] if slow_writes else [sys.executable, "-m", "igny8_agent"]
        return [*head, *args, "--path", str(self.root)]

    def spawn(self, args: Sequence[str], key: Optional[str] = None, slow_writes: bool = False) -> subprocess.Popen:
        proc = subprocess.Popen(
            self.command(args, slow_writes), env=self.env, cwd=str(REPO),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None
        try:
            if key is not None:
                proc.stdin.write((key + "\n").encode())
            proc.stdin.close()
        except OSError:
            pass
        proc.stdin = None  # closed: communicate() must not touch it
        return proc

    def run(self, args: Sequence[str], key: Optional[str] = None) -> Tuple[int, str, str]:
        proc = self.spawn(args, key)
        return finish(proc)

    def connect(self, key: str) -> Tuple[int, str, str]:
        self.server.add_api_key(self.account_id, key)
        return self.run(["connect", "--api-key-stdin"], key)

    # files

    @property
    def state_file(self) -> Path:
        return next(iter(self.state_dir.glob("*.state.json")), self.state_dir / "missing.state.json")

    @property
    def config_file(self) -> Path:
        return next(iter((self.config_dir / "sites").glob("*.toml")), self.config_dir / "sites" / "missing.toml")

    @property
    def key_file(self) -> Path:
        return self.state_dir / "keyring.json"

    def leftovers(self) -> List[Path]:
        return temp_files(self.state_dir, self.config_dir)

    def stored_key(self) -> str:
        entries, error = read_json(self.key_file)
        if error or not isinstance(entries, dict):
            return ""
        return str(entries.get(SERVICE, {}).get(self.expect.get("key_entry", ""), "") or "")

    def remember(self) -> None:
        """What must survive every kill from now on (after a successful run)."""
        state, error = read_json(self.state_file)
        if error:
            raise RuntimeError(error)
        keys, error = read_json(self.key_file)
        if error:
            raise RuntimeError(error)
        entries = keys[SERVICE]
        self.key = entries[state["key_entry"]]
        self.expect = {k: state[k] for k in ("site_id", "integration_id", "key_entry", "api_url", "last_success")}

    def check(self, keys: Sequence[str] = ()) -> List[str]:
        """Problems with what is on disk now; ``keys``: the keys the key file may hold."""
        problems = []
        state, error = read_json(self.state_file)
        if error:
            problems.append("state: " + error)
        elif not isinstance(state, dict):
            problems.append("state: not a JSON object")
        else:
            for name in ("site_id", "integration_id", "key_entry", "api_url"):
                if state.get(name) != self.expect[name]:
                    problems.append(f"state: {name} is {state.get(name)!r}, was {self.expect[name]!r}")
            if not state.get("last_success"):
                problems.append("state: last_success lost")
            elif state["last_success"] < self.expect["last_success"]:
                problems.append("state: last_success went back in time")
        config, error = read_toml(self.config_file)
        if error:
            problems.append("config: " + error)
        elif (config or {}).get("wordpress", {}).get("path") != str(self.root):
            problems.append("config: [wordpress] path lost")
        entries, error = read_json(self.key_file)
        if error:
            problems.append("key file: " + error)
        else:
            stored = (entries or {}).get(SERVICE, {}).get(self.expect["key_entry"])
            if not stored:
                problems.append("key file: the key is missing or empty")
            elif stored not in (keys or (self.key,)):
                problems.append("key file: holds neither the old nor the new key")
        return problems


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> Tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return -999, out.decode("utf-8", "replace"), err.decode("utf-8", "replace") + "\n(timed out)"
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def start_run(agent: Any, during: str) -> Tuple[subprocess.Popen, Tuple[str, ...]]:
    """Start ``sync``, or ``connect`` with a new key; and the keys the key
    file may hold afterwards (the old one, or the new one)."""
    if during != "connect":
        return agent.spawn(["sync"]), (agent.key,)
    key = new_key()
    agent.server.add_api_key(agent.account_id, key)
    return agent.spawn(["connect", "--api-key-stdin"], key), (agent.key, key)


def kill_now(proc: subprocess.Popen) -> bool:
    """SIGKILL; True if the process was still running."""
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    finish(proc, timeout=10)
    return alive


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 20.0,
             step: float = 0.002) -> bool:
    """Poll ``condition`` until true (True), or until ``proc`` ends or time is up (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(step)
    return False


# -- the report ---------------------------------------------------------------------


class Tally:
    def __init__(self, section: str, kind: str) -> None:
        self.section, self.kind = section, kind
        self.runs = self.ok = 0
        self.notes: List[str] = []
        self.problems: List[str] = []

    def add(self, problems: Sequence[str], what: str = "") -> bool:
        self.runs += 1
        if problems:
            if len(self.problems) < 5:
                self.problems.append((what + ": " if what else "") + "; ".join(problems))
            return False
        self.ok += 1
        return True

    def row(self) -> Dict[str, Any]:
        row: Dict[str, Any] = {"section": self.section, "kind": self.kind, "runs": self.runs, "as_expected": self.ok}
        if self.notes:
            row["note"] = "; ".join(self.notes)
        if self.problems:
            row["problems"] = list(self.problems)
        return row


def _recover(agent: Agent, tally: Tally, what: str) -> None:
    """The run after a kill: it must succeed and leave no temp file behind."""
    code, _out, err = agent.run(["sync"])
    problems = []
    if code != 0:
        problems.append(f"next sync exited {code}: {err.strip()[-300:]}")
    left = agent.leftovers()
    if left:
        problems.append("temp files left: " + ", ".join(sorted(p.name for p in left)))
    tally.add(problems, what)
    if code == 0:
        agent.remember()


# -- the scenarios -------------------------------------------------------------------


def kill_at_random(agent: Agent, rng: random.Random, n: int, during: str,
                   tallies: Dict[str, Tally]) -> None:
    """SIGKILL ``sync`` or ``connect`` (a new key) 0-400 ms after it starts."""
    tally = tallies["kill " + during]
    landed = 0
    for i in range(n):
        agent.server.clear_faults()
        if rng.random() < 0.6:  # slow backend: the kill lands mid-request
            agent.server.inject("delay", count=None, path_contains=None if during == "connect" else PUSH,
                                seconds=rng.uniform(0.05, 0.4))
        proc, allowed = start_run(agent, during)
        time.sleep(rng.uniform(0.0, 0.4))
        landed += kill_now(proc)
        agent.server.clear_faults()
        problems = agent.check(allowed)
        tally.add(problems, f"{during} #{i + 1}")
        tallies["intact"].add(problems, f"{during} #{i + 1}")
        agent.key = agent.stored_key() or agent.key  # the old key of the next run
        if i % RECOVER_EVERY == RECOVER_EVERY - 1 or i == n - 1:
            _recover(agent, tallies["next run"], f"after {during} #{i + 1}")
    tally.notes.append(f"{landed} of {n} kills landed before the run ended")


def kill_while_writing(agent: Agent, rng: random.Random, n: int, tallies: Dict[str, Tally]) -> None:
    """SIGKILL while one of the agent's temp files exists (slow fsync)."""
    tally = tallies["kill write"]
    landed = 0
    for i in range(n):
        during = "connect" if i % 2 else "sync"
        # connect writes the key file, the state twice and the config file; sync the state once
        nth = rng.randint(1, 4) if during == "connect" else 1
        if during == "connect":
            key = new_key()
            agent.server.add_api_key(agent.account_id, key)
            proc = agent.spawn(["connect", "--api-key-stdin"], key, slow_writes=True)
            allowed = (agent.key, key)
        else:
            proc = agent.spawn(["sync"], slow_writes=True)
            allowed = (agent.key,)
        seen: set = set()

        def nth_temp_file() -> bool:
            seen.update(p.name for p in agent.leftovers())
            return len(seen) >= nth

        hit = wait_for(nth_temp_file, proc, timeout=30.0, step=0.001)
        if hit:
            time.sleep(rng.uniform(0.0, FSYNC_DELAY * 1.5))
        alive = kill_now(proc)
        landed += hit and alive
        problems = agent.check(allowed)
        what = f"{during} write {nth} #{i + 1}"
        tally.add(problems, what)
        tallies["intact"].add(problems, what)
        _recover(agent, tallies["next run"], "after " + what)
    tally.notes.append(f"{landed} of {n} kills landed during a write")


def interrupt_mid_request(agent: Agent, rng: random.Random, n: int, signum: int, tally: Tally) -> None:
    """SIGTERM / SIGINT while the backend holds a request: 130, one line, no traceback."""
    name = signal.Signals(signum).name
    for i in range(n):
        during = "connect" if i % 2 else "sync"
        before = agent.expect["last_success"]
        agent.server.clear_faults()
        agent.server.clear_requests()
        target = "auth/me" if during == "connect" and rng.random() < 0.5 else PUSH
        agent.server.inject("delay", count=None, path_contains=target, seconds=5.0)
        proc, allowed = start_run(agent, during)
        problems = []
        if not wait_for(lambda: bool(agent.server.requests_to(target)), proc, timeout=30.0, step=0.005):
            problems.append(f"the {target} request never arrived")
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signum)
        code, out, err = finish(proc, timeout=30)
        agent.server.clear_faults()
        lines = message_lines(err)
        if code != 130:
            problems.append(f"exit {code}, not 130")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr: {err.strip()[-300:]!r}")
        if "Traceback" in err + out:
            problems.append("a traceback")
        problems += agent.check(allowed)
        state, _ = read_json(agent.state_file)
        if isinstance(state, dict) and state.get("last_success") != before:
            problems.append("last_success changed although the push was interrupted")
        tally.add(problems, f"{name} during {during} #{i + 1}")
        _recover(agent, Tally("", ""), "")


def signal_at_random(agent: Agent, rng: random.Random, n: int, tally: Tally) -> None:
    """SIGTERM or SIGINT 0-400 ms after the start: whatever it interrupts, no
    traceback, at most one line, 130 (or 0 when the run was already done)."""
    codes: Dict[str, int] = {}
    for i in range(n):
        signum = signal.SIGTERM if i % 2 else signal.SIGINT
        during = "connect" if i % 4 >= 2 else "sync"
        proc, allowed = start_run(agent, during)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signum)
        code, out, err = finish(proc, timeout=30)
        problems = []
        if interpreter_starting(err):
            # Ctrl-C while Python itself starts (its site module, .pth files),
            # before any agent code runs: Python's own traceback, not the agent's.
            codes["in Python's start-up"] = codes.get("in Python's start-up", 0) + 1
        else:
            codes[str(code)] = codes.get(str(code), 0) + 1
            if "Traceback" in out + err:
                problems.append("a traceback: " + err.strip()[-300:])
            # -N: the signal arrived while the interpreter itself was starting, before
            # any agent code ran; CPython under -m also reports a caught Ctrl-C that way
            # when it landed inside an exec() (its "unhandled_keyboard_interrupt" flag).
            if code not in (0, 130, -signum):
                problems.append(f"exit {code}")
            if len(message_lines(err)) > 1:
                problems.append(f"{len(message_lines(err))} lines on stderr: {err.strip()[-300:]!r}")
        problems += agent.check(allowed)
        tally.add(problems, f"{signal.Signals(signum).name} during {during} #{i + 1}")
        _recover(agent, Tally("", ""), "")
    tally.notes.append("exit codes " + ", ".join(f"{c}: {k}" for c, k in sorted(codes.items())))


def interpreter_starting(stderr: str) -> bool:
    """Whether the output is Python's own, from before it ran any agent code."""
    return "<frozen site>" in stderr or "init_import_site" in stderr


PROGRESS = ("Authenticating…", "Connected", "Structure syncing…", "Connected & Ready",
            "Reading the WordPress database…")


def message_lines(stderr: str) -> List[str]:
    """stderr without connect's progress lines (printed when stderr is not a terminal)."""
    return [line for line in stderr.splitlines()
            if line.strip() and line.strip()[len("igny8-agent: "):] not in PROGRESS]


def concurrent_syncs(agent: Agent, n: int, wait: bool, tallies: Dict[str, Tally]) -> None:
    """``n`` syncs of the site started at once."""
    agent.server.clear_faults()
    agent.server.clear_requests()
    # Slow pushes: without --wait the first holder keeps the lock while the rest start.
    agent.server.inject("delay", count=None, path_contains=PUSH, seconds=0.1 if wait else 1.5)
    args = ["sync"] + (["--wait", str(max(30, n * 2))] if wait else [])
    started = threading.Barrier(n)
    results: List[Tuple[int, str, str]] = [(-999, "", "")] * n

    def one(index: int) -> None:
        started.wait()
        results[index] = finish(agent.spawn(args))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT + 15)
    agent.server.clear_faults()

    tally = tallies["concurrent wait" if wait else "concurrent"]
    ok = 0
    for index, (code, out, err) in enumerate(results):
        problems = []
        if "Traceback" in out + err:
            problems.append("a traceback")
        if code == 0:
            ok += 1
        elif code == 7 and not wait:
            if BUSY not in err or len(err.strip().splitlines()) != 1:
                problems.append(f"exit 7 without the one-line message: {err.strip()[-200:]!r}")
        else:
            problems.append(f"exit {code}: {err.strip()[-200:]!r}")
        tally.add(problems, f"process {index + 1}")

    pushes = agent.server.requests_to(PUSH, "POST") or agent.server.requests_to(PUSH)
    overlaps = overlapping(pushes)
    in_overlap = {id(r) for pair in overlaps for r in pair}
    one_at_a_time = tallies["one at a time"]
    for request in pushes:
        one_at_a_time.add(["overlaps another push"] if id(request) in in_overlap else [],
                          f"{'--wait ' if wait else ''}push")
    problems = []
    if len(pushes) != ok:
        problems.append(f"{len(pushes)} pushes for {ok} successful syncs")
    if ok < 1:
        problems.append("no sync succeeded")
    problems += agent.check((agent.key,))
    if agent.leftovers():
        problems.append("temp files left")
    tallies["corruption"].add(problems, "--wait round" if wait else "round")
    if not problems:
        agent.remember()


# -- the whole soak --------------------------------------------------------------------


def run(kills: int = 200, concurrent: int = 20, seed: Optional[int] = None,
        progress: Callable[[str], None] = lambda text: None) -> List[Dict[str, Any]]:
    """Run the soak; returns the report rows."""
    rng = random.Random(seed)
    kills = max(3, int(kills))
    concurrent = max(2, int(concurrent))
    tallies = {
        "kill sync": Tally(SECTION_CRASH, "SIGKILL during sync (0-400 ms, backend sometimes slow)"),
        "kill connect": Tally(SECTION_CRASH, "SIGKILL during connect with a new key (0-400 ms)"),
        "kill write": Tally(SECTION_CRASH, "SIGKILL during a state/key/config file write"),
        "intact": Tally(SECTION_CRASH, "state intact after kill (files parse, ids, last_success, key old or new)"),
        "next run": Tally(SECTION_CRASH, "next sync after a kill: exit 0, no .*.tmp left"),
        "sigterm": Tally(SECTION_CRASH, "SIGTERM mid-request: exit 130, one line, no traceback"),
        "sigint": Tally(SECTION_CRASH, "SIGINT mid-request: exit 130, one line, no traceback"),
        "signal random": Tally(SECTION_CRASH, "SIGTERM/SIGINT at a random moment: no traceback, <= 1 line"),
        "concurrent": Tally(SECTION_CONCURRENCY, f"concurrent syncs: {concurrent} at once, exit 0 or 7 (busy)"),
        "concurrent wait": Tally(SECTION_CONCURRENCY, f"concurrent syncs: {concurrent} at once with --wait, all exit 0"),
        "one at a time": Tally(SECTION_CONCURRENCY, "concurrent syncs: one at a time (no overlapping pushes)"),
        "corruption": Tally(SECTION_CONCURRENCY, "concurrent syncs: corruptions (state, key, temp files)"),
    }
    workdir = Path(tempfile.mkdtemp(prefix="igny8-soak-crash-"))
    server = ContractServer(page_size=2)
    db_name = ""
    try:
        db_name = create_wordpress_db()
        server.start()
        key = new_key()
        account = server.add_account("Soak", EMAIL, key)
        server.add_site(account, HOME, name="Soak")
        agent = Agent(workdir, server, db_name, account)
        code, _out, err = agent.run(["connect", "--api-key-stdin"], key)
        if code != 0:
            raise RuntimeError(f"the first connect failed (exit {code}): {err.strip()}")
        agent.remember()

        n_sync = kills * 2 // 5
        n_connect = kills * 3 // 10
        n_write = kills - n_sync - n_connect
        progress(f"SIGKILL during sync x{n_sync}")
        kill_at_random(agent, rng, n_sync, "sync", tallies)
        progress(f"SIGKILL during connect x{n_connect}")
        kill_at_random(agent, rng, n_connect, "connect", tallies)
        progress(f"SIGKILL during file writes x{n_write}")
        kill_while_writing(agent, rng, n_write, tallies)
        n_signal = max(2, kills // 25)
        progress(f"SIGTERM and SIGINT mid-request x{n_signal} each")
        interrupt_mid_request(agent, rng, n_signal, signal.SIGTERM, tallies["sigterm"])
        interrupt_mid_request(agent, rng, n_signal, signal.SIGINT, tallies["sigint"])
        n_random = max(4, kills // 10)
        progress(f"SIGTERM / SIGINT at random moments x{n_random}")
        signal_at_random(agent, rng, n_random, tallies["signal random"])
        progress(f"{concurrent} concurrent syncs")
        concurrent_syncs(agent, concurrent, wait=False, tallies=tallies)
        progress(f"{concurrent} concurrent syncs with --wait")
        concurrent_syncs(agent, concurrent, wait=True, tallies=tallies)
    finally:
        server.stop()
        if db_name:
            drop_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)
    return [t.row() for t in tallies.values()]


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    head = ("section", "kind", "runs", "as expected", "failures")
    body = [(str(r["section"]), str(r["kind"]), str(r["runs"]), str(r["as_expected"]),
             str(r["runs"] - r["as_expected"])) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(head), "-+-".join("-" * w for w in widths)]
    out += [line(cells) for cells in body]
    for r in rows:
        if r.get("note"):
            out.append(f"  - {r['kind']}: {r['note']}")
        for problem in r.get("problems", []):
            out.append(f"  ! {r['kind']}: {problem}")
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Kill igny8-agent at random points and run syncs concurrently.")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs in all (sync, connect, file writes)")
    parser.add_argument("--concurrent", type=int, default=20, help="syncs started at once")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = run(args.kills, args.concurrent, seed=args.seed,
               progress=lambda text: print(f"soak_crash: {text}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
        print(f"({time.monotonic() - started:.0f} s)")
    return 0 if all(r["runs"] == r["as_expected"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
