"""The daily schedule: rendered cron and systemd files, and installing,
showing and removing them under a scratch root (never the real /etc, never a
real systemctl)."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import List

import pytest

from igny8_agent import schedule
from igny8_agent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
PACKAGE_TEMPLATES = REPO / "igny8_agent" / "templates"
CRON_DIR = REPO / "cron"

SITE = "var-www-shop-1a2b3c4d"
AGENT = "/opt/igny8-agent/bin/igny8-agent"
USER = "www-data"
CONFIG = Path(f"/etc/igny8-agent/sites/{SITE}.toml")
LOCK = Path(f"/var/lib/igny8-agent/{SITE}.lock")
LOG = Path(f"/var/lib/igny8-agent/{SITE}.log")

SERVICE = "etc/systemd/system/igny8-agent@.service"
TIMER = "etc/systemd/system/igny8-agent@.timer"
DROP_IN = f"etc/systemd/system/igny8-agent@{SITE}.service.d/10-igny8-agent.conf"
CRON_FILE = f"etc/cron.d/igny8-agent-{SITE}"
LOGROTATE_FILE = f"etc/logrotate.d/igny8-agent-{SITE}"

HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ReadWritePaths=-/var/lib/igny8-agent",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "RestrictNamespaces=yes",
    "SystemCallArchitectures=native",
    "CapabilityBoundingSet=",
)


class FakeRun:
    """Stands in for subprocess.run: records commands, runs nothing."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: List[List[str]] = []
        self.returncode = returncode
        self.stderr = stderr

    def __call__(self, command, **kwargs):
        self.calls.append(list(command))
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


def site_args(site: str = SITE):
    return dict(
        site_name=site,
        config=CONFIG.with_name(f"{site}.toml"),
        agent=AGENT,
        user=USER,
        lock=LOCK.with_name(f"{site}.lock"),
        log=LOG.with_name(f"{site}.log"),
    )


def render(kind: str, site: str = SITE):
    return schedule.render(kind, **site_args(site))


def cron_job_line(text: str) -> str:
    jobs = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(jobs) == 1, jobs
    return jobs[0]


def cron_command(text: str) -> str:
    """The shell command of the job line, as cron hands it to the shell."""
    line = cron_job_line(text)
    command = line.split(None, 6)[6]  # after minute hour dom month dow user
    assert not re.search(r"(?<!\\)%", command), "a bare % would become a newline"
    return command.replace("\\%", "%")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- rendering ----------------------------------------------------------------


def test_render_cron_fills_every_placeholder():
    files = render("cron")
    assert list(files) == [CRON_FILE, LOGROTATE_FILE]
    text = files[CRON_FILE]
    assert not re.search(r"@[A-Z_]+@", text)
    assert text.startswith(f"# igny8-agent: daily sync of WordPress site {SITE}\n")
    assert "SHELL=/bin/sh\n" in text
    assert re.search(r"^PATH=.*/usr/bin", text, re.MULTILINE)
    assert "IGNY8_STATE_DIR=/var/lib/igny8-agent\n" in text

    line = cron_job_line(text)
    minute, hour, dom, month, dow, user, command = line.split(None, 6)
    assert (minute, hour, dom, month, dow) == ("0", "0", "*", "*", "*")
    assert user == USER
    assert "sleep $(( $(od -An -N2 -tu2 /dev/urandom) \\% 3600 ))" in command
    cron_lock = f"/var/lib/igny8-agent/{SITE}.cron.lock"
    # quiet on success; a failure's line goes to the log and to cron's mail
    assert f"flock -n {cron_lock} {AGENT} sync --quiet --config {CONFIG} 2>&1 >>{LOG} | tee -a {LOG}" in command
    assert str(LOCK) not in text  # the agent's own lock: see the next test


