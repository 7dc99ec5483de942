"""The reliability soak of igny8-agent, in one table.

Runs the three soaks and prints one table, section | kind | runs | as expected
| failures, with a total line:

* bench/soak_crash.py  -- SIGKILL / SIGTERM / SIGINT at random points, many
  syncs of one site at once (``run(kills, concurrent)``);
* bench/soak_faults.py -- every backend fault scenario, repeated (``run(rounds)``);
* bench/soak_fuzz.py   -- generated inputs for the parsers (``run(examples)``).

Each module is imported on its own: one that is missing or broken is shown as
"not available" and the others still run.

    .venv/bin/python bench/soak.py [--kills 200] [--concurrent 20] [--rounds 3] [--examples 5000] [--json]

Exit status: 0 when every run went as expected, 1 when any did not (or a
soak could not run), 2 when nothing failed but a soak was not available.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

# (section shown when the module is missing, module, how to call its run())
SOAKS: Tuple[Tuple[str, str, Callable[[argparse.Namespace], Dict[str, Any]]], ...] = (
    ("crash safety / concurrency", "soak_crash", lambda a: {"kills": a.kills, "concurrent": a.concurrent}),
    ("backend faults", "soak_faults", lambda a: {"rounds": a.rounds}),
    ("fuzzing", "soak_fuzz", lambda a: {"examples": a.examples}),
)
MAX_PROBLEMS = 3


def _say(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


def _load(module_name: str) -> Tuple[Optional[Callable[..., Any]], str]:
    """The module's ``run``, or None and why not."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a missing or broken soak must not stop the others
        return None, f"{type(exc).__name__}: {exc}"
    run = getattr(module, "run", None)
    if not callable(run):
        return None, f"bench/{module_name}.py has no run()"
    return run, ""


def _call(run: Callable[..., Any], arguments: Dict[str, Any], label: str) -> Any:
    """``run(**arguments)``, positionally (the modules name their parameters as
    they like), with a progress callback when it takes one."""
    kwargs: Dict[str, Any] = {}
    try:
        if "progress" in inspect.signature(run).parameters:
            kwargs["progress"] = lambda text: _say(f"{label}: {text}")
    except (TypeError, ValueError):
        pass
    return run(*arguments.values(), **kwargs)


def _valid(row: Any) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("runs"), int)
            and isinstance(row.get("as_expected"), int) and "kind" in row)


def run_all(args: argparse.Namespace, only: Sequence[str] = ()) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    rows: List[Dict[str, Any]] = []
    seconds: Dict[str, float] = {}
    for section, module_name, arguments in SOAKS:
        if only and module_name not in only:
            continue
        run, why = _load(module_name)
        if run is None:
            _say(f"{section}: not available ({why})")
            rows.append({"section": section, "kind": "not available", "runs": 0, "as_expected": 0,
                         "available": False, "problems": [why]})
            continue
        _say(f"{section}: running bench/{module_name}.py")
        started = time.monotonic()
        try:
            result = _call(run, arguments(args), section)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as a failed run of that soak
            result = [{"section": section, "kind": f"bench/{module_name}.py could not run", "runs": 1,
                       "as_expected": 0, "problems": [f"{type(exc).__name__}: {exc}"[:500]]}]
        seconds[section] = time.monotonic() - started
        for row in result or []:
            if _valid(row):
                rows.append(dict(row, section=row.get("section") or section))
            else:
                rows.append({"section": section, "kind": "malformed row", "runs": 1, "as_expected": 0,
                             "problems": [repr(row)[:300]]})
    return rows, seconds


def totals(rows: Sequence[Dict[str, Any]]) -> Dict[str, int]:
    runs = sum(r["runs"] for r in rows)
    ok = sum(r["as_expected"] for r in rows)
    return {"runs": runs, "as_expected": ok, "failures": runs - ok,
            "not_available": sum(1 for r in rows if r.get("available") is False)}


def format_table(rows: Sequence[Dict[str, Any]], seconds: Optional[Dict[str, float]] = None) -> str:
    head = ("section", "kind", "runs", "as expected", "failures")
    body = []
    for r in rows:
        missing = r.get("available") is False
        body.append((str(r["section"]), str(r["kind"]), "-" if missing else str(r["runs"]),
                     "-" if missing else str(r["as_expected"]),
                     "-" if missing else str(r["runs"] - r["as_expected"])))
    total = totals(rows)
    label = "total" + (f" ({total['not_available']} soak(s) not available)" if total["not_available"] else "")
    foot = (label, "", str(total["runs"]), str(total["as_expected"]), str(total["failures"]))
    widths = [max(len(cells[i]) for cells in (head, foot, *body)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-+-".join("-" * w for w in widths)
    out = [line(head), rule, *(line(cells) for cells in body), rule, line(foot)]
    failing = [r for r in rows if r["runs"] != r["as_expected"] or r.get("available") is False]
    for r in failing:
        for problem in list(r.get("problems") or [])[:MAX_PROBLEMS]:
            out.append(f"  ! {r['section']} / {r['kind']}: {problem}")
    if seconds:
        out.append("time: " + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items()))
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="The whole reliability soak of igny8-agent, in one table.")
    parser.add_argument("--kills", type=int, default=200, help="soak_crash: SIGKILLs in all (default 200)")
    parser.add_argument("--concurrent", type=int, default=20, help="soak_crash: syncs started at once (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="soak_faults: rounds of every fault scenario (default 3)")
    parser.add_argument("--examples", type=int, default=5000, help="soak_fuzz: generated examples (default 5000)")
    parser.add_argument("--only", action="append", default=[], choices=[m for _, m, _ in SOAKS],
                        help="run only this soak (repeatable)")
    parser.add_argument("--json", action="store_true", help="print rows and totals as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        rows, seconds = run_all(args, args.only)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    total = totals(rows)
    if args.json:
        print(json.dumps({"rows": rows, "total": total, "seconds": round(time.monotonic() - started, 1),
                          "section_seconds": {k: round(v, 1) for k, v in seconds.items()}}, indent=2))
    else:
        print(format_table(rows, seconds))
        print(f"({time.monotonic() - started:.0f} s in all)")
    if total["failures"]:
        return 1
    return 2 if total["not_available"] else 0


if __name__ == "__main__":
    sys.exit(main())
