"""Backend faults, end to end: the agent as a separate process against a real
loopback backend (HTTP, or HTTPS with trustme certificates) and a real
MariaDB WordPress database.

For every fault — 500, 502, 503, 504, 408, 429 with Retry-After in seconds
and as an HTTP date, connection refused, reset mid-response, no answer, a
stall after the headers, HTML error pages, non-JSON and wrong-shape answers,
a 50 MB body, a redirect to another host, self-signed / expired / privately
issued TLS certificates — the run must end with the documented exit code (6
temporary, 5 refused), one line on stderr, no traceback, ``last_error``
recorded and the last success kept; temporary faults are retried within the
run's budget and the next run succeeds. The scenarios live in
``fault_scenarios.py`` (``bench/soak_faults.py`` repeats them).
"""

from __future__ import annotations

import pytest

import fault_scenarios
from fault_scenarios import SCENARIOS, Scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_backend_fault(scenario: Scenario, tmp_path, mariadb_server) -> None:
    failure = None
    try:
        fault_scenarios.run_scenario(scenario, tmp_path)
    except fault_scenarios.ScenarioFailed as exc:
        failure = "%s: %s" % (scenario.kind, exc)
    if failure:
        pytest.fail(failure, pytrace=False)


def test_every_fault_of_the_issue_has_a_scenario() -> None:
    kinds = " ".join(s.kind for s in SCENARIOS)
    for fault in ("500", "502", "503", "504", "408", "Retry-After in seconds", "HTTP date",
                  "refused", "reset", "never answers", "stall", "HTML", "non-JSON", "wrong shape",
                  "50 MB", "another host", "self-signed", "--ca-bundle", "expired"):
        assert fault in kinds, fault
