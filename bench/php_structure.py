"""Benchmark `igny8-agent structure` against WordPress's own PHP giving the same answer.

    .venv/bin/python bench/php_structure.py                      # sizes 10000 100000 1000000, 7 runs
    .venv/bin/python bench/php_structure.py --sizes 10000 100000 --runs 5

For each size N it reuses (or builds, with bench/structure.py's code) the
database ``igny8_bench_<N>``, then times, in rotating order within each round:

  agent       ``igny8-agent structure --path <root> --format json`` (the root
              and environment as in bench/structure.py);
  PHP         ``php bench/php_structure.php <wp-config.php>``: Debian's
              WordPress core (/usr/share/wordpress) boots against the same
              database (front end, SHORTINIT off, DISABLE_WP_CRON) and prints
              wp_count_posts()->publish per public post type and
              wp_count_terms() per public taxonomy, with labels, as JSON;
  PHP+opcache the same with OPcache on and a file cache kept between runs
              (``-d opcache.file_cache=...``), closer to what php-fpm does: the
              harder target. Left out if the OPcache extension is not loaded.

WooCommerce's code is not installed, so PHP registers only core post types and
taxonomies: its time is a lower bound for a real shop, which also loads the
plugins. The counts of post, page, category and post_tag must be the same on
both sides, else the script exits 1. It prints medians of wall time and the
largest peak RSS (GNU time) per command, and PASS/FAIL for "agent faster than
PHP at every size"; like bench/structure.py it is a report and exits 0 either
way (2 when PHP / WordPress / the agent are missing).

Needs: apt-get install --no-install-recommends php-cli php-mysql wordpress
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import structure as bench  # noqa: E402  (bench/structure.py)

PHP_SCRIPT = BENCH / "php_structure.php"
WP_CORE = Path(os.environ.get("IGNY8_BENCH_WP_CORE", "/usr/share/wordpress"))
COMPARED = {"post_types": ("post", "page"), "taxonomies": ("category", "post_tag")}
INSTALL_HINT = (
    "install them with:\n"
    "  apt-get update && apt-get install -y --no-install-recommends php-cli php-mysql wordpress\n"
    "(the wordpress package may pull in apache2; it is not needed here and can stay stopped)"
)


def missing_prerequisites(agent: Path) -> List[str]:
    problems = []
    php = shutil.which("php")
    if php is None:
        problems.append("php (the PHP command-line interpreter, Debian package php-cli) not found")
    elif subprocess.run([php, "-r", "exit(extension_loaded('mysqli') ? 0 : 1);"]).returncode != 0:
        problems.append("PHP has no mysqli extension (Debian package php-mysql)")
    if not (WP_CORE / "wp-settings.php").is_file():
        problems.append(f"no WordPress core in {WP_CORE} (Debian package wordpress; IGNY8_BENCH_WP_CORE overrides)")
    if not agent.exists():
        problems.append(f"{agent} not found: run this script with the python of the venv where igny8-agent is installed")
    return problems


def has_opcache(php: str) -> bool:
    probe = [php, "-d", "opcache.enable_cli=1", "-r", "exit(function_exists('opcache_get_status') ? 0 : 1);"]
    return subprocess.run(probe).returncode == 0


def write_php_config(directory: Path, database: str) -> Path:
    """A wp-config.php that loads Debian's core directly (not its /etc/wordpress configs)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "wp-config.php"
    config.write_text(
        "<?php\n"
        f"define( 'DB_NAME', '{database}' );\n"
        f"define( 'DB_USER', '{bench.DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{bench.DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{bench.DB_HOST}:{bench.DB_PORT}' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\n"
        "define( 'DB_COLLATE', '' );\n"
        f"$table_prefix = '{bench.PREFIX}';\n"
        "define( 'WP_DEBUG', false );\n"
        "define( 'DISABLE_WP_CRON', true );\n"
        "define( 'AUTOMATIC_UPDATER_DISABLED', true );\n"
        f"define( 'ABSPATH', '{WP_CORE}/' );\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    return config


def answer(argv: Sequence[str], env: Dict[str, str]) -> Dict:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} ... exited {out.returncode}: {(out.stderr or out.stdout).strip()}")
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise RuntimeError(f"{' '.join(argv[:2])} ... printed no JSON: {out.stdout[:300]!r}") from None


def compare(size: int, agent: Dict, php: Dict) -> List[str]:
    """Differences in the counts both sides must agree on."""
    problems = []
    for kind, slugs in COMPARED.items():
        for slug in slugs:
            a = agent.get(kind, {}).get(slug, {}).get("count")
            p = php.get(kind, {}).get(slug, {}).get("count")
            if a is None or a != p:
                problems.append(f"{size:,} posts: {kind}.{slug}: agent {a}, PHP {p}")
    return problems


