"""Operator issue, schedules that cannot run and cron output: end to end.

The agent runs as a process against the contract server and MariaDB; the
schedule is written under a scratch root (IGNY8_SCHEDULE_ROOT), never /etc,
and no real systemctl or crontab runs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import API_KEY, write_wp_config
from igny8_agent import schedule

TEST_USER = "igny8test"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates a system user and switches to it: needs root")


def files_under(root: Path):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def sched(tmp_path, site):
    """The connected site and a scratch root for its schedule."""
    assert site.connect().returncode == 0
    root = tmp_path / "sched-root"
    site.root = root
    site.sched = lambda *args: site.run("schedule", *args, extra_env={schedule.ROOT_ENV: str(root)})
    return site


@pytest.fixture(scope="module")
def test_user():
    """A system user without a home; removed afterwards if this test made it."""
    made = False
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", TEST_USER], check=True, timeout=30)
        made = True
    yield pwd.getpwnam(TEST_USER)
    if made:
        subprocess.run(["userdel", TEST_USER], check=False, timeout=30)


# -- 4. schedules that cannot run --------------------------------------------


def test_install_for_a_missing_user_fails_with_exit_3_and_writes_nothing(sched):
    result = sched.sched("install", "--kind", "cron", "--user", "nosuchuser")
    assert result.returncode == 3, result.stderr
    assert "no such user 'nosuchuser'" in one_line(result.stderr)
    assert files_under(sched.root) == []


def test_install_for_a_user_who_cannot_read_the_config_names_the_file(sched, test_user):
    config = next((sched.path.parent / "etc" / "sites").glob("*.toml"))
    result = sched.sched("install", "--kind", "cron", "--user", TEST_USER)
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert f"user {TEST_USER} cannot read the site's config file {config}" in line
    assert "setfacl" in line and "--user" in line
    assert files_under(sched.root) == []


def test_systemd_is_refused_where_it_is_not_running_with_nothing_written(sched):
    result = sched.sched("install", "--kind", "systemd")
    assert result.returncode == 3, result.stderr
    assert "systemd is not running" in one_line(result.stderr)
    assert files_under(sched.root) == []


def test_cron_install_show_remove_with_logrotate(sched):
    result = sched.sched("install", "--kind", "cron")
    assert result.returncode == 0, result.stderr
    cron_file = next((sched.root / "etc/cron.d").iterdir())
    rotate_file = sched.root / "etc/logrotate.d" / cron_file.name
    log = next(sched.state_dir.glob("*.state.json")).with_suffix("").with_suffix(".log")
    assert "failures are mailed by cron" in result.stdout

    job = [line for line in cron_file.read_text().splitlines() if line.startswith("0 0 ")][0]
    assert " sync --quiet --config " in job
    assert job.endswith(f"2>&1 >>{log} | tee -a {log}")  # stderr to cron's mail and the log
    assert f">>{log} 2>&1" not in job

    rotate = rotate_file.read_text()
    assert f"{log} {{" in rotate
    for option in ("weekly", "rotate 4", "compress", "missingok", "notifempty", "su root root"):
        assert f"    {option}\n" in rotate, option
    if shutil.which("logrotate", path="/usr/sbin:/usr/bin"):
        check = subprocess.run(["logrotate", "-d", str(rotate_file)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr

    shown = sched.sched("show")
    assert shown.returncode == 0 and "cron job" in shown.stdout
    assert str(cron_file) in shown.stdout and str(rotate_file) in shown.stdout

    removed = sched.sched("remove")
    assert removed.returncode == 0, removed.stderr
    assert not cron_file.exists() and not rotate_file.exists()
    again = sched.sched("remove")
    assert again.returncode == 0 and "no schedule installed" in again.stdout


def test_show_and_remove_cover_a_cron_job_and_units_left_by_a_failed_systemd_install(sched):
    assert sched.sched("install", "--kind", "cron").returncode == 0
    name = next((sched.root / "etc/cron.d").iterdir()).name[len("igny8-agent-"):]
    units = sched.root / "etc/systemd/system"
    drop_in = units / f"igny8-agent@{name}.service.d" / "10-igny8-agent.conf"
    drop_in.parent.mkdir(parents=True)
    drop_in.write_text("[Service]\n")
    (units / "igny8-agent@.timer").write_text("[Timer]\n")

    shown = sched.sched("show")
    assert "systemd timer" in shown.stdout and "cron job" in shown.stdout
    assert "more than once a day" in shown.stdout

    removed = sched.sched("remove")
    assert removed.returncode == 0, removed.stderr
    assert files_under(sched.root) == []


def test_remove_deletes_units_when_systemctl_fails_without_systemd(tmp_path):
    args = dict(site_name="s1", config=Path("/etc/igny8-agent/sites/s1.toml"), agent="/usr/bin/igny8-agent",
                user="root", lock=Path("/var/lib/igny8-agent/s1.lock"), log=Path("/var/lib/igny8-agent/s1.log"))
    schedule.install(**args, root=tmp_path, kind="systemd", run=lambda *a, **k: None, manage_units=False)

    def failing(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "System has not been booted with systemd\n")

    removed = schedule.remove("s1", root=tmp_path, run=failing, manage_units=True)
    assert removed.kind == "systemd" and files_under(tmp_path) == []


# -- a user who is not root: their own crontab ----------------------------------


FAKE_CRONTAB = """#!/bin/sh
# crontab -l / crontab - for one user, kept in a file
store="{store}"
case "$1" in
  -l) [ -f "$store" ] || {{ echo "no crontab for $(id -un)" >&2; exit 1; }}; cat "$store" ;;
  -) cat > "$store" ;;
  *) echo "fake crontab: $*" >&2; exit 2 ;;
