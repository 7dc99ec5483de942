"""Backend faults, end to end: one scenario per fault, shared by
``tests/test_faults.py`` (each scenario once) and ``bench/soak_faults.py``
(each scenario many times).

A scenario uses real parts only: the agent as a separate process (as cron
runs it), the loopback contract server (``contract_server.py``, over HTTPS
where the scenario is about TLS), and a WordPress database in the local
MariaDB that it creates and drops. It connects the site (the previous good
run), injects the fault, runs ``sync`` and checks how the run ended:

* the exit code: 6 for a temporary failure (408, 429, 500, 502, 503, 504,
  connection refused / reset, timeouts, an answer slower than the request
  timeout), 5 when the backend's answer is
  refused and retrying cannot help (not JSON, wrong shape, too large, a
  redirect to another origin, a certificate that is not trusted);
* one line on stderr naming the problem, no traceback, the API key nowhere;
* the state file: ``last_error`` with its time, HTTP status and message,
  ``temporary`` matching the exit code, and the last success (time, backend
  fetch time, counts) unchanged;
* for temporary faults: the run retried within its budget (and, for
  ``Retry-After`` beyond the budget, did not wait); then, with the fault
  failing only the next attempt, the next run retries through it and succeeds.

A failed check raises ``ScenarioFailed`` saying what was expected and what the
run printed. Every agent process is bounded (``PROCESS_TIMEOUT``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import trustme

from conftest import API_KEY, HOME, _create_database, admin_connect, drop_database, write_wp_config  # noqa: F401
from contract_server import ContractServer

REPO = Path(__file__).resolve().parent.parent

BUDGET = 3.0  # the run's retry budget (config backend --retry-budget)
TIMEOUT = 2.0  # seconds per request (config backend --timeout)
SHORT_TIMEOUT = 1.0  # for the faults that are timeouts: keeps retries inside the budget
SLACK = 5.0  # process start-up and the database read, on top of budget + one timeout
PROCESS_TIMEOUT = 60  # no agent process may run longer
MEMORY_SLACK_KIB = 20 * 1024  # a refused 50 MB answer may cost at most this over a good run
TRANSIENT_SAYS = ("the backend is unavailable", "the next run will retry")
PUSH = "update-structure"


class ScenarioFailed(AssertionError):
    """A run did not end as the scenario expects."""


@dataclass
class Run:
    """One agent process: exit code, output, wall time, peak RSS (KiB, when measured)."""

    args: Sequence[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_kib: Optional[int] = None

    def show(self) -> str:
        return "`igny8-agent %s` -> exit %s in %.1f s\n--- stdout:\n%s--- stderr:\n%s" % (
            " ".join(self.args), self.code, self.seconds, self.stdout, self.stderr)


def expect(condition: Any, what: str, run: Optional[Run] = None) -> None:
    if not condition:
        raise ScenarioFailed(what + ("\n" + run.show() if run is not None else ""))


# -- certificates ------------------------------------------------------------------


class Certificates:
    """A private CA (its bundle in a file, as an operator would configure it)
    and server-side TLS contexts for 127.0.0.1 / localhost: issued by that CA,
    issued by it but expired, or self-signed."""

    HOSTS = ("127.0.0.1", "localhost")

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ca = trustme.CA()
        self.bundle = workdir / "igny8-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))

    def good(self) -> ssl.SSLContext:
        return self._context(self.ca.issue_cert(*self.HOSTS))

    def expired(self) -> ssl.SSLContext:
        now = _dt.datetime.now(_dt.timezone.utc)
        leaf = self.ca.issue_cert(
            *self.HOSTS, not_before=now - _dt.timedelta(days=30), not_after=now - _dt.timedelta(days=1))
        return self._context(leaf)

    def self_signed(self) -> ssl.SSLContext:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = _dt.datetime.now(_dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_file = self.workdir / "self-signed.pem"
        key_file = self.workdir / "self-signed.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert_file), str(key_file))
        return context

    @staticmethod
    def _context(leaf: "trustme.LeafCert") -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context


# -- one connected site against one loopback backend -----------------------------------


class Harness:
    """A WordPress site on a fresh database, the agent's own config/state/keyring
    directories, and the loopback backend it talks to."""

    def __init__(self, workdir: Path, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.workdir = workdir
        self.server = ContractServer(page_size=2, ssl_context=ssl_context).start()
        self.db = None
        try:
            account = self.server.add_account("Acme", "dev@igny8.com", API_KEY)
            self.site_id = self.server.add_site(account, "https://www.Example.com/", name="Example")
            self.db = _create_database("wp_")
            self.db.install(HOME)
            self.db.add_posts("post", "publish", 4)
            self.root = write_wp_config(workdir / "wordpress", self.db.name)
        except BaseException:
            self.close()
            raise
        self.state_dir = workdir / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IGNY8_")}
        env.update({
            "IGNY8_CONFIG_DIR": str(workdir / "etc"),
            "IGNY8_STATE_DIR": str(self.state_dir),
            "IGNY8_KEYRING": "file",
            "IGNY8_API_URL": self.server.base_url,
        })
        self.env = env

    def close(self) -> None:
        self.server.stop()
        if self.db is not None:
            self.db.conn.close()
            drop_database(self.db.name)
            self.db = None

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- running the agent

    def run(self, *args: str, input: Optional[str] = None, measure: bool = False,
            verbose: bool = False) -> Run:
        argv = (["-v"] if verbose else []) + list(args) + ["--path", str(self.root)]
        command = [sys.executable, "-m", "igny8_agent", *argv]
        if measure:
            return _run_measured(command, argv, self.env)
        started = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=str(REPO),
                                  input=input, timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise ScenarioFailed("`igny8-agent %s` ran longer than %d s (killed)"
                                 % (" ".join(argv), PROCESS_TIMEOUT)) from exc
        return Run(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def sync(self, **kwargs: Any) -> Run:
        return self.run("sync", **kwargs)

    def sync_watching(self, line_contains: str, action: Callable[[], Any]) -> Run:
        """``-v sync``, calling ``action`` once when a stderr line contains ``line_contains``."""
        argv = ["-v", "sync", "--path", str(self.root)]
        lines: List[str] = []

        def watch(stream: Any) -> None:
            acted = False
            for line in stream:
                lines.append(line)
                if not acted and line_contains in line:
                    acted = True
                    action()

        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen([sys.executable, "-m", "igny8_agent", *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.PIPE, text=True, env=self.env, cwd=str(REPO))
            watcher = threading.Thread(target=watch, args=(proc.stderr,), daemon=True)
            watcher.start()
            try:
                code = proc.wait(timeout=PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                proc.wait()
                raise ScenarioFailed("`igny8-agent %s` ran longer than %d s (killed)"
                                     % (" ".join(argv), PROCESS_TIMEOUT)) from exc
            finally:
                watcher.join(5)
                proc.stderr.close()
            out.seek(0)
            return Run(argv, code, out.read(), "".join(lines), time.monotonic() - started)

    def connect(self) -> Run:
        return self.run("connect", "--api-key-stdin", input=API_KEY + "\n")

    def configure(self, *args: str) -> None:
        run = self.run("config", "backend", *args)
        expect(run.code == 0, "config backend %s failed" % " ".join(args), run)

    def state(self) -> Dict[str, Any]:
        files = list(self.state_dir.glob("*.state.json"))
        return json.loads(files[0].read_text("utf-8")) if files else {}

    def state_text(self) -> str:
        return "".join(p.read_text("utf-8") for p in self.state_dir.glob("*.state.json"))

    def pushes(self) -> int:
        return len(self.server.requests_to(PUSH, "POST"))

    # -- the previous good run

    def connected(self, timeout: float = TIMEOUT, *extra: str) -> Dict[str, Any]:
        """Set the budget and timeout, connect (a good push); the state after it."""
        self.configure("--retry-budget", "%g" % BUDGET, "--timeout", "%g" % timeout, *extra)
        run = self.connect()
        expect(run.code == 0, "connect (the previous good run) failed", run)
        state = self.state()
        expect(state.get("last_success") and not state.get("last_error"),
               "connect did not record a success: %r" % state, run)
        return state


def _run_measured(command: List[str], argv: Sequence[str], env: Dict[str, str]) -> Run:
    """Run a process and read its own peak RSS (``wait4``: this child only)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                cwd=str(REPO), text=True)
        deadline = started + PROCESS_TIMEOUT
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -signal.SIGKILL
                raise ScenarioFailed("`igny8-agent %s` ran longer than %d s (killed)"
                                     % (" ".join(argv), PROCESS_TIMEOUT))
            time.sleep(0.01)
        seconds = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else (
            os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
        proc.returncode = code  # reaped here; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return Run(argv, code, out.read(), err.read(), seconds, peak_kib=int(usage.ru_maxrss))


# -- how runs must end -------------------------------------------------------------


def check_failed(h: Harness, run: Run, before: Dict[str, Any], *, code: int, says: Sequence[str],
                 status: Optional[int], attempts: Optional[int] = None,
                 max_seconds: Optional[float] = None, says_not: Sequence[str] = ()) -> Dict[str, Any]:
    """The run failed as expected; returns the state after it."""
    output = run.stdout + run.stderr
    expect(run.code == code, "expected exit %d" % code, run)
    expect("Traceback" not in output, "a traceback was printed", run)
    lines = run.stderr.strip().splitlines()
    expect(len(lines) == 1, "expected one line on stderr, got %d" % len(lines), run)
    expect(not run.stdout.strip(), "expected nothing on stdout", run)
    for words in says:
        expect(words.lower() in run.stderr.lower(), "stderr does not say %r" % words, run)
    for words in says_not:
        expect(words.lower() not in run.stderr.lower(), "stderr should not say %r" % words, run)
    expect(API_KEY not in output and API_KEY not in h.state_text(), "the API key was shown or stored", run)
    if max_seconds is not None:
        expect(run.seconds <= max_seconds, "the run took %.1f s, over %.1f s" % (run.seconds, max_seconds), run)

    after = h.state()
    error = after.get("last_error") or {}
    expect(set(error) >= {"at", "message", "status", "temporary"}, "last_error not recorded: %r" % error, run)
    expect(error["at"] >= before["last_success"], "last_error.at %r is older than the last success"
           % error["at"], run)
    expect(error["message"] and error["message"] in run.stderr,
           "last_error.message %r is not the message shown" % error["message"], run)
    expect(error["status"] == status, "last_error.status is %r, expected %r" % (error["status"], status), run)
    expect(error["temporary"] is (code == 6), "last_error.temporary is %r" % error["temporary"], run)
    for key in ("last_success", "last_structure_fetch", "last_counts", "integration_id", "site_id"):
        expect(after.get(key) == before.get(key), "%s changed: %r -> %r"
               % (key, before.get(key), after.get(key)), run)
    if attempts is not None:
        expect(transient_attempts(run) == attempts, "expected %d attempt(s)" % attempts, run)
    return after


def transient_attempts(run: Run) -> int:
    """The attempts a temporary failure's message reports ("(3 attempts in 2 s")."""
    found = re.search(r"\((\d+) attempts? in ", run.stderr)
    return int(found.group(1)) if found else 0


def check_ok(h: Harness, run: Run, before: Dict[str, Any]) -> Dict[str, Any]:
    expect(run.code == 0, "expected the run to succeed", run)
    expect("Traceback" not in run.stdout + run.stderr, "a traceback was printed", run)
    expect("sync ok" in run.stdout, "no 'sync ok' line", run)
    after = h.state()
    expect(after.get("last_error") == {}, "last_error not cleared: %r" % after.get("last_error"), run)
    expect(after.get("last_success", "") >= before["last_success"], "last_success went back", run)
    expect(after.get("last_structure_fetch"), "no last_structure_fetch", run)
    expect(after.get("integration_id") == before.get("integration_id"), "integration changed", run)
    return after


# -- the scenarios --------------------------------------------------------------------

Inject = Callable[..., None]


def transient(h: Harness, inject: Inject, *, status: Optional[int], says: Sequence[str] = (),
              says_not: Sequence[str] = (), timeout: float = TIMEOUT, min_attempts: int = 2, min_seconds: float = 0.0,
              retry_min_seconds: float = 0.0) -> None:
    """A temporary fault: retried within the budget, then recorded with exit 6;
    the next run retries through one more failure and succeeds."""
    before = h.connected(timeout)
    pushed = h.pushes()
    inject(count=None)
    run = h.sync()
    check_failed(h, run, before, code=6, says=TRANSIENT_SAYS + tuple(says), status=status,
                 max_seconds=BUDGET + timeout + SLACK, says_not=says_not)
    attempts = transient_attempts(run)
    expect(attempts >= min_attempts, "expected at least %d attempts within the budget" % min_attempts, run)
    expect(h.pushes() - pushed == attempts, "the backend saw %d pushes for %d attempts"
           % (h.pushes() - pushed, attempts), run)
    expect(run.seconds >= min_seconds, "the run did not wait (%.1f s < %.1f s)" % (run.seconds, min_seconds), run)

    h.server.clear_faults()
    pushed = h.pushes()
    inject(count=1)
    again = h.sync()
    check_ok(h, again, before)
    expect(h.pushes() - pushed == 2, "expected one failed attempt and one retry, the backend saw %d"
           % (h.pushes() - pushed), again)
    expect(again.seconds >= retry_min_seconds, "the retry did not wait (%.1f s < %.1f s)"
           % (again.seconds, retry_min_seconds), again)


def refused(h: Harness, inject: Inject, *, says: Sequence[str], status: Optional[int] = None,
            says_not: Sequence[str] = ()) -> Dict[str, Any]:
    """An answer retrying cannot fix: exit 5 at once, one attempt; the next
    run (fault gone) succeeds."""
    before = h.connected()
    pushed = h.pushes()
    inject(count=None)
    run = h.sync()
    check_failed(h, run, before, code=5, says=says, status=status, max_seconds=SLACK, says_not=says_not)
    expect(h.pushes() - pushed == 1, "expected exactly one attempt, the backend saw %d"
           % (h.pushes() - pushed), run)
    h.server.clear_faults()
    return check_ok(h, h.sync(), before)


def _fault(h: Harness, kind: str, **opts: Any) -> Inject:
    def inject(count: Optional[int]) -> None:
        h.server.inject(kind, count=count, path_contains=PUSH, **opts)
    return inject


def status_fault(status: int) -> Callable[[Harness], None]:
    def scenario(h: Harness) -> None:
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout", 408: "Request Timeout"}[status]
        transient(h, _fault(h, "status", status=status), status=status, says=("%d %s" % (status, reason),))
    return scenario


def retry_after_seconds(h: Harness) -> None:
    # Each retry waits the asked second (at least); within a 3 s budget that is
    # two or three attempts, depending on the jitter.
    transient(h, _fault(h, "status", status=429, retry_after=1), status=429,
              says=("429 Too Many Requests",), min_attempts=2, min_seconds=1.0, retry_min_seconds=1.0)
    # Asked to wait longer than the whole budget: no waiting, no retry.
    before = h.state()
    h.server.inject("status", count=None, path_contains=PUSH, status=429, retry_after=3600)
    run = h.sync()
    check_failed(h, run, before, code=6, says=TRANSIENT_SAYS + ("asked to wait 3600 s",), status=429,
                 attempts=1, max_seconds=SLACK)


def retry_after_http_date(h: Harness) -> None:
    before = h.connected()
    # A date beyond the budget: recorded at once (Retry-After measured against the server's Date).
    far = formatdate(time.time() + 3600, usegmt=True)
    h.server.inject("status", count=None, path_contains=PUSH, status=429, headers={"Retry-After": far})
    run = h.sync()
    check_failed(h, run, before, code=6, says=TRANSIENT_SAYS + ("429 Too Many Requests",), status=429,
                 attempts=1, max_seconds=SLACK)
    expect(re.search(r"asked to wait 3[56]\d\d s", run.stderr), "does not say how long it was asked to wait", run)
    # A date two seconds ahead: waited out, then the retry succeeds.
    h.server.clear_faults()
    pushed = h.pushes()
    soon = formatdate(time.time() + 2, usegmt=True)
    h.server.inject("status", count=1, path_contains=PUSH, status=429, headers={"Retry-After": soon})
    again = h.sync()
    check_ok(h, again, before)
    expect(h.pushes() - pushed == 2, "expected one 429 and one retry", again)
    expect(again.seconds >= 1.0, "the Retry-After date was not waited for", again)


def connection_refused(h: Harness) -> None:
    before = h.connected()
    h.server.stop()
    run = h.sync()
    check_failed(h, run, before, code=6, says=TRANSIENT_SAYS + ("connection refused",), status=None,
                 max_seconds=BUDGET + SLACK)
    expect(transient_attempts(run) >= 2, "expected retries within the budget", run)
    # The backend comes back while the next run is retrying: started as soon
    # as the run reports (-v) its first refused attempt; a longer budget so
    # that the backoff surely reaches it.
    h.configure("--retry-budget", "10")
    pushed = h.pushes()
    again = h.sync_watching("failed: ConnectError", h.server.start)
    check_ok(h, again, before)
    expect(re.search(r"failed: ConnectError", again.stderr), "the run did not retry a refused connection", again)
    expect(h.pushes() - pushed == 1, "expected the retried push to arrive once", again)
    expect(API_KEY not in again.stderr, "-v showed the API key", again)


def connection_reset(h: Harness) -> None:
    partial = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 120\r\n\r\n"
               b'{"success": true, "da')
    transient(h, _fault(h, "reset", partial=partial), status=None, says=("connection failed",))


