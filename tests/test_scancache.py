"""The theme scan's cache: used while nothing changed, never trusted blindly."""

from __future__ import annotations

import os
from pathlib import Path

from igny8_agent import scancache
from igny8_agent.phpscan import scan_code
from igny8_agent.sitefiles import SiteFiles, ThemeDirs

CALL = "<?php register_post_type('{0}', array('label' => '{1}', 'public' => true));"


def theme(tmp_path: Path, slug: str = "boat", label: str = "Boats") -> SiteFiles:
    directory = tmp_path / "wp-content" / "themes" / "t"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "functions.php").write_text(CALL.format(slug, label))
    return SiteFiles.of(tmp_path, {}, cache_dir=tmp_path / "cache")


def scan(files: SiteFiles):
    directory = files.content_dir / "themes" / "t"
    return scan_code(files, ThemeDirs(directory, directory), {}, [])


def test_an_unchanged_theme_is_answered_from_the_cache(tmp_path, monkeypatch):
    files = theme(tmp_path)
    first = scan(files)
    assert (tmp_path / "cache" / "code-scan.json").exists()
    monkeypatch.setattr("igny8_agent.phpscan._scan", lambda *a: (_ for _ in ()).throw(AssertionError("rescanned")))
    assert scan(files) == first


def test_a_changed_file_is_scanned_again(tmp_path):
    files = theme(tmp_path)
    assert scan(files).registrations[0].slug == "boat"
    theme(tmp_path, "ship", "Ships and more")
    assert scan(files).registrations[0].slug == "ship"


def test_a_cache_file_others_can_write_or_a_symlink_is_ignored(tmp_path, monkeypatch):
    files = theme(tmp_path)
    scan(files)
    cache = tmp_path / "cache" / "code-scan.json"
    key = scancache.fingerprint([("theme", [files.content_dir / "themes" / "t" / "functions.php"])], {})
    cache.chmod(0o666)
    assert scancache.load(cache.parent, key) is None
    cache.chmod(0o600)
    real = tmp_path / "elsewhere.json"
    os.replace(cache, real)
    cache.symlink_to(real)
    assert scancache.load(cache.parent, key) is None
