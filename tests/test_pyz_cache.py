"""The .pyz's start-up (scripts/pyz_main.py): where it unpacks itself, and what it refuses.

The archive's __main__.py unpacks it once into the user's cache and runs from
there; these tests drive its functions on a small archive. The real .pyz is
tested in tests/test_pyz.py.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, Optional

import pytest

from conftest import REPO

BOOTSTRAP = REPO / "scripts" / "pyz_main.py"


def load_bootstrap():
    spec = importlib.util.spec_from_file_location("pyz_main_under_test", BOOTSTRAP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


boot = load_bootstrap()


def small_archive(path: Path, members: Optional[Dict[str, bytes]] = None) -> str:
    members = members or {"pkg/__init__.py": b"X = 1\n", "pkg/data/t.txt": b"text", "top.py": b""}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__main__.py", b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return str(path)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def cache(tmp_path) -> Path:
    """An XDG_CACHE_HOME that does not exist yet, in a directory only we can write."""
    return tmp_path / "cache"


# -- the bootstrap's unpacked copy -------------------------------------------------------


def test_the_first_run_unpacks_into_the_users_cache_0700_and_later_runs_reuse_it(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    assert why is None and directory == str(cache / "igny8-agent" / "pyz-b1")
    copy = Path(directory)
    assert (copy / "pkg" / "__init__.py").read_bytes() == b"X = 1\n"
    assert (copy / "pkg" / "data" / "t.txt").read_bytes() == b"text"
    assert not (copy / "__main__.py").exists()
    for path in [cache, cache / "igny8-agent", *copy.rglob("*"), copy]:
        assert os.lstat(path).st_uid == os.geteuid()
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert (copy / "pkg" / "__pycache__").is_dir()  # made 0700 here, not 0755 by Python
    assert sorted(p.name for p in (cache / "igny8-agent").iterdir()) == ["pyz-b1"]  # no temporary copy left

    (copy / "pkg" / "__init__.py").write_bytes(b"X = 2\n")  # a later run does not unpack again
    assert boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)}) == (directory, None)
    assert (copy / "pkg" / "__init__.py").read_bytes() == b"X = 2\n"


def test_without_xdg_cache_home_the_copy_goes_to_home_dot_cache():
    assert boot.cache_base({"XDG_CACHE_HOME": "relative/cache", "HOME": "/home/op"}, 1000) == "/home/op/.cache"
    assert boot.cache_base({"XDG_CACHE_HOME": "/var/cache/op"}, 1000) == "/var/cache/op"
    assert boot.cache_base({}, os.geteuid()) == os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, ".cache")


@pytest.mark.parametrize("linked", ["cache", "igny8-agent", "pyz-b1"])
def test_a_symbolic_link_anywhere_in_the_cache_path_is_refused_and_nothing_is_written_through_it(
        tmp_path, cache, linked):
    archive = small_archive(tmp_path / "a.pyz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    chain = [cache, cache / "igny8-agent", cache / "igny8-agent" / "pyz-b1"]
    for path in chain:
        if path.name == linked:
            path.symlink_to(elsewhere)
            break
        path.mkdir(mode=0o700)
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    assert directory is None and "symbolic link" in why
    assert list(elsewhere.iterdir()) == []


def test_a_cache_directory_others_can_write_is_refused(tmp_path, cache):
    cache.mkdir()
    cache.chmod(0o777)
    directory, why = boot.locate(small_archive(tmp_path / "a.pyz"), "b1", {"XDG_CACHE_HOME": str(cache)})
    assert directory is None and "mode 0777" in why
    assert list(cache.iterdir()) == []


def test_an_agent_directory_open_to_the_group_is_refused(tmp_path, cache):
    (cache / "igny8-agent").mkdir(parents=True)
    (cache / "igny8-agent").chmod(0o750)
    directory, why = boot.locate(small_archive(tmp_path / "a.pyz"), "b1", {"XDG_CACHE_HOME": str(cache)})
    assert directory is None and "mode 0750" in why


def test_a_parent_others_can_write_is_refused_unless_it_is_sticky(tmp_path):
    archive = small_archive(tmp_path / "a.pyz")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(shared / "cache")})
    assert directory is None and "writable by others" in why
    assert list(shared.iterdir()) == []
    shared.chmod(0o1777)  # like /tmp: nobody may rename another's entries
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(shared / "cache")})
    assert why is None and Path(directory).is_dir()


def test_directories_of_another_user_are_refused(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    assert boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})[1] is None
    other = os.geteuid() + 4242
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)}, uid=other)
    assert directory is None and why


def test_no_home_directory_means_running_from_the_archive(tmp_path):
    archive = small_archive(tmp_path / "a.pyz")
    missing = tmp_path / "no-such-home"
    directory, why = boot.locate(archive, "b1", {"HOME": str(missing)})
    assert directory is None and "No such file" in why
    assert not missing.exists()
    unknown_uid = 2 ** 31 - 7
    assert boot.cache_base({}, unknown_uid) is None


def test_a_copy_left_by_a_killed_run_is_removed_and_a_running_ones_is_kept(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    app = cache / "igny8-agent"
    app.mkdir(parents=True, mode=0o700)
    cache.chmod(0o700)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (app / f".pyz-b1.{dead.pid}.tmp").mkdir()
        (app / f".pyz-b1.{live.pid}.tmp").mkdir()
        directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
        assert why is None
        assert sorted(p.name for p in app.iterdir()) == sorted([f".pyz-b1.{live.pid}.tmp", "pyz-b1"])
    finally:
        live.kill()
        live.wait(timeout=30)


def test_when_another_first_run_renamed_its_copy_first_that_copy_is_used(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    app = cache / "igny8-agent"
    target = app / "pyz-b1"
    target.mkdir(parents=True, mode=0o700)
    cache.chmod(0o700)
    app.chmod(0o700)
    (target / "theirs").write_text("complete")
    assert boot.unpack(archive, str(app), str(target), os.geteuid()) is None
    assert sorted(p.name for p in app.iterdir()) == ["pyz-b1"]
    assert [p.name for p in target.iterdir()] == ["theirs"]


def test_unpacking_a_new_build_removes_other_copies_unused_for_a_week(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    app = cache / "igny8-agent"
    week = 7 * 86400
    for name, age in (("pyz-old", week + 3600), ("pyz-recent", week - 3600), (".pyz-x.1.tmp", 2 * week)):
        (app / name / "pkg").mkdir(parents=True)
        os.utime(app / name, (time.time() - age, time.time() - age))
    cache.chmod(0o700)
    app.chmod(0o700)
    assert boot.locate(archive, "new", {"XDG_CACHE_HOME": str(cache)})[1] is None
    assert sorted(p.name for p in app.iterdir()) == [".pyz-x.1.tmp", "pyz-new", "pyz-recent"]


def test_a_run_marks_its_copy_used_once_a_day(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz")
    directory, _ = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    hours_ago = time.time() - 5 * 3600
    os.utime(directory, (hours_ago, hours_ago))
    boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    assert os.stat(directory).st_mtime == pytest.approx(hours_ago, abs=1)  # within the day: left alone
    days_ago = time.time() - 3 * 86400
    os.utime(directory, (days_ago, days_ago))
    boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    assert os.stat(directory).st_mtime == pytest.approx(time.time(), abs=60)


def test_an_archive_member_that_would_land_outside_the_copy_is_refused(tmp_path, cache):
    archive = small_archive(tmp_path / "a.pyz", {"pkg/__init__.py": b"", "../escaped.py": b"boom"})
    directory, why = boot.locate(archive, "b1", {"XDG_CACHE_HOME": str(cache)})
    assert directory is None and "unsafe name" in why
    assert not (cache / "escaped.py").exists() and not (cache / "igny8-agent" / "escaped.py").exists()
    assert list((cache / "igny8-agent").iterdir()) == []