def read_timeout(h: Harness) -> None:
    transient(h, _fault(h, "hang", seconds=30), status=None, timeout=SHORT_TIMEOUT,
              says=("connection failed", "ReadTimeout"))


def stall_after_headers(h: Harness) -> None:
    transient(h, _fault(h, "stall_after_headers", seconds=30, content_length=200, body_prefix='{"success"'),
              status=None, timeout=SHORT_TIMEOUT, says=("connection failed", "ReadTimeout"))


def slow_drip(h: Harness) -> None:
    # One byte every 0.4 s: no single read times out, but the whole answer
    # (about 7 s) would run past the budget; --timeout bounds each request.
    transient(h, _fault(h, "drip", interval=0.4), status=None, timeout=SHORT_TIMEOUT,
              says=("connection failed", "took longer than"))


def html_502_page(h: Harness) -> None:
    # The message names the status; the proxy's HTML is not dumped into it.
    transient(h, _fault(h, "html", status=502), status=502, says=("502 Bad Gateway",),
              says_not=("<html", "nginx"))


def html_200_page(h: Harness) -> None:
    refused(h, _fault(h, "html"), says=("is not JSON", "text/html", "--api-url"), says_not=("<html",))


def not_json(h: Harness) -> None:
    refused(h, _fault(h, "not_json"), says=("is not JSON",))


