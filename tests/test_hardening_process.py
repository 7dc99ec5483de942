"""The agent as a real process under hostile surroundings: core dumps,
proxy variables, a backend that drips its headers, text from the database
on a terminal or in the cron log, and closed or failing standard streams.

Every test runs ``python -m igny8_agent`` against the local MariaDB and the
loopback contract server; network traffic stays on loopback.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import API_KEY, run_agent, write_wp_config

from igny8_agent.client import BackendClient
from igny8_agent.errors import TransientError

PUSH = "update-structure"
ESC = "\x1b"


def env_of(site, backend, **extra: str) -> Dict[str, str]:
    """The environment the ``site`` fixture runs the agent with."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        IGNY8_CONFIG_DIR=str(site.state_dir.parent / "etc"),
        IGNY8_STATE_DIR=str(site.state_dir),
        IGNY8_KEYRING="file",
        IGNY8_API_URL=backend.base_url,
    )
    env.update(extra)
    return env


def spawn(site, backend, *args: str, env: Optional[Dict[str, str]] = None, **popen: object) -> subprocess.Popen:
    command = [sys.executable, "-m", "igny8_agent", *args, "--path", str(site.path)]
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(command, env=env or env_of(site, backend), **popen)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def connected(site) -> None:
    result = site.connect()
    assert result.returncode == 0, result.stderr


# -- 5. core dumps --------------------------------------------------------------------


def _core_limit(pid: int) -> Optional[str]:
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max core file size"):
            return " ".join(line.split()[4:6])
    return None


