"""`--version` says how the agent was installed and which Python runs it (igny8_agent/install.py)."""

from __future__ import annotations

import platform
import subprocess
import sys
import types
from pathlib import Path

from conftest import run_agent
from igny8_agent import __version__, install


def layout(tmp_path: Path, *, pipx: bool = False) -> dict:
    """A virtualenv-like prefix with igny8_agent in its site-packages."""
    prefix = tmp_path / "env"
    package = prefix / "lib" / "python3.11" / "site-packages" / "igny8_agent"
    package.mkdir(parents=True)
    if pipx:
        (prefix / "pipx_metadata.json").write_text("{}")
    return {"package_dir": str(package), "prefix": str(prefix), "modules": {}, "user_site": ""}


def test_a_virtualenv_made_by_pipx_is_pipx(tmp_path):
    found = install.detect(base_prefix="/usr", **layout(tmp_path, pipx=True))
    assert (found.kind, found.where) == ("pipx", str(tmp_path / "env"))


def test_another_virtualenv_is_venv(tmp_path):
    found = install.detect(base_prefix="/usr", **layout(tmp_path))
    assert (found.kind, found.where) == ("venv", str(tmp_path / "env"))


def test_the_system_pythons_site_packages_is_system(tmp_path):
    paths = layout(tmp_path)
    found = install.detect(base_prefix=paths["prefix"], **paths)
    assert found.kind == "system"
    assert found.where == str(Path(paths["package_dir"]).parent)


def test_pip_install_user_is_the_user_site(tmp_path):
    site = tmp_path / "home" / ".local" / "lib" / "python3.11" / "site-packages"
    (site / "igny8_agent").mkdir(parents=True)
    found = install.detect(package_dir=str(site / "igny8_agent"), prefix="/usr", base_prefix="/usr",
                           modules={}, user_site=str(site))
    assert (found.kind, found.where) == ("user site", str(site))


def test_a_checkout_outside_the_environment_is_a_source_checkout_naming_the_venv(tmp_path):
    checkout = tmp_path / "repo"
    (checkout / "igny8_agent").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\n")
    venv = layout(tmp_path)["prefix"]
    found = install.detect(package_dir=str(checkout / "igny8_agent"), prefix=venv, base_prefix="/usr",
                           modules={}, user_site="")
    assert (found.kind, found.where, found.note) == ("source checkout", str(checkout), f"virtualenv {venv}")
    outside = install.detect(package_dir=str(checkout / "igny8_agent"), prefix="/usr", base_prefix="/usr",
                             modules={}, user_site="")
    assert (outside.kind, outside.note) == ("source checkout", "")


def test_a_directory_on_pythonpath_that_is_no_checkout_is_other(tmp_path):
    (tmp_path / "lib" / "igny8_agent").mkdir(parents=True)
    found = install.detect(package_dir=str(tmp_path / "lib" / "igny8_agent"), prefix="/usr", base_prefix="/usr",
                           modules={}, user_site="")
    assert (found.kind, found.where) == ("other", str(tmp_path / "lib"))


def test_a_prefix_reached_through_a_symbolic_link_still_holds_its_package(tmp_path):
    paths = layout(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "env")
    found = install.detect(base_prefix="/usr", **dict(paths, prefix=str(tmp_path / "link")))
    assert found.kind == "venv"


def test_the_pyz_names_its_archive_build_and_unpacked_copy():
    pyz = types.SimpleNamespace(BUILD_ID="0123abcd", ARCHIVE="/usr/local/bin/igny8-agent",
                                RUN_FROM="/root/.cache/igny8-agent/pyz-0123abcd", WHY_NOT_UNPACKED=None)
    found = install.detect(modules={"igny8_agent._pyz": pyz})
    assert (found.kind, found.where) == (".pyz", "/usr/local/bin/igny8-agent")
    assert found.note == "build 0123abcd, unpacked in /root/.cache/igny8-agent/pyz-0123abcd"
    pyz.RUN_FROM, pyz.WHY_NOT_UNPACKED = None, "/nonexistent: No such file or directory"
    assert install.detect(modules={"igny8_agent._pyz": pyz}).note == (
        "build 0123abcd, run from the archive: /nonexistent: No such file or directory")


def test_describe_names_the_python_version_and_executable(tmp_path):
    text = install.describe(install.Installation("venv", "/opt/igny8-agent"))
    assert text.splitlines() == ["installed: venv /opt/igny8-agent",
                                 f"python: {platform.python_version()} {sys.executable}"]


def test_version_as_a_process_says_how_this_checkout_runs():
    result = run_agent("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"igny8-agent {__version__}"
    expected = install.detect()  # the test process imports the same package from the same place
    assert lines[1] == f"installed: {expected.kind} {expected.where}" + (f" ({expected.note})" if expected.note else "")
    assert lines[2] == f"python: {platform.python_version()} {sys.executable}"


def test_detection_imports_nothing_new():
    """--version stays fast: install.py needs no module the CLI has not loaded."""
    probe = ("import sys, typer; before = set(sys.modules); from igny8_agent import install; install.describe(); "
             "print(sorted(set(sys.modules) - before - {'igny8_agent', 'igny8_agent.install'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