def wrong_shape(h: Harness) -> None:
    refused(h, _fault(h, "wrong_shape"), says=("not a JSON object", "a list"))


def huge_body(h: Harness) -> None:
    h.configure("--retry-budget", "%g" % BUDGET, "--timeout", "%g" % TIMEOUT)
    expect(h.connect().code == 0, "connect failed")
    good = h.sync(measure=True)
    before = check_ok(h, good, h.state())
    for chunked in (False, True):
        pushed = h.pushes()
        h.server.inject("huge", count=None, path_contains=PUSH, size=50 * 1024 * 1024, chunked=chunked)
        run = h.sync(measure=True)
        check_failed(h, run, before, code=5, says=("larger than 5 MiB", "not read"), status=None,
                     max_seconds=SLACK)
        expect(h.pushes() - pushed == 1, "a refused 50 MB answer was retried", run)
        expect(run.peak_kib is not None and good.peak_kib is not None
               and run.peak_kib - good.peak_kib <= MEMORY_SLACK_KIB,
               "peak RSS %s KiB vs %s KiB for a good run (chunked=%s)" % (run.peak_kib, good.peak_kib, chunked),
               run)
        h.server.clear_faults()
    check_ok(h, h.sync(), before)


def redirect_elsewhere(h: Harness) -> None:
    other = _other_host_server()
    try:
        before = h.connected()
        integration = before["integration_id"]
        target = "%s/integration/integrations/%d/update-structure/" % (other.base_url, integration)
        pushed = h.pushes()
        h.server.inject("redirect", count=None, path_contains=PUSH, status=307, location=target)
        run = h.sync()
        check_failed(h, run, before, code=5, says=("redirected to " + other.origin, "not followed"), status=307,
                     max_seconds=SLACK)
        expect(h.pushes() - pushed == 1, "the redirect was retried", run)
        # A GET (status reads the backend's content types) is not followed there either.
        h.server.inject("redirect", count=None, path_contains="content-types", status=302,
                        location="%s/integration/integrations/%d/content-types/" % (other.base_url, integration))
        status = h.run("status", "--json")
        expect(status.code == 5, "status: expected exit 5 for a redirect to another host", status)
        expect(other.origin in (json.loads(status.stdout or "{}").get("remote_error") or ""),
               "status does not name the redirect target", status)
        expect("Traceback" not in status.stderr and API_KEY not in status.stdout + status.stderr,
               "status printed a traceback or the key", status)
        expect(other.requests == [], "the other host received %d request(s), Authorization: %r"
               % (len(other.requests), [r.headers.get("authorization") for r in other.requests]))
        h.server.clear_faults()
        check_ok(h, h.sync(), before)
    finally:
        other.stop()


