"""WP-CLI habits: global options before or after the command, -V, and the
list formats (table, json, csv, yaml) — the agent as a process."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import yaml

from conftest import run_agent, write_wp_config
from igny8_agent import __version__
from igny8_agent.cli import wp_cli_order


@pytest.mark.parametrize("argv, expected", [
    (["--path", "/w", "structure"], ["structure", "--path", "/w"]),
    (["--path=/w", "--url", "u", "config", "type", "post"], ["config", "type", "post", "--path=/w", "--url", "u"]),
    (["sync", "-v"], ["-v", "sync"]),
    (["-v", "sync", "--quiet"], ["-v", "sync", "--quiet"]),
    (["structure", "--", "-v"], ["structure", "--", "-v"]),
])
def test_global_options_are_reordered_as_wp_cli_takes_them(argv, expected):
    assert wp_cli_order(argv) == expected


def test_path_before_the_command_and_verbose_after_it_work(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    before = run_agent("--path", str(root), "structure", "--format", "json", env=agent_env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["post_types"]["post"]["count"] == 1
    after = run_agent("structure", "--format", "json", "--path", str(root), "-v", env=agent_env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)


def test_dash_capital_v_prints_the_version():
    result = run_agent("-V")
    assert result.returncode == 0 and result.stdout.splitlines()[0] == f"igny8-agent {__version__}"
    assert result.stdout.splitlines()[1].startswith("installed: ")


def test_csv_and_yaml_carry_the_same_types_as_json(tmp_path, agent_env, wpdb):
    wpdb.add_term("post_tag", 'Tag "quoted", with: colon')
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    as_json = json.loads(run_agent("structure", "--path", str(root), "-f", "json", env=agent_env).stdout)
    as_yaml = run_agent("structure", "--path", str(root), "-f", "yaml", env=agent_env)
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == as_json
    as_csv = run_agent("structure", "--path", str(root), "-f", "csv", env=agent_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {(r["kind"], r["slug"], int(r["count"])) for r in rows} == {
        (kind, slug, entry["count"]) for kind in as_json for slug, entry in as_json[kind].items()}


def test_yaml_quotes_every_string_so_nothing_changes_type():
    from igny8_agent.formats import to_yaml

    data = {"post_types": {"yes": {"label": "no", "count": 3, "enabled": True}, "on": {}},
            "notes": ["- x: y", "null", "0x1F", 'a "b"\n\\c'], "empty": []}
    assert yaml.safe_load(to_yaml(data)) == data


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_are_printed_for_bash_and_zsh(shell):
    result = run_agent("--show-completion", shell)
    assert result.returncode == 0, result.stderr
    assert "_IGNY8_AGENT_COMPLETE" in result.stdout


def test_bash_completion_completes_commands_and_subcommands():
    env = {"_IGNY8_AGENT_COMPLETE": "complete_bash", "COMP_WORDS": "igny8-agent sch", "COMP_CWORD": "1"}
    assert run_agent(env=env).stdout.split() == ["schedule"]
    env.update(COMP_WORDS="igny8-agent config ty", COMP_CWORD="2")
    assert run_agent(env=env).stdout.split() == ["type"]


def test_every_help_ends_with_examples():
    from igny8_agent.cli_examples import EXAMPLES

    for path in EXAMPLES:
        result = run_agent(*path.split(), "--help", env={"COLUMNS": "200"})
        assert result.returncode == 0, (path, result.stderr)
        tail = result.stdout[result.stdout.index("Examples:"):]
        assert len(re.findall(r"(?m)^\s*\$ .*igny8-agent", tail)) == len(EXAMPLES[path]) >= 1, path
