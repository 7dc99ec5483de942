"""Soak the agent's handling of bad input with generated examples.

For each target - the wp-config.php parser, the PHP unserializer, the HTTP
client reading backend responses - hypothesis draws ``examples`` inputs from
the generators tests/test_fuzz.py uses (tests/fuzz_inputs.py): byte soup,
real PHP or serialized tokens mixed, unterminated literals, thousands of
nesting levels, exponentially growing constants, huge declared lengths,
lying headers, compressed bombs, deep or broken JSON. An example is *as
expected* when the call returned, or raised the project's own error
(``Igny8Error``) with a one-line message, within TIME_LIMIT seconds of CPU.
Any other exception (MemoryError and RecursionError included), a longer run
or a hang (cut by an alarm) counts against it, and the first few are reported.

Unlike the tests (fixed examples, derandomized), every run draws new examples
from a random seed, printed on stderr; ``--seed`` repeats a run.

    .venv/bin/python bench/soak_fuzz.py --examples 2000
    .venv/bin/python bench/soak_fuzz.py --examples 2000 --json

``run(examples)`` gives rows ``{"section": "fuzz", "kind": <target>, "runs": N,
"as_expected": M}`` (plus ``problems`` when M < N) for bench/soak.py. The exit
status is 1 when an example was not as expected.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for extra in (str(REPO / "tests"), str(REPO)):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings  # noqa: E402

from fuzz_inputs import (  # noqa: E402
    ENVIRON, PATH, call_endpoint, client_inputs, unserialize_inputs, wp_config_inputs,
)
from igny8_agent.errors import Igny8Error  # noqa: E402
from igny8_agent.phpserialize import maybe_unserialize, unserialize  # noqa: E402
from igny8_agent.wpconfig import parse_wp_config  # noqa: E402

TIME_LIMIT = 1.0  # CPU seconds per example (CPU: a busy machine does not count against it)
HANG_ALARM = 10  # wall-clock seconds before a running example is cut off as a hang
MAX_PROBLEMS = 5


class _Hang(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def _check(call: Callable[[], Any]) -> Optional[str]:
    """None when ``call`` behaves; else what went wrong."""
    use_alarm = threading.current_thread() is threading.main_thread()
    started = time.process_time()
    problem: Optional[str] = None
    try:
        if use_alarm:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, HANG_ALARM)
        try:
            call()
        except Igny8Error as exc:
            if "\n" in str(exc) or not str(exc):
                problem = f"{type(exc).__name__} without a one-line message"
        except _Hang:
            raise
        except Exception as exc:  # noqa: BLE001 - what the soak looks for
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    except _Hang:  # also when it lands just after a long C call, in the finally above
        problem = f"no answer within {HANG_ALARM} s"
    elapsed = time.process_time() - started
    if problem is None and elapsed >= TIME_LIMIT:
        problem = f"took {elapsed:.2f} s of CPU"
    return problem


def _wp_config(text: str) -> Optional[str]:
    return _check(lambda: parse_wp_config(text, PATH, environ=ENVIRON))


def _unserialize(case: Any) -> Optional[str]:
    data, max_depth = case
    return _check(lambda: unserialize(data, max_depth=max_depth)) or _check(lambda: maybe_unserialize(data))


def _client(case: Any) -> Optional[str]:
    endpoint, specs = case
    return _check(call_endpoint(endpoint, specs))


def _describe(case: Any) -> str:
    text = repr(case)
    return text if len(text) <= 160 else text[:150] + f"...<{len(text)} chars>"


TARGETS = (
    ("wp-config parser", lambda: wp_config_inputs(max_levels=3000), _wp_config),
    ("PHP unserialize", lambda: unserialize_inputs(max_levels=20_000), _unserialize),
    ("client responses", client_inputs, _client),
)


def _soak(kind: str, strategy: Any, check: Callable[[Any], Optional[str]], examples: int, seed_value: int,
          progress: Optional[Callable[[str], None]]) -> Dict[str, Any]:
    counts = {"runs": 0, "as_expected": 0}
    problems: List[str] = []

    @seed(seed_value)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(strategy)
    def body(case: Any) -> None:
        problem = check(case)
        counts["runs"] += 1
        if problem is None:
            counts["as_expected"] += 1
        elif len(problems) < MAX_PROBLEMS:
            problems.append(f"{problem} for {_describe(case)}")
        if progress and counts["runs"] % 500 == 0:
            progress(f"{kind}: {counts['runs']}/{examples}")

    body()  # never raises: every outcome is counted, nothing is shrunk
    row: Dict[str, Any] = {"section": "fuzz", "kind": kind, **counts}
    if problems:
        row["problems"] = problems
    return row


def run(examples: int, progress: Optional[Callable[[str], None]] = None,
        seed_value: Optional[int] = None) -> List[Dict[str, Any]]:
    """``examples`` generated examples per target; one row per target."""
    if seed_value is None:
        seed_value = random.SystemRandom().randrange(2**32)
    print(f"soak_fuzz: seed {seed_value}", file=sys.stderr, flush=True)
    return [_soak(kind, make(), check, examples, seed_value, progress) for kind, make, check in TARGETS]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Generated bad input for the agent's parsers and HTTP client.")
    parser.add_argument("--examples", type=int, default=1000, help="examples per target (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="repeat the run of this seed")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = run(args.examples, progress=lambda text: print(f"soak_fuzz: {text}", file=sys.stderr, flush=True),
               seed_value=args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["kind"]) for r in rows)
        print(f"{'target'.ljust(width)} | {'runs':>6} | {'as expected':>11}")
        for r in rows:
            print(f"{r['kind'].ljust(width)} | {r['runs']:>6} | {r['as_expected']:>11}")
            for problem in r.get("problems", []):
                print(f"  ! {problem}")
        print(f"({time.monotonic() - started:.0f} s)")
    return 0 if all(r["runs"] == r["as_expected"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