def _other_host_server() -> ContractServer:
    """Another origin on loopback: 127.0.0.2 where it can be bound, else another port."""
    try:
        return ContractServer("127.0.0.2").start()
    except OSError:
        return ContractServer("127.0.0.1").start()


def _swap_certificate(h: Harness, context: ssl.SSLContext) -> None:
    h.server.stop()
    h.server.ssl_context = context
    h.server.start()


def tls_untrusted(h: Harness, certs: Certificates, context: ssl.SSLContext, says: Sequence[str]) -> None:
    """The backend's certificate changes to one that must be refused: exit 5,
    nothing sent; with the trusted one back, the next run succeeds."""
    before = h.connected(TIMEOUT, "--ca-bundle", str(certs.bundle))
    seen = len(h.server.requests)
    _swap_certificate(h, context)
    run = h.sync()
    check_failed(h, run, before, code=5, says=("TLS certificate was not accepted",) + tuple(says),
                 status=None, max_seconds=SLACK)
    expect(len(h.server.requests) == seen, "a request was sent over a refused TLS connection", run)
    _swap_certificate(h, certs.good())
    check_ok(h, h.sync(), before)


def tls_self_signed(h: Harness, certs: Certificates) -> None:
    tls_untrusted(h, certs, certs.self_signed(), says=("self", "signed"))


