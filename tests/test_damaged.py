"""Damaged state and config files are exit 3 naming the file, never exit 1.

A state file of random bytes, of deep nesting or with values of the wrong
type; a config file nested thousands deep, or with numbers that are not
finite or out of range. Numbers the config gives are finite and in range.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from igny8_agent import settings
from igny8_agent.errors import ConfigError
from igny8_agent.paths import site_name
from igny8_agent.state import load_state

GOOD_STATE = {
    "api_url": "https://api.igny8.com/api/v1", "key_entry": "shop@https://api.igny8.com/api/v1",
    "site_id": 7, "integration_id": 3, "fingerprint": {"home": "https://example.com"},
    "last_counts": {"post_types": {"post": 4}}, "last_error": {}, "pushed_connection_enabled": True,
}
DAMAGED_STATES = {
    "random-bytes": random.Random(17).randbytes(512),
    "deeply-nested": b"[" * 100000,
    "id-as-string": json.dumps(dict(GOOD_STATE, integration_id="2")).encode(),
    "fingerprint-not-object": json.dumps(dict(GOOD_STATE, fingerprint="abc")).encode(),
    "site-id-bool": json.dumps(dict(GOOD_STATE, site_id=True)).encode(),
    "counts-not-numbers": json.dumps(dict(GOOD_STATE, last_counts={"post_types": {"post": "4"}})).encode(),
    "error-a-list": json.dumps(dict(GOOD_STATE, last_error=["boom"])).encode(),
    "api-url-null": json.dumps(dict(GOOD_STATE, api_url=None)).encode(),
    "not-an-object": b"[1, 2]",
}
DAMAGED_CONFIGS = {
    "nested-5000-deep": "[wordpress]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    "inline-tables-5000-deep": "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
    "timeout-nan": "[backend]\ntimeout = nan\n",
    "timeout-1e400": "[backend]\ntimeout = 1e400\n",
    "timeout-huge": "[backend]\ntimeout = 1e12\n",
    "retry-budget-nan": "[backend]\nretry_budget = nan\n",
    "retry-budget-negative-inf": "[backend]\nretry_budget = -inf\n",
    "site-id-huge": "[backend]\nsite_id = 99999999999999999999999\n",
    "fetch-limit-huge": "[post_type.post]\nfetch_limit = 9999999999999\n",
    "not-utf8": "[wordpress]\npath = \"\xff\"\n",
}


def one_line_naming(result, path: Path) -> str:
    assert result.returncode == 3, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("content", DAMAGED_STATES.values(), ids=DAMAGED_STATES.keys())
def test_a_damaged_state_file_is_exit_3_naming_it(site, backend, content):
    site.state_dir.mkdir(mode=0o700)
    path = site.state_dir / f"{site_name(site.path)}.state.json"
    path.write_bytes(content)
    path.chmod(0o600)
    line = one_line_naming(site.run("sync"), path)
    assert "damaged" in line and "remove it" in line
    assert backend.requests == []


@pytest.mark.parametrize("text", DAMAGED_CONFIGS.values(), ids=DAMAGED_CONFIGS.keys())
def test_a_damaged_config_file_is_exit_3_naming_it(site, tmp_path, text):
    path = tmp_path / "site.toml"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    result = site.run("config", "show", "--json", "--config", str(path))
    one_line_naming(result, path)
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout


@pytest.mark.parametrize("option,value", [("--retry-budget", "nan"), ("--timeout", "inf"), ("--timeout", "1e400")])
def test_config_backend_refuses_a_number_that_is_not_finite_and_keeps_the_file(site, tmp_path, option, value):
    path = tmp_path / "site.toml"
    path.write_text("[backend]\nretry_budget = 30\n")
    before = path.read_bytes()
    result = site.run("config", "backend", option, value, "--config", str(path))
    one_line_naming(result, path)
    assert path.read_bytes() == before


def test_an_old_state_file_without_sequence_numbers_still_loads(tmp_path):
    path = tmp_path / "site.state.json"
    path.write_text(json.dumps(dict(GOOD_STATE, last_success="2024-05-01T10:00:00Z", some_future_field=1)))
    loaded = load_state(path)
    assert loaded.integration_id == 3 and loaded.seq == 0 and loaded.last_outcome() == "success"


@pytest.mark.parametrize("key,value", [("timeout", 0.1), ("timeout", 3600.0), ("retry_budget", 0), ("retry_budget", 86400.0)])
def test_numbers_at_the_ends_of_their_range_are_accepted(tmp_path, key, value):
    path = tmp_path / "site.toml"
    path.write_text(f"[backend]\n{key} = {value!r}\n")
    assert getattr(settings.load_settings(path), key) == value


def test_out_of_range_numbers_name_the_key_and_the_range(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("[backend]\ntimeout = nan\n")
    with pytest.raises(ConfigError, match=r"site.toml: backend.timeout must be a number from 0.1 to 3600"):
        settings.load_settings(path)
