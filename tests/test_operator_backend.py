"""The operator and the backend's address, end to end: the agent as a
process, the loopback contract server and a MariaDB WordPress database.

* a typo in ``--api-url`` (a closed port, a name that does not resolve, an
  https:// URL on a plain-http port, a URL without ``/api/v1``) fails within
  seconds with a hint, never after minutes of silent retries;
* a retry on a terminal says what it waits for; under cron nothing extra;
* "the next run will retry" only where a next run follows;
* a changed backend is never used silently with the old one's key and ids:
  ``config backend --api-url`` refuses while the site is connected elsewhere,
  and ``sync`` / ``status`` refuse a configured URL the site is not connected to;
* plain ``http://`` to a non-loopback host is refused by ``config backend``
  as by ``connect``.

Network traffic: loopback only, except one name lookup of a ``.invalid`` name
(which no resolver answers with an address), bounded by a short timeout.
"""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import sys
import threading
import time
from typing import Dict, Tuple

from conftest import API_KEY
from contract_server import ContractServer

FAST = 10.0  # seconds an interactive command may take to give up on an unreachable backend
NO_PROXY = {name: "" for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy", "HTTP_PROXY")}
PUSH = "update-structure"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(run, *args, **kwargs) -> Tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = run(*args, **kwargs)
    return result, time.monotonic() - started


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one error line on stderr (connect also prints its steps there)."""
    errors = [line for line in result.stderr.splitlines() if "error:" in line or "sync failed" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert API_KEY not in result.stdout + result.stderr
    return errors[0]


def connect_to(site, api_url: str, timeout: float = 30) -> Tuple[subprocess.CompletedProcess, float]:
    return timed(site.run, "connect", "--api-key-stdin", "--api-url", api_url, input=API_KEY + "\n",
                 extra_env=NO_PROXY, timeout=timeout)


def run_on_a_terminal(site, *args: str, env: Dict[str, str], timeout: float = 60) -> Tuple[int, str]:
    """The agent with its stderr on a pseudo-terminal (stdout a pipe): exit code, what the terminal showed."""
    master, slave = pty.openpty()
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every slave end is closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    full_env = dict(os.environ, **env, **NO_PROXY)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "igny8_agent", *args, "--path", str(site.path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=full_env)
        os.close(slave)
        slave = -1
        try:
            proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        reader.join(5)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return proc.returncode, " ".join(shown.decode("utf-8", "replace").split())


def site_env(site, backend) -> Dict[str, str]:
    return {"IGNY8_CONFIG_DIR": str(site.path.parent / "etc"), "IGNY8_STATE_DIR": str(site.state_dir),
            "IGNY8_KEYRING": "file", "IGNY8_API_URL": backend.base_url}


# -- 1. a typo in --api-url fails fast, with a hint ---------------------------------------------


def test_connect_to_a_closed_loopback_port_fails_within_seconds_saying_check_api_url(site):
    result, seconds = connect_to(site, "http://127.0.0.1:%d/api/v1" % closed_port())
    line = one_line(result)
    assert result.returncode == 6, result.stderr
    assert seconds < FAST, (seconds, line)
    assert "refused" in line and "check --api-url" in line, line
    assert "next run" not in line, line
    assert site.state() is None  # nothing recorded as connected


def test_connect_to_a_name_that_does_not_resolve_fails_within_seconds_saying_check_api_url(site):
    assert site.run("config", "backend", "--timeout", "3").returncode == 0  # bounds a lookup that hangs
    result, seconds = connect_to(site, "https://nonexistent.invalid/api/v1")
    line = one_line(result)
    assert result.returncode == 6, result.stderr
    assert seconds < FAST, (seconds, line)
    assert "nonexistent.invalid" in line and "check --api-url" in line, line
    assert "next run" not in line, line


def test_connect_with_https_to_a_plain_http_port_fails_within_seconds_saying_check_api_url(site, backend):
    result, seconds = connect_to(site, "https://127.0.0.1:%d/api/v1" % backend.port)
    line = one_line(result)
    assert result.returncode == 6, result.stderr  # as before: a TLS failure other than a refused certificate
    assert seconds < FAST, (seconds, line)
    assert "TLS handshake" in line and "check --api-url" in line, line


def test_connect_to_an_api_url_without_api_v1_says_where_the_api_usually_is(site, backend):
    result, seconds = connect_to(site, backend.origin)
    line = one_line(result)
    assert result.returncode == 5, result.stderr
    assert "404" in line and "check --api-url" in line and "the API URL usually ends in /api/v1" in line, line
    assert seconds < FAST


def test_status_against_a_stopped_backend_fails_within_seconds_saying_check_api_url(site, backend):
    assert site.connect().returncode == 0
    backend.stop()
    result, seconds = timed(site.run, "status", extra_env=NO_PROXY, timeout=30)
    assert result.returncode == 6, result.stdout + result.stderr
    assert seconds < FAST
    assert "refused" in result.stdout and "check --api-url" in result.stdout, result.stdout
    assert "next run will retry" not in result.stdout


def test_connect_whose_retry_budget_is_spent_says_run_connect_again_not_the_next_run(site, backend):
    assert site.run("config", "backend", "--retry-budget", "1", "--timeout", "2").returncode == 0
    backend.inject("status", count=None, path_contains="auth/me", status=503)
    result = site.run("connect", "--api-key-stdin", input=API_KEY + "\n", timeout=30)
    line = one_line(result)
    assert result.returncode == 6, result.stderr
    assert "503" in line and "run `igny8-agent connect` again later" in line, line
    assert "next run" not in line, line


# -- retries on a terminal say what they wait for ------------------------------------------------


def test_a_sync_retrying_a_503_on_a_terminal_says_what_it_waits_for(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "20", "--timeout", "2").returncode == 0
    backend.inject("status", count=2, path_contains=PUSH, status=503)
    code, shown = run_on_a_terminal(site, "sync", env=site_env(site, backend))
    assert code == 0, shown
    assert "the backend answered 503; retry 1 in" in shown, shown
    assert "the backend answered 503; retry 2 in" in shown, shown


def test_a_sync_retrying_a_503_under_cron_prints_nothing_extra(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "20", "--timeout", "2").returncode == 0
    backend.inject("status", count=2, path_contains=PUSH, status=503)
    result = site.run("sync", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) == 1 and "sync ok" in result.stdout, result.stdout
    assert "; retry " not in result.stdout


def test_a_sync_against_a_stopped_backend_on_a_terminal_shows_the_wait_and_no_next_run(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "2", "--timeout", "2").returncode == 0
    backend.stop()
    code, shown = run_on_a_terminal(site, "sync", env=site_env(site, backend))
    assert code == 6, shown
    assert "was refused; retry 1 in" in shown, shown
    assert "run `igny8-agent sync` again later" in shown, shown  # no schedule is installed for this site
    assert "next run will retry" not in shown, shown


def test_a_sync_against_a_stopped_backend_under_cron_keeps_its_budget_and_the_next_run_retries(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "2", "--timeout", "2").returncode == 0
    backend.stop()
    result = site.run("sync", timeout=60)
    assert result.returncode == 6
    line = one_line(result)
    assert "retry 1 in" not in line and "attempts in" in line, line
    assert "the next run will retry" in line, line


# -- 2. a changed backend: refused, never used silently ------------------------------------------


def test_config_backend_refuses_another_api_url_while_the_site_is_connected(site, backend, agent_env):
    assert site.connect().returncode == 0
    other = ContractServer().start()
    try:
        config = next((site.path.parent / "etc" / "sites").glob("*.toml"))
        before = config.read_bytes()
        result = site.run("config", "backend", "--api-url", other.base_url)
        line = one_line(result)
        assert result.returncode == 3
        assert line.endswith("this site is connected to %s; run `igny8-agent connect --api-url %s` to move it"
                             % (backend.base_url, other.base_url)), line
        assert config.read_bytes() == before
        # The same URL is fine, and a sync still goes to the connected backend.
        assert site.run("config", "backend", "--api-url", backend.base_url + "/").returncode == 0
        assert site.run("sync").returncode == 0
        assert other.requests == []
    finally:
        other.stop()


def test_config_backend_saves_an_api_url_when_the_site_is_not_connected(site, backend):
    result = site.run("config", "backend", "--api-url", backend.base_url + "/")
    assert result.returncode == 0, result.stderr
    config = next((site.path.parent / "etc" / "sites").glob("*.toml"))
    assert 'api_url = "%s"' % backend.base_url in config.read_text()


def test_sync_and_status_refuse_a_configured_backend_the_site_is_not_connected_to(site, backend):
    assert site.connect().returncode == 0
    pushes = len(backend.requests_to(PUSH, "POST"))
    other = ContractServer().start()
    other.add_site(other.add_account("Acme", "dev@igny8.com", API_KEY), "https://www.Example.com/")
    try:
        moved = {"IGNY8_API_URL": other.base_url}  # as a hand-edited config file or the environment may say
        expected = ("this site is not connected to %s (the configured API URL) but to %s: "
                    "run `igny8-agent connect --api-url %s` to move it there"
                    % (other.base_url, backend.base_url, other.base_url))
        result = site.run("sync", extra_env=moved)
        assert result.returncode == 3, result.stdout + result.stderr
        assert expected in result.stderr
        status = site.run("status", "--json", extra_env=moved)
        assert status.returncode == 3, status.stdout + status.stderr
        assert expected in status.stdout
        assert other.requests == []
        assert len(backend.requests_to(PUSH, "POST")) == pushes
        # Moving it with connect makes the new backend the one used.
        assert site.run("connect", "--api-key-stdin", input=API_KEY + "\n", extra_env=moved).returncode == 0
        assert site.run("sync", extra_env=moved).returncode == 0
        assert len(other.requests_to(PUSH, "POST")) == 2
    finally:
        other.stop()


def test_sync_after_config_backend_on_a_disconnected_site_uses_the_new_url(site, backend):
    # The key entry, site and integration of a new backend come from connect.
    other = ContractServer().start()
    try:
        assert site.connect().returncode == 0
        assert site.run("disconnect").returncode == 0
        assert site.run("config", "backend", "--api-url", other.base_url).returncode == 0
        result = site.run("sync", extra_env={"IGNY8_API_URL": ""})
        assert result.returncode == 3 and "not connected yet" in result.stderr, result.stderr
        assert other.requests == []
    finally:
        other.stop()


# -- plain http only for loopback --------------------------------------------------------------


def test_config_backend_refuses_plain_http_to_a_non_loopback_host_as_connect_does(site):
    result = site.run("config", "backend", "--api-url", "http://api.igny8.example/api/v1")
    line = one_line(result)
    assert result.returncode == 3
    assert "--api-url must use https:// (plain http is allowed only for loopback)" in line, line
    assert not list((site.path.parent / "etc").glob("sites/*.toml"))
    connect = site.run("connect", "--api-key-stdin", "--api-url", "http://api.igny8.example/api/v1",
                       input=API_KEY + "\n")
    assert connect.returncode == 3 and one_line(connect) == line