def test_cron_command_runs_the_agent_with_its_own_lock_free(tmp_path):
    """Run the job line for real, with a stand-in for sleep and for the agent.

    The stand-in agent takes an flock on the site's lock file as the agent
    does: cron's flock must not be holding it.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_sleep = bin_dir / "sleep"
    fake_sleep.write_text(f'#!/bin/sh\necho "$1" > {tmp_path}/slept\n')
    agent = tmp_path / "igny8-agent"
    agent.write_text(f'#!/bin/sh\nflock -n {tmp_path}/site.lock echo "synced $*"\n')
    for script in (fake_sleep, agent):
        script.chmod(0o755)
    args = dict(site_args(), agent=str(agent), lock=tmp_path / "site.lock", log=tmp_path / "site.log")
    command = cron_command(schedule.render("cron", **args)[CRON_FILE])

    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run(["sh", "-c", command], env=env, check=True, timeout=30)

    assert 0 <= int((tmp_path / "slept").read_text()) < 3600
    assert (tmp_path / "site.log").read_text() == f"synced sync --quiet --config {CONFIG}\n" * 2
    assert (tmp_path / "site.cron.lock").exists()


def test_cron_command_parses_in_bash_and_sh():
    command = cron_command(render("cron")[CRON_FILE])
    for shell in ("bash", "sh"):
        if shutil.which(shell) is None:
            continue
        result = subprocess.run([shell, "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_cron_random_delay_is_under_an_hour():
    command = cron_command(render("cron")[CRON_FILE])
    delay = re.search(r"sleep (\$\(\(.*?\)\)) &&", command).group(1)
    for _ in range(5):
        result = subprocess.run(["sh", "-c", f"echo {delay}"], capture_output=True, text=True, check=True)
        assert 0 <= int(result.stdout) < 3600


def test_render_systemd_units():
    files = render("systemd")
    assert sorted(files) == sorted([SERVICE, TIMER, DROP_IN])
    for text in files.values():
        assert not re.search(r"@[A-Z_]+@", text)

    service = files[SERVICE]
    assert "Type=oneshot\n" in service
    assert f"User={USER}\n" in service
    assert f"ExecStart={AGENT} sync --config /etc/igny8-agent/sites/%i.toml\n" in service
    assert "Environment=IGNY8_STATE_DIR=/var/lib/igny8-agent\n" in service
    assert re.search(r"^TimeoutStartSec=\d+min$", service, re.MULTILINE)
    assert re.search(r"^#LoadCredential=igny8-api-key:\S+$", service, re.MULTILINE)
    lines = service.splitlines()
    for option in HARDENING:
        assert option in lines, option

    timer = files[TIMER].splitlines()
    for option in ("OnCalendar=daily", "RandomizedDelaySec=1h", "Persistent=true", "WantedBy=timers.target"):
        assert option in timer, option

    drop_in = files[DROP_IN].splitlines()
    assert drop_in.index("ExecStart=") + 1 == drop_in.index(f"ExecStart={AGENT} sync --config {CONFIG}")
    assert f"User={USER}" in drop_in
    assert "ReadWritePaths=-/var/lib/igny8-agent" in drop_in


def test_render_systemd_follows_a_config_outside_the_default_folder():
    args = site_args()
    args["config"] = Path(f"/srv/agent/{SITE}.toml")
    files = schedule.render("systemd", **args)
    assert f"ExecStart={AGENT} sync --config /srv/agent/%i.toml\n" in files[SERVICE]
    assert f"ExecStart={AGENT} sync --config /srv/agent/{SITE}.toml\n" in files[DROP_IN]


def test_cron_dir_holds_the_package_templates():
    shipped = sorted(p.name for p in PACKAGE_TEMPLATES.iterdir())
    assert shipped == ["igny8-agent.cron", "igny8-agent.logrotate", "igny8-agent@.service", "igny8-agent@.timer",
                       "site-override.conf"]
    for name in shipped:
        assert (CRON_DIR / name).read_bytes() == (PACKAGE_TEMPLATES / name).read_bytes(), name


@pytest.mark.parametrize(
    "name", ["", "a/b", ".", "..", "../etc", "a b", "a;b", "a$b", "a\nb", "site\u00e9", "x" * 201, "a%b", "a*"]
)
def test_bad_site_names_are_refused(tmp_path, name):
    args = site_args()
    args["site_name"] = name
    with pytest.raises(ConfigError, match="invalid site name"):
        schedule.render("cron", **args)
    with pytest.raises(ConfigError, match="invalid site name"):
        schedule.install(**args, root=tmp_path, kind="systemd", run=FakeRun())
    with pytest.raises(ConfigError, match="invalid site name"):
        schedule.remove(name, root=tmp_path, run=FakeRun())
    with pytest.raises(ConfigError, match="invalid site name"):
        schedule.show(name, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_dotted_site_names_are_allowed():
    assert "dotted.example.com" in render("systemd", "dotted.example.com")[
        "etc/systemd/system/igny8-agent@dotted.example.com.service.d/10-igny8-agent.conf"
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("agent", "igny8-agent"),
        ("agent", "/opt/my tools/igny8-agent"),
        ("config", Path("sites/x.toml")),
        ("config", Path("/etc/igny8 agent/x.toml")),
        ("lock", Path("/var/lib/x%y.lock")),
        ("log", Path("/var/log/$HOME.log")),
        ("log", Path("/var/log/a'b.log")),
        ("user", "root; rm"),
        ("user", ""),
        ("user", "-x"),
    ],
)
def test_unsafe_paths_and_users_are_refused(field, value):
    args = site_args()
    args[field] = value
    for kind in schedule.KINDS:
        with pytest.raises(ConfigError):
            schedule.render(kind, **args)


def test_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown schedule kind"):
        schedule.render("at", **site_args())
    with pytest.raises(ConfigError, match="unknown schedule kind"):
        schedule.remove(SITE, root=tmp_path, kind="at")


# -- detecting ----------------------------------------------------------------


def test_detect_kind(tmp_path):
    assert schedule.detect_kind(tmp_path) == "cron"
    (tmp_path / "run" / "systemd").mkdir(parents=True)
    (tmp_path / "run" / "systemd" / "system").write_text("")  # a file is not systemd
    assert schedule.detect_kind(tmp_path) == "cron"
    (tmp_path / "run" / "systemd" / "system").unlink()
    (tmp_path / "run" / "systemd" / "system").mkdir()
    assert schedule.detect_kind(tmp_path) == "systemd"


def test_install_without_kind_follows_the_host(tmp_path):
    run = FakeRun()
    assert schedule.install(**site_args(), root=tmp_path, run=run).kind == "cron"
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    assert schedule.install(**site_args(), root=tmp_path, run=run).kind == "systemd"
    assert run.calls == []


# -- installing, showing, removing ---------------------------------------------


def test_cron_install_show_remove(tmp_path):
    run = FakeRun()
    assert schedule.show(SITE, root=tmp_path) is None

    installed = schedule.install(**site_args(), root=tmp_path, kind="cron", run=run)
    path = tmp_path / CRON_FILE
    rotate = tmp_path / LOGROTATE_FILE
    assert installed.kind == "cron"
    assert installed.files == [path, rotate]
    assert installed.description == f"cron job /{CRON_FILE} (daily, random delay up to 1 h)"
    assert path.read_text() == render("cron")[CRON_FILE]
    assert mode(path) == 0o644
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left

    shown = schedule.show(SITE, root=tmp_path)
    assert (shown.kind, shown.files, shown.description) == ("cron", [path, rotate], installed.description)

    removed = schedule.remove(SITE, root=tmp_path, run=run)
    assert (removed.kind, removed.files) == ("cron", [path, rotate])
    assert removed.description.startswith("removed cron job")
    assert not path.exists()
    assert schedule.show(SITE, root=tmp_path) is None

    again = schedule.remove(SITE, root=tmp_path, run=run)
    assert again.files == []
    assert again.description == f"no schedule installed for site {SITE}"
    assert run.calls == []


def test_systemd_install_show_remove_without_systemctl(tmp_path):
    run = FakeRun()
    installed = schedule.install(**site_args(), root=tmp_path, kind="systemd", run=run)
    assert installed.kind == "systemd"
    assert sorted(installed.files) == sorted(tmp_path / p for p in (SERVICE, TIMER, DROP_IN))
    assert installed.description == f"systemd timer igny8-agent@{SITE}.timer (daily, random delay up to 1 h)"
    for relative, text in render("systemd").items():
        assert (tmp_path / relative).read_text() == text
        assert mode(tmp_path / relative) == 0o644

    shown = schedule.show(SITE, root=tmp_path)
    assert shown.kind == "systemd"
    assert sorted(shown.files) == sorted(installed.files)
    assert shown.description.startswith(installed.description)
    assert "not enabled" in shown.description

    removed = schedule.remove(SITE, root=tmp_path, run=run)
    assert removed.kind == "systemd"
    assert sorted(removed.files) == sorted(installed.files)
    assert list((tmp_path / "etc" / "systemd" / "system").iterdir()) == []
    assert schedule.show(SITE, root=tmp_path) is None
    assert run.calls == []


def test_systemctl_is_called_when_units_are_managed(tmp_path):
    run = FakeRun()
    schedule.install(**site_args(), root=tmp_path, kind="systemd", run=run, manage_units=True)
    assert run.calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", f"igny8-agent@{SITE}.timer"],
    ]
    wants = tmp_path / "etc/systemd/system/timers.target.wants"
    wants.mkdir()
    (wants / f"igny8-agent@{SITE}.timer").symlink_to("../igny8-agent@.timer")  # what enable would do
    assert "not enabled" not in schedule.show(SITE, root=tmp_path).description

    run.calls.clear()
    removed = schedule.remove(SITE, root=tmp_path, run=run, manage_units=True)
    assert run.calls == [
        ["systemctl", "disable", "--now", f"igny8-agent@{SITE}.timer"],
        ["systemctl", "daemon-reload"],
    ]
    assert sorted(removed.files) == sorted(
        [wants / f"igny8-agent@{SITE}.timer"] + [tmp_path / p for p in (SERVICE, TIMER, DROP_IN)]
    )


def test_a_timer_enabled_by_hand_is_disabled(tmp_path):
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / TIMER).write_text("[Timer]\n")
    wants = tmp_path / "etc/systemd/system/timers.target.wants"
    wants.mkdir()
    link = wants / "igny8-agent@by-hand.timer"
    link.symlink_to("../igny8-agent@.timer")
    run = FakeRun()
    removed = schedule.remove("by-hand", root=tmp_path, run=run, manage_units=True)
    assert run.calls[0] == ["systemctl", "disable", "--now", "igny8-agent@by-hand.timer"]
    assert removed.kind == "systemd" and link in removed.files


def test_removing_nothing_calls_no_systemctl(tmp_path):
    run = FakeRun()
    schedule.remove(SITE, root=tmp_path, run=run, manage_units=True)
    assert run.calls == []


def test_systemctl_failure_is_a_config_error(tmp_path):
    run = FakeRun(returncode=1, stderr="Access denied\n")
    with pytest.raises(ConfigError, match="systemctl daemon-reload` failed: Access denied"):
        schedule.install(**site_args(), root=tmp_path, kind="systemd", run=run, manage_units=True)


def test_missing_systemctl_is_a_config_error(tmp_path):
    def no_systemctl(command, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", command[0])

    with pytest.raises(ConfigError, match="systemctl not found"):
        schedule.install(**site_args(), root=tmp_path, kind="systemd", run=no_systemctl, manage_units=True)


def test_shared_units_stay_while_another_site_uses_them(tmp_path):
    other = "var-www-blog-5e6f7a8b"
    schedule.install(**site_args(), root=tmp_path, kind="systemd", run=FakeRun())
    schedule.install(**site_args(other), root=tmp_path, kind="systemd", run=FakeRun())

    removed = schedule.remove(SITE, root=tmp_path, run=FakeRun())
    assert removed.files == [tmp_path / DROP_IN]
    assert (tmp_path / SERVICE).exists() and (tmp_path / TIMER).exists()
    assert schedule.show(other, root=tmp_path).kind == "systemd"

    removed = schedule.remove(other, root=tmp_path, run=FakeRun())
    assert not (tmp_path / SERVICE).exists() and not (tmp_path / TIMER).exists()


def test_shared_units_stay_for_a_site_enabled_by_hand(tmp_path):
    schedule.install(**site_args(), root=tmp_path, kind="systemd", run=FakeRun())
    wants = tmp_path / "etc/systemd/system/timers.target.wants"
    wants.mkdir()
    (wants / "igny8-agent@by-hand.timer").symlink_to("../igny8-agent@.timer")
    assert schedule.show("by-hand", root=tmp_path).kind == "systemd"

    schedule.remove(SITE, root=tmp_path, run=FakeRun())
    assert (tmp_path / SERVICE).exists() and (tmp_path / TIMER).exists()


def test_operator_override_in_the_drop_in_folder_is_kept(tmp_path):
    schedule.install(**site_args(), root=tmp_path, kind="systemd", run=FakeRun())
    override = (tmp_path / DROP_IN).parent / "override.conf"
    override.write_text("[Service]\nNice=10\n")
    schedule.remove(SITE, root=tmp_path, run=FakeRun())
    assert override.read_text() == "[Service]\nNice=10\n"
    assert not (tmp_path / DROP_IN).exists()


def test_switching_kind_removes_the_other_schedule(tmp_path):
    run = FakeRun()
    schedule.install(**site_args(), root=tmp_path, kind="cron", run=run)
    schedule.install(**site_args(), root=tmp_path, kind="systemd", run=run, manage_units=True)
    assert not (tmp_path / CRON_FILE).exists()
    assert schedule.show(SITE, root=tmp_path).kind == "systemd"

    run.calls.clear()
    schedule.install(**site_args(), root=tmp_path, kind="cron", run=run, manage_units=True)
    assert not (tmp_path / DROP_IN).exists() and not (tmp_path / SERVICE).exists()
    assert schedule.show(SITE, root=tmp_path).kind == "cron"
    assert run.calls == [
        ["systemctl", "disable", "--now", f"igny8-agent@{SITE}.timer"],
        ["systemctl", "daemon-reload"],
    ]


def test_dots_in_the_site_name_become_underscores_in_cron_file_names(tmp_path):
    installed = schedule.install(**site_args("shop.example.com"), root=tmp_path, kind="cron", run=FakeRun())
    assert installed.files == [tmp_path / "etc/cron.d/igny8-agent-shop_example_com",
                               tmp_path / "etc/logrotate.d/igny8-agent-shop_example_com"]
    assert schedule.show("shop.example.com", root=tmp_path).kind == "cron"

    # Another site whose name maps to the same file is not confused with it.
    assert schedule.show("shop_example_com", root=tmp_path) is None
    with pytest.raises(ConfigError, match="already schedules site shop.example.com"):
        schedule.install(**site_args("shop_example_com"), root=tmp_path, kind="cron", run=FakeRun())
    assert schedule.remove("shop_example_com", root=tmp_path, run=FakeRun()).files == []
    assert schedule.show("shop.example.com", root=tmp_path).kind == "cron"


def test_reinstalling_replaces_the_files(tmp_path):
    schedule.install(**site_args(), root=tmp_path, kind="cron", run=FakeRun())
    args = site_args()
    args["user"] = "deploy"
    schedule.install(**args, root=tmp_path, kind="cron", run=FakeRun())
    assert " deploy sleep " in (tmp_path / CRON_FILE).read_text()


def test_permission_denied_asks_for_root(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(schedule.tempfile, "mkstemp", denied)
    for kind in schedule.KINDS:
        with pytest.raises(ConfigError) as info:
            schedule.install(**site_args(), root=tmp_path, kind=kind, run=FakeRun())
        assert str(info.value) == (
            "installing the schedule needs root: run `sudo igny8-agent schedule install ...`"
        )


def test_permission_denied_on_remove_asks_for_root(tmp_path, monkeypatch):
    schedule.install(**site_args(), root=tmp_path, kind="cron", run=FakeRun())

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", denied)
    with pytest.raises(ConfigError, match=r"^removing the schedule needs root"):
        schedule.remove(SITE, root=tmp_path, run=FakeRun())


def test_other_write_errors_name_the_file(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system", str(tmp_path / "etc/cron.d"))

    monkeypatch.setattr(schedule.tempfile, "mkstemp", read_only)
    with pytest.raises(ConfigError, match="cannot install the schedule: .*etc/cron.d: Read-only file system"):
        schedule.install(**site_args(), root=tmp_path, kind="cron", run=FakeRun())
