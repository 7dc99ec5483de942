"""The head start `structure` gets: its read overlaps loading the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_wp_config
from igny8_agent import prefetch
from igny8_agent.site import SiteOptions

NO_DB = {"host": None, "name": None, "user": None, "charset": None, "table_prefix": None}


def test_site_options_are_picked_out_of_a_plain_structure_command():
    got = prefetch._site_options(["structure", "--path", "/srv/wp", "--format=json", "--url=https://a.test/",
                                  "--db-host", "db:3307", "--config", "/etc/x.toml"])
    assert got == SiteOptions(path="/srv/wp", url="https://a.test/", config=Path("/etc/x.toml"),
                              db=dict(NO_DB, host="db:3307"))


def test_anything_unusual_means_no_head_start():
    for argv in (["sync", "--all"], ["connect"], ["structure", "--help"], ["structure", "--path"],
                 ["structure", "--bogus", "x"], ["structure", "--path", "--url"], ["structure", "--quiet"],
                 ["sync", "--format", "json"], [], ["--version"]):
        assert prefetch._site_options(argv) is None, argv


def test_a_plain_sync_gets_a_head_start_too():
    """`sync` reads the site while the CLI loads, as `structure` does: its
    output flags change nothing about what is read."""
    assert prefetch._site_options(["sync"]) == SiteOptions(db=dict(NO_DB))
    assert prefetch._site_options(["sync", "--quiet", "--path", "/srv/wp", "--wait", "5", "--json"]) == \
        SiteOptions(path="/srv/wp", db=dict(NO_DB))


def test_read_ahead_is_used_only_for_the_same_options(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    prefetch.start(["structure", "--path", str(root)])
    assert prefetch.take(SiteOptions(path="/elsewhere", db=dict(NO_DB))) is None
    assert prefetch.take(SiteOptions(path=str(root), db=dict(NO_DB))) is None  # consumed above
    prefetch.start(["structure", "--path", str(root)])
    site, facts = prefetch.take(SiteOptions(path=str(root), db=dict(NO_DB)))
    assert facts.post_type_counts["post"] == 1


def test_structure_json_imports_nothing_it_does_not_use(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    probe = (
        "import sys\n"
        f"sys.argv = ['igny8-agent', 'structure', '--path', {str(root)!r}, '--format', 'json']\n"
        "from igny8_agent.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = ('httpx', 'keyring', 'tenacity', 'rich', 'tomlkit', 'cryptography', 'logging')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["post_types"]["post"]["count"] == 1
    assert result.stderr.strip().splitlines()[-1] == "[]"