def _unlimited_cores() -> None:
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_running_agent_has_a_zero_core_limit_and_dumps_no_core_when_it_crashes(tmp_path, wpdb, agent_env) -> None:
    """Started with `ulimit -c unlimited`, the agent sets its own core limit to
    0 (soft and hard) at once, and is not dumpable: with the limit raised again
    from outside and SIGABRT sent, no core file appears in its directory."""
    root = write_wp_config(tmp_path / "wordpress", wpdb.name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = dict(os.environ, **agent_env, IGNY8_KEYRING="file")
    # `connect --api-key-stdin` waits on its standard input: the process stays up.
    proc = subprocess.Popen(
        [sys.executable, "-m", "igny8_agent", "connect", "--api-key-stdin", "--path", str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(workdir),
        env=env, preexec_fn=_unlimited_cores,
    )
    try:
        deadline = time.monotonic() + 20
        limit = _core_limit(proc.pid)
        while limit != "0 0" and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            limit = _core_limit(proc.pid)
        assert limit == "0 0", "Max core file size of the running agent: %r" % limit
        assert proc.poll() is None

        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        if pattern.startswith("|") or "/" in pattern:
            pytest.skip("cores are not written to the process's directory here (%s)" % pattern)
        try:  # raise it again from outside, as root can: only "not dumpable" is left
            resource.prlimit(proc.pid, resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (PermissionError, ValueError, OSError):
            pytest.skip("cannot raise another process's core limit without privileges")
        os.kill(proc.pid, signal.SIGABRT)
        assert proc.wait(timeout=20) == -signal.SIGABRT
        assert [p.name for p in workdir.iterdir()] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_entry_point_makes_the_process_not_dumpable_with_no_core_limit() -> None:
    """PR_GET_DUMPABLE and RLIMIT_CORE as the process itself sees them, read
    after the agent's own entry point has run (`--version`)."""
    probe = (
        "import atexit, ctypes, resource, sys\n"
        "def report():\n"
        "    sys.__stderr__.write('dumpable=%d core=%r\\n' % (ctypes.CDLL(None).prctl(3, 0, 0, 0, 0),\n"
        "                         resource.getrlimit(resource.RLIMIT_CORE)))\n"
        "atexit.register(report)\n"
        "sys.argv = ['igny8-agent', '--version']\n"
        "from igny8_agent.__main__ import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            preexec_fn=_unlimited_cores)
    assert result.returncode == 0, result.stderr
    assert "dumpable=0 core=(0, 0)" in result.stderr


# -- 6. proxies --------------------------------------------------------------------------


class RecordingProxy:
    """A loopback socket posing as a proxy: records what each connection
    sends first, answers 403 and closes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.received: List[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def proxy():
    recorder = RecordingProxy()
    yield recorder
    recorder.close()


def test_a_loopback_backend_never_goes_through_a_proxy(site, backend, proxy) -> None:
    proxies = {name: proxy.url for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")}
    for args in (("connect", "--api-key-stdin"), ("sync",), ("status",)):
        result = site.run(*args, extra_env=proxies, input=API_KEY + "\n")
        assert result.returncode == 0, (args, result.stderr)
    assert len(backend.requests_to(PUSH, "POST")) == 2
    assert proxy.received == []


@pytest.mark.parametrize(
    "name, value",
    [
        ("HTTP_PROXY", "::::"),
        ("https_proxy", "http://"),
        ("HTTPS_PROXY", "ftp://proxy.example:21"),
        ("ALL_PROXY", "http://proxy.example:99999"),
        ("ALL_PROXY", "socks5://127.0.0.1:1080"),
    ],
)
def test_a_bad_or_unsupported_proxy_variable_is_exit_3_naming_it(site, backend, name, value) -> None:
    if value.startswith("socks5") and _have_socksio():
        pytest.skip("socksio is installed: a SOCKS proxy is supported")
    connected(site)
    pushes = len(backend.requests_to(PUSH, "POST"))
    for args in (("sync",), ("status",), ("connect", "--api-key-stdin")):
        result = site.run(*args, extra_env={name: value}, input=API_KEY + "\n")
        assert result.returncode == 3, (args, result.stderr)
        line = one_line(result)
        assert name in line and "proxy" in line, line
        assert "Traceback" not in result.stdout and API_KEY not in result.stdout + result.stderr
    assert len(backend.requests_to(PUSH, "POST")) == pushes


def _have_socksio() -> bool:
    import importlib.util

    return importlib.util.find_spec("socksio") is not None


def test_an_https_backend_behind_a_proxy_shows_it_only_the_connect_line(proxy, monkeypatch) -> None:
    """The key goes inside the TLS tunnel: the proxy sees `CONNECT host:443`
    and nothing else; NO_PROXY for another host changes nothing."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example,10.0.0.0/8")
    with BackendClient("https://api.igny8.test/api/v1", API_KEY, retry_budget=0, timeout=5) as client:
        with pytest.raises(TransientError, match="ProxyError"):
            client.me()
    assert len(proxy.received) == 1
    head = proxy.received[0]
    assert head.startswith(b"CONNECT api.igny8.test:443 HTTP/1.1\r\n")
    assert API_KEY.encode() not in head and b"authorization" not in head.lower()


# -- 7. a whole request within --timeout -----------------------------------------------


def test_sync_and_status_against_headers_dripping_a_byte_a_second_end_in_time(site, backend) -> None:
    connected(site)
    result = site.run("config", "backend", "--timeout", "3", "--retry-budget", "5")
    assert result.returncode == 0, result.stderr
    backend.inject("drip_headers", count=None, path_contains=PUSH, interval=1.0)
    started = time.monotonic()
    result = site.run("sync", timeout=40)
    seconds = time.monotonic() - started
    assert result.returncode == 6, result.stderr
    line = one_line(result)
    assert "took longer than the 3 s request timeout" in line and "the next run will retry" in line
    assert seconds < 12, seconds

    backend.inject("drip_headers", count=None, path_contains="content-types", interval=1.0)
    started = time.monotonic()
    result = site.run("status", timeout=40)
    seconds = time.monotonic() - started
    assert result.returncode == 6, result.stdout + result.stderr
    assert "took longer than the 3 s request timeout" in result.stdout
    assert seconds < 12, seconds


# -- 14. text from the database --------------------------------------------------------------

ODD_LABEL = "Books [/i] \x1b[31mred\x1b[0m [bold]"
ODD_SLUG = "x[/i]\x1b[31m"  # rows of a post type WordPress would never register, put on the include list


def _odd_site(site) -> None:
    db = site.db
    db.set_option("active_plugins", ["custom-post-type-ui/custom-post-type-ui.php"])
    db.set_option("cptui_post_types", {"book": {"name": "book", "label": ODD_LABEL, "public": "true"}})
    db.add_posts("book", "publish", 3)
    db.add_posts(ODD_SLUG, "publish", 2)


def _no_raw_controls(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "MarkupError" not in output, output
    assert ESC not in output and "\x9b" not in output, repr(output)
    return output


def test_labels_and_slugs_with_markup_and_escapes_are_printed_as_visible_text(site, backend) -> None:
    _odd_site(site)
    result = site.run("config", "type", ODD_SLUG, "--post-type", "--list", "include")
    assert result.returncode == 0, result.stderr

    wide = {"COLUMNS": "200"}
    result = site.run("structure", "--format", "table", "--leftovers", extra_env=wide)
    assert result.returncode == 0, result.stderr
    output = _no_raw_controls(result)
    assert "[/i]" in output and "\\x1b[31mred" in output and "[bold]" in output

    result = site.run("connect", "--api-key-stdin", input=API_KEY + "\n", extra_env=wide)  # prints the pushed slugs
    assert result.returncode == 0, result.stderr
    assert "x[/i]\\x1b[31m" in _no_raw_controls(result)
    pushed = backend.requests_to(PUSH, "POST")[-1].body
    assert pushed["post_types"]["book"]["label"] == ODD_LABEL  # sent as it is
    assert ODD_SLUG in pushed["post_types"]

    result = site.run("sync")  # under cron: the one line
    assert result.returncode == 0, result.stderr
    assert "sync ok" in result.stdout and "x[/i]\\x1b[31m=" in _no_raw_controls(result)

    result = site.run("status")
    assert result.returncode == 0, result.stderr
    assert "Books [/i] \\x1b[31mred" in _no_raw_controls(result)


def _on_a_terminal(proc_args, site, backend) -> "tuple[int, str]":
    """Run the agent with stdout and stderr on a pseudo-terminal; its exit code and output."""
    import pty

    master, slave = pty.openpty()
    env = env_of(site, backend, TERM="xterm-256color", COLUMNS="200")
    env.pop("NO_COLOR", None)
    proc = spawn(site, backend, *proc_args, env=env, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return _finish(proc), b"".join(chunks).decode("utf-8", "replace")


def test_sync_on_a_terminal_prints_an_odd_slug_as_text(site, backend) -> None:
    _odd_site(site)
    result = site.run("config", "type", ODD_SLUG, "--post-type", "--list", "include")
    assert result.returncode == 0, result.stderr
    connected(site)
    code, output = _on_a_terminal(("sync",), site, backend)
    assert code == 0, output
    assert "Structure pushed" in output and "x[/i]\\x1b[31m (" in output, output
    assert ODD_SLUG not in output and "MarkupError" not in output and "Traceback" not in output


def test_a_failure_message_with_database_text_is_printed_visibly(site, backend) -> None:
    for option in ("home", "siteurl"):
        site.db.set_option(option, "https://evil.example/\x1b]0;owned\x07")
    result = site.connect()  # no site of the account has that URL: the message names it
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr and ESC not in result.stderr and "\x07" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after the steps connect shows
    assert line.startswith("igny8-agent: error: Site not found") and "evil.example/\\x1b]0;owned\\x07" in line, line


# -- 15. closed or failing standard streams -------------------------------------------------------


def _finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("stream", ["stdout", "stderr", "both"])
def test_sync_with_a_closed_standard_stream_pushes_and_exits_0(site, backend, stream) -> None:
    connected(site)
    before = site.state()["last_success"]
    fds = {"stdout": (1,), "stderr": (2,), "both": (1, 2)}[stream]

    def close() -> None:
        for fd in fds:
            os.close(fd)

    code = _finish(spawn(site, backend, "sync", preexec_fn=close))
    assert code == 0
    assert len(backend.requests_to(PUSH, "POST")) == 2
    assert site.state()["last_success"] >= before and not site.state()["last_error"]


@pytest.mark.parametrize("args", [("sync",), ("sync", "--json"), ("sync", "--dry-run"), ("status",)])
def test_output_to_a_full_disk_does_not_change_the_exit_code(site, backend, args) -> None:
    connected(site)
    pushes = len(backend.requests_to(PUSH, "POST"))
    with open("/dev/full", "w") as full:
        code = _finish(spawn(site, backend, *args, stdout=full, stderr=full))
    assert code == 0
    expected = pushes + (1 if args[:1] == ("sync",) and "--dry-run" not in args else 0)
    assert len(backend.requests_to(PUSH, "POST")) == expected


def test_sync_into_a_pipe_closed_by_the_reader_pushes_and_exits_0(site, backend) -> None:
    connected(site)
    proc = spawn(site, backend, "sync", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the agent writes its line
    proc.stderr.close()
    assert _finish(proc) == 0
    assert len(backend.requests_to(PUSH, "POST")) == 2


def test_a_failing_sync_with_closed_streams_still_says_how_it_went(site, backend) -> None:
    connected(site)
    site.run("config", "backend", "--retry-budget", "0")
    backend.inject("status", count=None, path_contains=PUSH, status=503)

    def close() -> None:
        os.close(1)
        os.close(2)

    assert _finish(spawn(site, backend, "sync", preexec_fn=close)) == 6
    assert site.state()["last_error"]["status"] == 503


def test_visible_shows_every_control_character_as_an_escape() -> None:
    from igny8_agent.status_view import visible

    assert visible("a\x1b[31mb\x07\r\n\x00\x7f\x9b[0m") == "a\\x1b[31mb\\x07\\r\\n\\x00\\x7f\\x9b[0m".replace(
        "\\r\\n", "\\x0d\\x0a")
    assert visible("abc\u202edcba\u2066") == "abc\\u202edcba\\u2066"
    assert visible("Bücher [/i] – 本") == "Bücher [/i] – 本"


@pytest.mark.parametrize("command", ["status", "connect", "sync", "doctor"])
def test_help_on_a_stream_that_cannot_show_unicode_has_no_traceback(command, agent_env):
    """LANG=C or PYTHONIOENCODING=ascii: characters the stream cannot show
    become "?"; the help is printed whole and the exit code is 0."""
    result = run_agent(command, "--help", env=dict(agent_env, PYTHONIOENCODING="ascii"))
    assert (result.returncode, result.stderr) == (0, "")
    assert "Examples:" in result.stdout and result.stdout.isascii()
