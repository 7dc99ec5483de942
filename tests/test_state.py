"""The order of recorded outcomes comes from a counter in the state, not the clock.

A success recorded while the clock said 2099 must not hide a failure
recorded after it today; a failure recorded while the clock said 2020 is
still the latest outcome.
"""

from __future__ import annotations

import json

import pytest

from igny8_agent import state as state_module
from igny8_agent.state import State, load_state, save_state


def at(monkeypatch, when: str) -> None:
    monkeypatch.setattr(state_module, "utc_now", lambda: when)


def test_a_failure_after_a_success_recorded_in_2099_is_the_last_outcome(tmp_path, monkeypatch):
    s = State()
    at(monkeypatch, "2099-01-01T00:00:00Z")
    s.record_success("", {}, True)
    at(monkeypatch, "2025-06-01T12:00:00Z")
    s.record_failure("backend unreachable", None, temporary=True)
    assert s.last_outcome() == "error"
    save_state(tmp_path / "s.state.json", s)
    assert load_state(tmp_path / "s.state.json").last_outcome() == "error"


def test_a_failure_recorded_in_2020_after_a_success_is_the_last_outcome(monkeypatch):
    s = State()
    at(monkeypatch, "2025-06-01T12:00:00Z")
    s.record_success("", {}, True)
    at(monkeypatch, "2020-01-01T00:00:00Z")
    s.record_failure("database down", None, temporary=False)
    assert s.last_outcome() == "error"


def test_a_success_after_a_failure_is_the_last_outcome_whatever_the_clock(monkeypatch):
    s = State()
    at(monkeypatch, "2099-01-01T00:00:00Z")
    s.record_failure("backend unreachable", None, temporary=True)
    at(monkeypatch, "2020-01-01T00:00:00Z")
    s.record_success("", {}, True)
    assert s.last_outcome() == "success"


def test_every_recorded_outcome_takes_the_next_sequence_number(monkeypatch):
    s = State()
    assert s.last_outcome() is None
    s.record_failure("a", None, temporary=True)
    s.record_success("", {}, True)
    s.record_failure("b", 503, temporary=True)
    assert s.seq == 3 and s.last_success_seq == 2 and s.last_error["seq"] == 3


@pytest.mark.parametrize("saved,expected", [
    ({"last_success": "2099-01-01T00:00:00Z", "last_error": {"at": "2025-01-01T00:00:00Z", "message": "x"}}, "error"),
    ({"last_success": "2020-01-01T00:00:00Z", "last_error": {}}, "success"),
    ({"last_error": {"at": "2020-01-01T00:00:00Z", "message": "x", "status": None, "temporary": True}}, "error"),
    ({}, None),
], ids=["error-next-to-success", "success-only", "error-only", "nothing"])
def test_state_files_written_before_sequence_numbers_load_and_order(tmp_path, saved, expected):
    path = tmp_path / "old.state.json"
    path.write_text(json.dumps(dict(saved, api_url="https://api.igny8.com/api/v1", site_id=3)))
    loaded = load_state(path)
    assert loaded.seq == 0 and loaded.last_outcome() == expected
