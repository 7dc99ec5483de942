"""Benchmark one site's `igny8-agent sync` against the PHP plugin's whole daily sync.

    .venv/bin/python bench/php_sync.py                           # sizes 1000 10000 100000 (+1000000 if built), 7 runs
    .venv/bin/python bench/php_sync.py --sizes 1000 10000 100000 --runs 5

For each size N it reuses (or builds, with bench/structure.py's code) the
database ``igny8_bench_<N>``, starts tests/contract_server.py in its own
process on loopback and runs ``igny8-agent connect`` once, as bench/sync.py
does, then times, in rotating order within each round:

  agent       ``igny8-agent sync --path <root>`` as a whole process;
  PHP         ``php bench/php_sync.php <wp-config.php> <api-url> <id>``:
              WordPress's own PHP boots (bench/php_structure.php, run inside
              it), computes the same structure, builds the same
              update-structure body and POSTs it with wp_remote_post(), as the
              plugin's daily sync does (the key in the environment, never argv);
  PHP+opcache the same with an OPcache file cache kept between runs, as in
              bench/php_structure.py. Left out if OPcache is not loaded.

Every timed run must exit 0 and the backend must log exactly one accepted
(200) structure push for it and no error answer. The counts of post, page,
category and post_tag in the PHP push must equal the agent's, else exit 1.
It prints medians of wall time and of peak RSS (GNU time %M) and PASS/FAIL
for "agent faster" per size; it is a report and exits 0 either way (2 when
PHP / WordPress / the agent are missing).

WooCommerce's code is not installed, so PHP registers (and pushes) only core
types: its time is a lower bound for a real shop.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import php_structure as ps  # noqa: E402  (bench/php_structure.py: PHP prerequisites, wp-config.php)
import structure as sb  # noqa: E402  (bench/structure.py: builder, WordPress root, timing)
import sync as bs  # noqa: E402  (bench/sync.py: contract server process, connect, push counting)

PHP_SCRIPT = BENCH / "php_sync.php"
KEY_VARIABLE = "IGNY8_BENCH_API_KEY"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
BIG = 1_000_000  # timed by default only when its database already exists
LABELS = {"agent": "agent sync", "php": "PHP sync", "php_opcache": "PHP+opcache sync"}

log = sb.log


def integration_id(agent: str, root: Path, env: Dict[str, str]) -> int:
    """The integration the agent connected to, from its own state."""
    out = subprocess.run([agent, "status", "--path", str(root), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    try:
        found = json.loads(out.stdout)["local"]["integration_id"]
    except (ValueError, KeyError, TypeError):
        found = None
    if not isinstance(found, int):
        raise RuntimeError(f"igny8-agent status gave no integration id (exit {out.returncode}): {out.stderr.strip()}")
    return found


def measure(size: int, runs: int, python: str, agent: str, php: str, opcache: bool, tmp: Path) -> Dict:
    work = tmp / f"size-{size}"
    database = sb.db_name(size)
    root = work / "site"
    sb.write_wordpress_root(root, database)
    config = ps.write_php_config(work / "php", database)
    env = sb.agent_environment(work)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env["IGNY8_KEYRING"] = "file"
    api_key = "igny8_bench_" + secrets.token_hex(12)

    backend = bs.Backend(python, sb.HOME, api_key, work)
    try:
        env["IGNY8_API_URL"] = backend.url
        bs.connect_once(agent, root, env, api_key)
        ident = integration_id(agent, root, env)
        php_env = dict(os.environ)
        php_env[KEY_VARIABLE] = api_key
        php_args = [str(PHP_SCRIPT), str(config), backend.url, str(ident)]
        commands: Dict[str, Tuple[List[str], Dict[str, str]]] = {
            "agent": ([agent, "sync", "--path", str(root)], env),
            "php": ([php, *php_args], php_env),
        }
        if opcache:
            cache = work / "opcache"
            cache.mkdir(exist_ok=True)
            commands["php_opcache"] = ([php, "-d", "opcache.enable_cli=1", "-d", f"opcache.file_cache={cache}",
                                        "-d", "opcache.file_cache_only=1", *php_args], php_env)

        # The PHP push must carry the counts the agent reads.
        agent_answer = ps.answer([agent, "structure", "--path", str(root), "--format", "json"], env)
        backend.new_requests()
        php_answer = ps.answer(commands["php"][0], php_env)
        check_pushes("php (check)", backend.new_requests())
        problems = ps.compare(size, agent_answer, php_answer)
        if problems:
            raise ps.CountMismatch("\n  ".join(problems))

        samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in commands}

        def run_one(name: str, record: bool) -> None:
            argv, run_env = commands[name]
            wall, rss = sb.timed(argv, run_env)  # raises unless exit 0
            check_pushes(name, backend.new_requests())
            if record:
                samples[name].append((wall, rss))

        order = list(commands)
        for _ in range(2):  # warm-up: page cache, .pyc and OPcache files, buffer pool, server
            for name in order:
                run_one(name, record=False)
        for i in range(runs):
            for name in order[i % len(order):] + order[:i % len(order)]:  # rotate who goes first
                run_one(name, record=True)
        total = bs.pushes(backend.requests())
    finally:
        backend.stop()
    return {
        "size": size,
        "ms": {name: statistics.median(w for w, _ in s) for name, s in samples.items()},
        "rss": {name: statistics.median(r for _, r in s) for name, s in samples.items()},
        "pushes": total,
        "php_answer": php_answer,
        "agent_only": sorted(set(agent_answer["post_types"]) - set(php_answer["post_types"]))
        + sorted(set(agent_answer["taxonomies"]) - set(php_answer["taxonomies"])),
    }


def check_pushes(name: str, new: Sequence[Tuple[str, str, int]]) -> None:
    got = bs.pushes(new)
    if got != 1:
        raise RuntimeError(f"{name}: the backend received {got} accepted structure pushes, expected 1 (requests: {new})")
    bad = [r for r in new if r[2] >= 400]
    if bad:
        raise RuntimeError(f"{name}: the backend answered errors: {bad}")


def print_table(results: List[Dict], runs: int, opcache: bool) -> None:
    keys = ["php"] + (["php_opcache"] if opcache else [])
    headers = ["size", "agent sync ms"]
    for key in keys:
        headers += [f"{LABELS[key]} ms", f"agent/{LABELS[key].split()[0]}", "agent faster"]
    headers += ["agent RSS MB"] + [f"{LABELS[key].split()[0]} RSS MB" for key in keys]
    rows = []
    for r in results:
        ms, rss = r["ms"], r["rss"]
        row = [f"{r['size']:,}", f"{ms['agent']:.0f}"]
        for key in keys:
            row += [f"{ms[key]:.0f}", f"{ms['agent'] / ms[key]:.2f}x", "PASS" if ms["agent"] < ms[key] else "FAIL"]
        row += [f"{rss['agent']:.1f}"] + [f"{rss[key]:.1f}" for key in keys]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print(f"One site's sync, medians of {runs} runs (wall time; peak RSS by {sb.rss_method()}):")
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths)))
    print()
    for key in keys:
        ok = all(r["ms"]["agent"] < r["ms"][key] for r in results)
        print(f"{'PASS' if ok else 'FAIL'}  agent sync faster than {LABELS[key]} at every size")
    print()
    first = results[0]["php_answer"]
    print(f"PHP side: WordPress {first.get('wordpress')}, PHP {first.get('php')}; pushes only "
          f"{', '.join(sorted(first['post_types']) + sorted(first['taxonomies']))}"
          f" (WooCommerce not installed: PHP time is a lower bound for a real shop).")
    print(f"Agent also pushes: {', '.join(results[0]['agent_only']) or '-'}.")
    for r in results:
        inside = r["php_answer"].get("timing_ms", {})
        print(f"  {r['size']:>9,} posts: PHP boot {inside.get('boot', '?')} ms + counts {inside.get('counts', '?')} ms"
              f" + POST {inside.get('post', '?')} ms (inside the script: first, untimed run, no OPcache);"
              f" {r['pushes']} pushes accepted in all (connect, check, warm-up, timed)")
    print("Every timed run: exit 0 and exactly one accepted push; post/page/category/post_tag counts agree.")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=None,
                        help="numbers of posts, space- or comma-separated (default: 1000 10000 100000,"
                             " plus 1000000 when igny8_bench_1000000 is already built)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per size; medians are reported (default: 7)")
    parser.add_argument("--no-opcache", dest="opcache", action="store_false",
                        help="do not time the PHP+OPcache variant")
    args = parser.parse_args(argv)
    if args.sizes is not None:
        try:
            args.sizes = [int(s.replace("_", "")) for arg in args.sizes for s in arg.split(",") if s.strip()]
        except ValueError:
            parser.error("--sizes takes integers")
        if not args.sizes or any(s < 100 for s in args.sizes):
            parser.error("--sizes must be at least 100 each")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks: server stopped, temp dir removed


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    python = sys.executable
    agent = Path(python).parent / "igny8-agent"
    problems = ps.missing_prerequisites(agent)
    if problems:
        log("error: cannot run the PHP sync benchmark:\n  " + "\n  ".join(problems) + "\n" + ps.INSTALL_HINT)
        return 2
    php = shutil.which("php") or "php"
    opcache = args.opcache and ps.has_opcache(php)
    if args.opcache and not opcache:
        log("note: PHP's OPcache extension is not loaded; timing plain PHP only")

    tmp = Path(tempfile.mkdtemp(prefix="igny8-bench-php-sync-"))
    results = []
    try:
        sizes = args.sizes
        if sizes is None:
            sizes = list(DEFAULT_SIZES) + ([BIG] if sb.database_state(BIG) == "ready" else [])
        for size in sizes:
            if sb.database_state(size) != "ready":
                log(f"{sb.db_name(size)}: building {size:,} posts ...")
                log(f"{sb.db_name(size)}: built in {sb.build_database(size):.1f} s")
            log(f"{sb.db_name(size)}: measuring, {args.runs} runs ...")
            results.append(measure(size, args.runs, python, str(agent), php, opcache, tmp))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except ps.CountMismatch as exc:
        log(f"FAIL: the agent and WordPress's PHP disagree:\n  {exc}")
        return 1
    except (sb.pymysql.MySQLError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        log(f"error: {exc}")
        return 1
    finally:
        bs.stop_children()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results, args.runs, opcache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
