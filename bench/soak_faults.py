"""Backend-fault soak for igny8-agent: every fault scenario of
tests/test_faults.py, repeated.

Each round of a scenario starts from scratch: a loopback contract server
(tests/contract_server.py; HTTPS with trustme certificates for the TLS
scenarios), a WordPress database (WordPress's own schema, tests/wp_schema.py)
created in the local MariaDB and dropped afterwards, and the agent as separate
processes with its own config / state / file-keyring directories. The
scenario connects the site, injects the fault, runs ``sync`` and checks how
it ended: exit code (6 temporary, 5 refused), one line on stderr, no
traceback, ``last_error`` recorded with the last success kept, retries within
the run's budget, and the next run succeeding (tests/fault_scenarios.py says
exactly what each scenario expects).

    .venv/bin/python bench/soak_faults.py --rounds 2 [--only SLUG ...] [--json]

``run(rounds)`` returns the rows bench/soak.py prints:
``{"section": "backend faults", "kind", "runs", "as_expected"}`` (plus
``problems``: the first few failures, described). One round of every
scenario takes about a minute and a half.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import fault_scenarios  # noqa: E402  (tests/fault_scenarios.py)

SECTION = "backend faults"
MAX_PROBLEMS = 3  # failures described per kind


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = text.splitlines()
    # The first line says what was expected; the run's stderr says what happened.
    stderr = lines[lines.index("--- stderr:") + 1:] if "--- stderr:" in lines else []
    shown = lines[0] + (" | stderr: " + " / ".join(line.strip() for line in stderr if line.strip())
                        if stderr else "")
    if not isinstance(exc, fault_scenarios.ScenarioFailed):
        shown = "%s: %s" % (type(exc).__name__, shown)
    return shown[:500]


def run(rounds: int, only: Optional[Sequence[str]] = None,
        progress: Callable[[str], None] = lambda text: None) -> List[Dict[str, Any]]:
    """Repeat every fault scenario ``rounds`` times; one row per fault."""
    rounds = max(1, int(rounds))
    fault_scenarios.admin_connect().close()  # the database server must be there (raises if not)
    scenarios = [s for s in fault_scenarios.SCENARIOS if not only or s.slug in only]
    rows: List[Dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="igny8-soak-faults-"))
    try:
        for scenario in scenarios:
            row: Dict[str, Any] = {"section": SECTION, "kind": scenario.kind, "runs": 0,
                                   "as_expected": 0, "problems": []}
            for index in range(rounds):
                started = time.monotonic()
                try:
                    fault_scenarios.run_scenario(scenario, workdir / ("%s-%d" % (scenario.slug, index)))
                except Exception as exc:  # noqa: BLE001 - a soak counts every way a round can fail
                    if len(row["problems"]) < MAX_PROBLEMS:
                        row["problems"].append(_describe(exc))
                    outcome = "NOT as expected"
                else:
                    row["as_expected"] += 1
                    outcome = "ok"
                row["runs"] += 1
                progress("%s #%d: %s (%.1f s)" % (scenario.slug, index + 1, outcome, time.monotonic() - started))
            rows.append(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each scenario runs (default 2)")
    parser.add_argument("--only", nargs="+", metavar="SLUG", choices=sorted(fault_scenarios.BY_SLUG),
                        help="run only these scenarios: " + ", ".join(fault_scenarios.BY_SLUG))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    rows = run(args.rounds, only=args.only, progress=progress)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["kind"]) for r in rows)
        print("%-*s  %5s  %11s" % (width, "backend fault", "runs", "as expected"))
        for r in rows:
            print("%-*s  %5d  %11d%s" % (width, r["kind"], r["runs"], r["as_expected"],
                                         "" if r["as_expected"] == r["runs"] else "  <--"))
            for problem in r["problems"]:
                print("    " + problem)
        total = sum(r["runs"] for r in rows)
        good = sum(r["as_expected"] for r in rows)
        print("%d of %d runs as expected in %.0f s" % (good, total, time.monotonic() - started))
    return 0 if all(r["as_expected"] == r["runs"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