def measure(size: int, runs: int, agent: str, php: str, opcache: bool, tmp: Path) -> Dict:
    database = bench.db_name(size)
    root = tmp / f"site-{size}"
    bench.write_wordpress_root(root, database)
    config = write_php_config(tmp / f"php-{size}", database)
    agent_env = bench.agent_environment(tmp)
    php_env = dict(os.environ)
    commands = {
        "agent": ([agent, "structure", "--path", str(root), "--format", "json"], agent_env),
        "php": ([php, str(PHP_SCRIPT), str(config)], php_env),
    }
    if opcache:
        cache = tmp / "opcache"
        cache.mkdir(exist_ok=True)
        commands["php_opcache"] = ([php, "-d", "opcache.enable_cli=1", "-d", f"opcache.file_cache={cache}",
                                    "-d", "opcache.file_cache_only=1", str(PHP_SCRIPT), str(config)], php_env)

    answers = {name: answer(argv, env) for name, (argv, env) in commands.items()}
    problems = [p for name in commands if name != "agent" for p in compare(size, answers["agent"], answers[name])]
    if problems:
        raise CountMismatch("\n  ".join(problems))

    for _ in range(2):  # warm-up: page cache, .pyc and OPcache files, buffer pool
        for argv, env in commands.values():
            bench.timed(argv, env)
    samples: Dict[str, List] = {name: [] for name in commands}
    order = list(commands)
    for i in range(runs):
        for name in order[i % len(order):] + order[:i % len(order)]:
            argv, env = commands[name]
            samples[name].append(bench.timed(argv, env))
    php_answer = answers["php"]
    return {
        "size": size,
        "ms": {name: statistics.median(w for w, _ in s) for name, s in samples.items()},
        "rss": {name: max(r for _, r in s) for name, s in samples.items()},
        "php_types": sorted(php_answer["post_types"]) + sorted(php_answer["taxonomies"]),
        "agent_only": sorted(set(answers["agent"]["post_types"]) - set(php_answer["post_types"]))
        + sorted(set(answers["agent"]["taxonomies"]) - set(php_answer["taxonomies"])),
        "php_inside_ms": php_answer.get("timing_ms", {}),
        "php_queries": php_answer.get("queries"),
        "php_dropped_writes": len(php_answer.get("dropped_writes", [])),
        "php_versions": f"WordPress {php_answer.get('wordpress')}, PHP {php_answer.get('php')}",
    }


class CountMismatch(RuntimeError):
    pass


def print_table(results: List[Dict], opcache: bool) -> None:
    headers = ["size", "agent ms", "PHP ms", "agent/PHP", "agent RSS MB", "PHP RSS MB"]
    if opcache:
        headers += ["PHP+opcache ms", "agent/PHP+opcache", "PHP+opcache RSS MB"]
    rows = []
    for r in results:
        ms, rss = r["ms"], r["rss"]
        row = [f"{r['size']:,}", f"{ms['agent']:.0f}", f"{ms['php']:.0f}", f"{ms['agent'] / ms['php']:.2f}x",
               f"{rss['agent']:.1f}", f"{rss['php']:.1f}"]
        if opcache:
            row += [f"{ms['php_opcache']:.0f}", f"{ms['agent'] / ms['php_opcache']:.2f}x", f"{rss['php_opcache']:.1f}"]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths)))
    print()
    verdicts = [("php", "agent faster than PHP (php-cli defaults, no OPcache) at every size")]
    if opcache:
        verdicts.append(("php_opcache", "agent faster than PHP with OPcache file cache at every size"))
    for key, label in verdicts:
        ok = all(r["ms"]["agent"] < r["ms"][key] for r in results)
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    print()
    first = results[0]
    print(f"PHP side: {first['php_versions']}; registers only {', '.join(first['php_types'])}"
          f" (WooCommerce not installed: PHP time is a lower bound for a real shop).")
    print(f"Agent also lists: {', '.join(first['agent_only']) or '-'}.")
    for r in results:
        inside = r["php_inside_ms"]
        print(f"  {r['size']:>9,} posts: PHP boot {inside.get('boot', '?')} ms + counts {inside.get('counts', '?')} ms"
              f" (inside the script, no OPcache), {r['php_queries']} queries,"
              f" {r['php_dropped_writes']} writes dropped by the read-only guard")
    print("Counts of post, page, category and post_tag: agent and PHP agree at every size.")
    print(f"Peak RSS: {bench.rss_method()}.")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["10000", "100000", "1000000"],
                        help="numbers of posts, space- or comma-separated (default: 10000 100000 1000000)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per size; medians are reported (default: 7)")
    parser.add_argument("--no-opcache", dest="opcache", action="store_false",
                        help="do not time the PHP+OPcache variant")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for arg in args.sizes for s in arg.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes integers")
    if not args.sizes or any(s < 100 for s in args.sizes):
        parser.error("--sizes must be at least 100 each")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    agent = Path(sys.executable).parent / "igny8-agent"
    problems = missing_prerequisites(agent)
    if problems:
        bench.log("error: cannot run the PHP benchmark:\n  " + "\n  ".join(problems) + "\n" + INSTALL_HINT)
        return 2
    php = shutil.which("php") or "php"
    opcache = args.opcache and has_opcache(php)
    if args.opcache and not opcache:
        bench.log("note: PHP's OPcache extension is not loaded; timing plain PHP only")

    tmp = Path(tempfile.mkdtemp(prefix="igny8-bench-php-"))
    results = []
    try:
        for size in args.sizes:
            if bench.database_state(size) != "ready":
                bench.log(f"{bench.db_name(size)}: building {size:,} posts ...")
                bench.log(f"{bench.db_name(size)}: built in {bench.build_database(size):.1f} s")
            bench.log(f"{bench.db_name(size)}: measuring, {args.runs} runs ...")
            results.append(measure(size, args.runs, str(agent), php, opcache, tmp))
    except CountMismatch as exc:
        bench.log(f"FAIL: the agent and WordPress's PHP disagree:\n  {exc}")
        return 1
    except (bench.pymysql.MySQLError, RuntimeError, subprocess.SubprocessError) as exc:
        bench.log(f"error: {exc}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results, opcache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