def tls_expired(h: Harness, certs: Certificates) -> None:
    tls_untrusted(h, certs, certs.expired(), says=("expired",))


def tls_ca_bundle(h: Harness, certs: Certificates) -> None:
    # Without the bundle the private CA is not trusted: refused, nothing sent, no key kept.
    h.configure("--retry-budget", "%g" % BUDGET, "--timeout", "%g" % TIMEOUT)
    run = h.connect()
    expect(run.code == 5, "connect without the CA bundle: expected exit 5", run)
    last = run.stderr.strip().splitlines()[-1:]
    expect(last and "TLS certificate was not accepted" in last[0] and "CA bundle" in last[0],
           "the refusal does not say why", run)
    expect("Traceback" not in run.stderr and API_KEY not in run.stdout + run.stderr, "traceback or key shown", run)
    expect(h.server.requests == [], "a request was sent over an untrusted TLS connection", run)
    keyring = h.state_dir / "keyring.json"
    expect(not keyring.exists() or API_KEY not in keyring.read_text("utf-8"), "the key was stored", run)
    # With it: accepted, end to end.
    before = h.connected(TIMEOUT, "--ca-bundle", str(certs.bundle))
    check_ok(h, h.sync(), before)
    expect(all(r.headers.get("authorization") == "Bearer " + API_KEY for r in h.server.requests),
           "requests over TLS lack the key")