esac
"""


def python_for(user) -> tuple:
    """An interpreter ``user`` may run that imports the agent: (path, PYTHONPATH)."""
    import site as site_module

    pythonpath = os.pathsep.join([str(Path(__file__).resolve().parent.parent), *site_module.getsitepackages()])
    for exe, path in ((sys.executable, ""), (shutil.which("python3", path="/usr/bin:/bin") or "", pythonpath)):
        try:
            probe = subprocess.run([exe, "-c", "import igny8_agent.cli, typer, httpx, pymysql"],
                                   env=dict(os.environ, PYTHONPATH=path), capture_output=True, timeout=60,
                                   cwd="/", user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        except OSError:
            continue
        if probe.returncode == 0:
            return exe, path
    pytest.skip(f"no Python interpreter that {user.pw_name} may run imports the agent")


def test_a_non_root_user_gets_an_entry_in_their_own_crontab(wpdb, backend, test_user):
    python, pythonpath = python_for(test_user)
    home = Path(tempfile.mkdtemp(prefix="igny8-user-"))
    try:
        wordpress = write_wp_config(home / "wordpress", wpdb.name)
        bin_dir = home / "bin"
        bin_dir.mkdir()
        (bin_dir / "igny8-agent").write_text(f'#!/bin/sh\nexec {python} -m igny8_agent "$@"\n')
        (bin_dir / "igny8-agent").chmod(0o755)
        store = home / "crontab.txt"
        store.write_text("5 4 * * * echo keep me\n")
        (bin_dir / "crontab").write_text(FAKE_CRONTAB.format(store=store))
        (bin_dir / "crontab").chmod(0o755)
        subprocess.run(["chown", "-R", f"{test_user.pw_uid}:{test_user.pw_gid}", str(home)], check=True)
        home.chmod(0o755)
        env = dict(os.environ, IGNY8_CONFIG_DIR=str(home / "etc"), IGNY8_STATE_DIR=str(home / "state"),
                   IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url, HOME=str(home), USER="root",
                   PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=pythonpath)
        env.pop(schedule.ROOT_ENV, None)

        def run(*args, input=None):
            return subprocess.run(
                [python, "-m", "igny8_agent", *args, "--path", str(wordpress)],
                capture_output=True, text=True, env=env, input=input, timeout=60, cwd=str(home),
                user=test_user.pw_uid, group=test_user.pw_gid, extra_groups=[],
            )

        assert run("connect", "--api-key-stdin", input=API_KEY + "\n").returncode == 0

        refused = run("schedule", "install", "--user", "root")
        assert refused.returncode == 3 and "only root can schedule a job for another user" in refused.stderr
        refused = run("schedule", "install", "--kind", "systemd")
        assert refused.returncode == 3 and "needs root" in one_line(refused.stderr)

        installed = run("schedule", "install")
        assert installed.returncode == 0, installed.stderr
        assert "user crontab entry" in installed.stdout
        text = store.read_text()
        assert text.startswith("5 4 * * * echo keep me\n")
        job = [line for line in text.splitlines() if line.startswith("0 0 ")][0]
        assert f"IGNY8_STATE_DIR={home / 'state'} flock -n " in job and " sync --quiet --config " in job
        assert "| tee -a " in job

        assert "user crontab entry" in run("schedule", "show").stdout
        assert run("schedule", "install").returncode == 0  # replaces, does not add
        assert store.read_text().count("(begin)") == 1

        removed = run("schedule", "remove")
        assert removed.returncode == 0, removed.stderr
        assert store.read_text() == "5 4 * * * echo keep me\n"
        assert "no schedule installed" in run("schedule", "remove").stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- 5. cron output -------------------------------------------------------------


def test_sync_quiet_prints_nothing_on_success_and_one_line_on_failure(site, backend):
    assert site.connect().returncode == 0
    ok = site.run("sync", "--quiet")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")

    backend.revoke_key(API_KEY)
    failed = site.run("sync", "--quiet")
    assert failed.returncode == 5
    assert failed.stdout == ""
    assert "sync failed (exit 5)" in one_line(failed.stderr)
    assert API_KEY not in failed.stderr