@dataclass(frozen=True)
class Scenario:
    slug: str  # test id
    kind: str  # as the soak table shows it
    run: Callable[..., None]
    tls: bool = False


SCENARIOS = [
    Scenario("status-500", "500 Internal Server Error", status_fault(500)),
    Scenario("status-502", "502 Bad Gateway", status_fault(502)),
    Scenario("status-503", "503 Service Unavailable", status_fault(503)),
    Scenario("status-504", "504 Gateway Timeout", status_fault(504)),
    Scenario("status-408", "408 Request Timeout", status_fault(408)),
    Scenario("429-retry-after-seconds", "429, Retry-After in seconds", retry_after_seconds),
    Scenario("429-retry-after-date", "429, Retry-After as an HTTP date", retry_after_http_date),
    Scenario("connection-refused", "connection refused (backend stopped)", connection_refused),
    Scenario("connection-reset", "connection reset mid-response", connection_reset),
    Scenario("read-timeout", "accepts, never answers (read timeout)", read_timeout),
    Scenario("stall-after-headers", "headers, then stall", stall_after_headers),
    Scenario("slow-drip", "headers, then the body one byte at a time", slow_drip),
    Scenario("html-502-page", "HTML error page (502 from a proxy)", html_502_page),
    Scenario("html-200-page", "HTML page with 200", html_200_page),
    Scenario("not-json", "200 with a non-JSON body", not_json),
    Scenario("wrong-shape", "200 with JSON of the wrong shape", wrong_shape),
    Scenario("huge-body", "50 MB body (capped, small memory)", huge_body),
    Scenario("redirect-other-host", "redirect to another host", redirect_elsewhere),
    Scenario("tls-self-signed", "TLS, self-signed certificate", tls_self_signed, tls=True),
    Scenario("tls-ca-bundle", "TLS, private CA with --ca-bundle", tls_ca_bundle, tls=True),
    Scenario("tls-expired", "TLS, expired certificate", tls_expired, tls=True),
]
BY_SLUG = {s.slug: s for s in SCENARIOS}


def run_scenario(scenario: Scenario, workdir: Path) -> None:
    """One scenario from scratch (its own backend, database and agent
    directories); raises ScenarioFailed when a run does not end as expected."""
    workdir.mkdir(parents=True, exist_ok=True)
    if scenario.tls:
        certs = Certificates(workdir)
        with Harness(workdir, ssl_context=certs.good()) as h:
            scenario.run(h, certs)
    else:
        with Harness(workdir) as h:
            scenario.run(h)
