"""Benchmark `igny8-agent sync --all` on a fleet: a big multisite network and many installs.

    .venv/bin/python bench/fleet.py                       # both parts, default sizes
    .venv/bin/python bench/fleet.py --part network --subsites 1000 --runs 3 --sample 50
    .venv/bin/python bench/fleet.py --part installs --installs 200
    .venv/bin/python bench/fleet.py --json                # the figures as JSON on stdout

(a) network: a generated multisite network of ``--subsites`` sites (default
1,000; WordPress's real schema, tests/fleet_data.py) whose every site is
known to the loopback contract server (tests/contract_server.py, in a thread
of this process). After ``connect --network``, it times, on the same data and
backend:

  sync --all        ``igny8-agent sync --all --json``, ``--runs`` times after
                    one warm-up: wall time (median) and the agent process's peak
                    RSS (GNU time %M); every run must push every served
                    subsite exactly once with its own counts;
  per-subsite loop  ``igny8-agent sync --path ROOT --url URL`` for a sample of
                    ``--sample`` subsites spread over the network, one after
                    the other as a shell loop would; the total is the sample's
                    time scaled to all served subsites (labelled "extrapolated");
  PHP loop          ``php bench/php_fleet.php``: WordPress (Debian's core in
                    /usr/share/wordpress) boots the network's main site and
                    loops switch_to_blog() over every served site, counting as
                    the agent does; skipped, and said so, when php or WordPress
                    is not installed (nothing is installed by this script).

Targets: sync --all <= 5 s wall and <= 100 MiB peak RSS for 1,000 subsites.

(b) installs: ``--installs`` single-site installs on this host (default 200:
a quarter each with a database of their own over TCP, sharing one database
under different table prefixes over TCP, own database over the Unix socket,
shared over the socket), each connected with ``connect``; it times ``sync
--all`` (target <= 2 s wall) and, for scale, a per-install loop on a sample.

Every database it creates is dropped at the end, also after a failure or
Ctrl-C. It is a report: exit 0 whether the targets are met or not; 1 when a
run failed or a push was missing; 2 when the agent has no ``sync --all`` /
``connect --network`` (or is not installed next to this python).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / "tests"))

import fleet_data as fd  # noqa: E402  (tests/fleet_data.py)
import structure as sb  # noqa: E402  (bench/structure.py: agent environment, GNU time)
from sync import stop_children  # noqa: E402  (bench/sync.py: reap a timed agent after Ctrl-C)
from contract_server import ContractServer  # noqa: E402

NETWORK_TARGET_S = 5.0
NETWORK_RSS_TARGET_MB = 100.0
INSTALLS_TARGET_S = 2.0
API_KEY = "igny8_benchFleet-0123456789abcdef"
PHP_SCRIPT = BENCH / "php_fleet.php"
WP_CORE = Path(os.environ.get("IGNY8_BENCH_WP_CORE", "/usr/share/wordpress"))
log = sb.log


class BenchError(RuntimeError):
    pass


# -- running things ---------------------------------------------------------------------


def agent_argv() -> List[str]:
    agent = Path(sys.executable).parent / "igny8-agent"
    return [str(agent)] if agent.exists() else [sys.executable, "-m", "igny8_agent"]


def missing_commands(env: Dict[str, str]) -> List[str]:
    problems = []
    for command, option in ((["sync"], "--all"), (["connect"], "--network")):
        out = subprocess.run([*agent_argv(), *command, "--help"], env=env, capture_output=True, text=True)
        if out.returncode != 0 or option not in out.stdout:
            problems.append(f"igny8-agent {command[0]} has no {option} option")
    return problems


def timed(argv: Sequence[str], env: Dict[str, str], input: Optional[str] = None,
          ok: Sequence[int] = (0,)) -> Tuple[float, float, str]:
    """Run argv: (wall s, peak RSS MiB of that process, stdout).

    Peak RSS comes from GNU time (%M), which forks the command from a small
    process: the ru_maxrss of a child forked from this benchmark (server,
    pymysql, a thousand sites in memory) would carry this process's high-water
    mark across exec. Without GNU time it is that upper bound (wait4)."""
    with tempfile.NamedTemporaryFile(prefix="igny8-bench-rss-") as rss, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        full = [sb.GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if sb.GNU_TIME else list(argv)
        started = time.perf_counter()
        proc = subprocess.Popen(full, env=env, stdin=subprocess.PIPE if input else subprocess.DEVNULL,
                                stdout=out, stderr=err)
        if input:
            proc.stdin.write(input.encode())
            proc.stdin.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        if code not in ok:
            detail = err.read().decode("utf-8", "replace").strip()
            raise BenchError(f"{' '.join(argv[1:3])} ... exited {code}: {detail[-2000:]}")
        peak_kib = int(Path(rss.name).read_text().split()[-1]) if sb.GNU_TIME else usage.ru_maxrss
    return wall, peak_kib / 1024.0, stdout


def parallel_connect(roots: Sequence[Path], env: Dict[str, str], jobs: int = 4) -> float:
    """``connect --path ROOT`` for every root, ``jobs`` at a time; the wall time."""
    started = time.perf_counter()

    def one(root: Path) -> None:
        out = subprocess.run([*agent_argv(), "connect", "--path", str(root), "--api-key-stdin"],
                             input=API_KEY + "\n", env=env, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise BenchError(f"connect --path {root} exited {out.returncode}: {out.stderr.strip()}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(one, root) for root in roots]:
            future.result()
    return time.perf_counter() - started


def check_pushes(server: ContractServer, expected: Dict[int, Dict], what: str) -> None:
    """Every expected site exactly one accepted push with its counts; no others."""
    pushes = fd.pushes_by_site(server)
    missing = [s for s in expected if len(pushes.get(s, [])) != 1]
    extra = sorted(set(pushes) - set(expected))
    wrong = [s for s in expected if s not in missing and fd.counts_of(pushes[s][0].body) != expected[s]]
    if missing or extra or wrong:
        raise BenchError(f"{what}: {len(missing)} sites not pushed exactly once, {len(extra)} pushed that"
                         f" must not be, {len(wrong)} with wrong counts (e.g. {(missing + extra + wrong)[:5]})")
    errors = [r for r in server.requests if (r.status or 0) >= 400]
    if errors:
        raise BenchError(f"{what}: the backend answered {len(errors)} errors, e.g. {errors[0].status} {errors[0].path}")


def sample_of(items: Sequence[Any], n: int) -> List[Any]:
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def sync_all_runs(env: Dict[str, str], server: ContractServer, expected: Dict[int, Dict], runs: int,
                  jobs: Optional[int]) -> Dict[str, Any]:
    argv = [*agent_argv(), "sync", "--all", "--json"] + (["--jobs", str(jobs)] if jobs else [])
    samples = []
    agent_seconds = []
    for i in range(runs + 1):  # the first is a warm-up
        server.clear_requests()
        wall, rss, stdout = timed(argv, env)
        check_pushes(server, expected, f"sync --all run {i}")
        report = json.loads(stdout)
        if report.get("exit_code") != 0:
            raise BenchError(f"sync --all reported exit code {report.get('exit_code')}")
        if i:
            samples.append((wall, rss))
            agent_seconds.append(float(report.get("seconds") or 0))
    walls = [w for w, _ in samples]
    return {"wall_s": statistics.median(walls), "wall_runs_s": [round(w, 3) for w in walls],
            "agent_reported_s": statistics.median(agent_seconds), "peak_rss_mb": max(r for _, r in samples),
            "requests_per_run": len(server.requests)}


def per_site_loop(argvs: Sequence[List[str]], env: Dict[str, str], total: int) -> Dict[str, Any]:
    """One agent process per site, in turn; scaled from the sample to ``total`` sites."""
    walls, peak = [], 0.0
    for argv in argvs:
        wall, rss, _ = timed(argv, env)
        walls.append(wall)
        peak = max(peak, rss)
    return {"sample": len(argvs), "sample_s": sum(walls), "per_site_ms": 1000 * statistics.mean(walls),
            "wall_s": statistics.mean(walls) * total, "extrapolated": len(argvs) < total, "peak_rss_mb": peak}


# -- (a) the network -------------------------------------------------------------------------


def php_problems() -> List[str]:
    php = shutil.which("php")
    problems = []
    if php is None:
        problems.append("php not found (Debian package php-cli)")
    elif subprocess.run([php, "-r", "exit(extension_loaded('mysqli') ? 0 : 1);"]).returncode != 0:
        problems.append("PHP has no mysqli extension (Debian package php-mysql)")
    if not (WP_CORE / "wp-settings.php").is_file():
        problems.append(f"no WordPress core in {WP_CORE} (Debian package wordpress; IGNY8_BENCH_WP_CORE overrides)")
    return problems


def write_php_config(directory: Path, net: fd.Network) -> Path:
    """wp-config.php for WordPress's own core against the generated network."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "wp-config.php"
    config.write_text(
        "<?php\n"
        f"define( 'DB_NAME', '{net.name}' );\n"
        f"define( 'DB_USER', '{fd.DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{fd.DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{fd.DB_HOST}:{fd.DB_PORT}' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\n"
        "define( 'DB_COLLATE', '' );\n"
        f"$table_prefix = '{net.prefix}';\n"
        + fd.network_config(net.domain, net.subdirectory) +
        "define( 'WP_DEBUG', false );\n"
        "define( 'DISABLE_WP_CRON', true );\n"
        "define( 'AUTOMATIC_UPDATER_DISABLED', true );\n"
        f"define( 'ABSPATH', '{WP_CORE}/' );\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    return config


def php_loop(net: fd.Network, tmp: Path) -> Dict[str, Any]:
    problems = php_problems()
    if problems:
        return {"skipped": "; ".join(problems)}
    config = write_php_config(tmp / "php", net)
    argv = [shutil.which("php") or "php", str(PHP_SCRIPT), str(config), net.domain]
    timed(argv, dict(os.environ))  # warm-up
    wall, rss, stdout = timed(argv, dict(os.environ))
    answer = json.loads(stdout)
    wrong = []
    for blog in net.served():
        got = answer["sites"].get(str(blog.blog_id))
        if got is None or {k: {s: got[k].get(s) for s in blog.expected[k]} for k in blog.expected} != blog.expected:
            wrong.append(blog.blog_id)
    if wrong or len(answer["sites"]) != len(net.served()):
        raise BenchError(f"PHP counted differently: {len(answer['sites'])} sites, wrong for blogs {wrong[:10]}")
    return {"wall_s": wall, "peak_rss_mb": rss, "inside_ms": answer.get("timing_ms"),
            "versions": f"WordPress {answer.get('wordpress')}, PHP {answer.get('php')}",
            "dropped_writes": len(answer.get("dropped_writes", []))}


def bench_network(args: argparse.Namespace, tmp: Path, cleanup: List[Any]) -> Dict[str, Any]:
    log(f"network: generating {args.subsites:,} sites ...")
    net = fd.make_network(args.subsites, root=tmp / "network", archived=(3,), deleted=(4,), spam=(5,))
    cleanup.append(net)
    log(f"network: generated in {net.seconds:.1f} s")
    server = ContractServer(page_size=100).start()
    cleanup.append(server)
    account = server.add_account("Bench", "bench@example.com", API_KEY)
    site_ids = fd.register_sites(server, account, [b.home for b in net.blogs.values()])
    expected = {site_ids[b.home]: b.expected for b in net.served()}
    env = bench_env(tmp / "network-agent", server)

    started = time.perf_counter()
    connect = subprocess.run([*agent_argv(), "connect", "--network", "--path", str(net.root), "--api-key-stdin",
                              "--json"], input=API_KEY + "\n", env=env, capture_output=True, text=True, timeout=3600)
    connect_s = time.perf_counter() - started
    if connect.returncode != 0:
        raise BenchError(f"connect --network exited {connect.returncode}: {connect.stderr.strip()[-2000:]}")
    log(f"network: connect --network took {connect_s:.1f} s; timing sync --all, {args.runs} runs ...")
    result: Dict[str, Any] = {"subsites": args.subsites, "served": len(net.served()),
                              "generate_s": net.seconds, "connect_s": connect_s}
    result["sync_all"] = sync_all_runs(env, server, expected, args.runs, args.jobs)

    sample = sample_of(net.served(), args.sample)
    log(f"network: timing the per-subsite loop on {len(sample)} subsites ...")
    server.clear_requests()
    result["loop"] = per_site_loop([[*agent_argv(), "sync", "--path", str(net.root), "--url", b.home]
                                    for b in sample], env, len(net.served()))
    check_pushes(server, {site_ids[b.home]: b.expected for b in sample}, "per-subsite loop")

    log("network: WordPress's PHP, switch_to_blog() over every served site ...")
    result["php"] = php_loop(net, tmp)
    return result


# -- (b) separate installs ---------------------------------------------------------------------


def bench_installs(args: argparse.Namespace, tmp: Path, cleanup: List[Any]) -> Dict[str, Any]:
    log(f"installs: generating {args.installs} installs ...")
    installs = fd.make_installs(args.installs, tmp / "installs")
    cleanup.append(installs)
    log(f"installs: generated in {installs.seconds:.1f} s ({len(installs.databases)} databases;"
        f" socket: {installs.socket or 'not usable, all over TCP'})")
    server = ContractServer(page_size=100).start()
    cleanup.append(server)
    account = server.add_account("Bench", "bench@example.com", API_KEY)
    site_ids = fd.register_sites(server, account, [i.home for i in installs])
    expected = {site_ids[i.home]: i.expected for i in installs}
    env = bench_env(tmp / "installs-agent", server)
    log(f"installs: connecting {args.installs} installs, 4 at a time ...")
    connect_s = parallel_connect([i.root for i in installs], env)
    log(f"installs: connected in {connect_s:.1f} s; timing sync --all, {args.runs} runs ...")
    layouts = {"own database, TCP": 0, "shared database, TCP": 0, "own database, socket": 0,
               "shared database, socket": 0}
    for i in installs:
        layouts[f"{'shared' if i.shared else 'own'} database, {'socket' if i.via_socket else 'TCP'}"] += 1
    result: Dict[str, Any] = {"installs": args.installs, "databases": len(installs.databases),
                              "layouts": layouts, "generate_s": installs.seconds, "connect_s": connect_s}
    result["sync_all"] = sync_all_runs(env, server, expected, args.runs, args.jobs)
    sample = sample_of(list(installs), args.sample)
    log(f"installs: timing the per-install loop on {len(sample)} installs ...")
    server.clear_requests()
    result["loop"] = per_site_loop([[*agent_argv(), "sync", "--path", str(i.root)] for i in sample],
                                   env, len(installs))
    check_pushes(server, {site_ids[i.home]: i.expected for i in sample}, "per-install loop")
    return result


def bench_env(directory: Path, server: ContractServer) -> Dict[str, str]:
    env = sb.agent_environment(directory)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update(IGNY8_KEYRING="file", IGNY8_API_URL=server.base_url)
    return env


# -- report ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(results: Dict[str, Any]) -> None:
    net = results.get("network")
    if net:
        s, loop, php = net["sync_all"], net["loop"], net["php"]
        print(f"(a) multisite network: {net['subsites']:,} sites, {net['served']:,} served"
              f" (generated in {net['generate_s']:.1f} s; connect --network {net['connect_s']:.1f} s)")
        print(f"    {'method':<46} {'wall s':>9} {'per site ms':>12} {'peak RSS MiB':>13}")
        print(f"    {'sync --all (median of %d)' % len(s['wall_runs_s']):<46} {s['wall_s']:>9.2f}"
              f" {1000 * s['wall_s'] / net['served']:>12.1f} {s['peak_rss_mb']:>13.1f}")
        label = "sync --url per subsite" + (f" (extrapolated from {loop['sample']})" if loop["extrapolated"] else "")
        print(f"    {label:<46} {loop['wall_s']:>9.1f} {loop['per_site_ms']:>12.1f} {loop['peak_rss_mb']:>13.1f}")
        if "skipped" in php:
            print(f"    {'PHP switch_to_blog() loop':<46} skipped: {php['skipped']}")
        else:
            print(f"    {'PHP switch_to_blog() loop':<46} {php['wall_s']:>9.2f}"
                  f" {1000 * php['wall_s'] / net['served']:>12.1f} {php['peak_rss_mb']:>13.1f}"
                  f"   ({php['versions']}; inside PHP: {php['inside_ms']} ms)")
        print(f"    sync --all runs: {s['wall_runs_s']} s; the agent's own figure {s['agent_reported_s']:.2f} s;"
              f" {s['requests_per_run']} HTTP requests per run")
        print(f"    {verdict(s['wall_s'] <= NETWORK_TARGET_S)}  sync --all wall <= {NETWORK_TARGET_S:g} s"
              f" for {net['subsites']:,} subsites (target for 1,000)")
        print(f"    {verdict(s['peak_rss_mb'] <= NETWORK_RSS_TARGET_MB)}  sync --all peak RSS"
              f" <= {NETWORK_RSS_TARGET_MB:g} MiB")
        print(f"    sync --all is {loop['wall_s'] / s['wall_s']:.0f}x faster than one agent run per subsite")
    ins = results.get("installs")
    if ins:
        s, loop = ins["sync_all"], ins["loop"]
        print(f"(b) separate installs: {ins['installs']} installs, {ins['databases']} databases"
              f" (generated in {ins['generate_s']:.1f} s; connected in {ins['connect_s']:.1f} s)")
        print("    " + "; ".join(f"{k}: {v}" for k, v in ins["layouts"].items()))
        print(f"    {'method':<46} {'wall s':>9} {'per site ms':>12} {'peak RSS MiB':>13}")
        print(f"    {'sync --all (median of %d)' % len(s['wall_runs_s']):<46} {s['wall_s']:>9.2f}"
              f" {1000 * s['wall_s'] / ins['installs']:>12.1f} {s['peak_rss_mb']:>13.1f}")
        label = "sync --path per install" + (f" (extrapolated from {loop['sample']})" if loop["extrapolated"] else "")
        print(f"    {label:<46} {loop['wall_s']:>9.1f} {loop['per_site_ms']:>12.1f} {loop['peak_rss_mb']:>13.1f}")
        print(f"    sync --all runs: {s['wall_runs_s']} s; {s['requests_per_run']} HTTP requests per run")
        print(f"    {verdict(s['wall_s'] <= INSTALLS_TARGET_S)}  sync --all wall <= {INSTALLS_TARGET_S:g} s"
              f" for {ins['installs']} installs (target for 200)")
    print(f"Peak RSS: {sb.rss_method()}. Machine: {os.cpu_count()} CPUs, load average"
          f" {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end.")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("network", "installs", "both"), default="both")
    parser.add_argument("--subsites", type=int, default=1000, help="sites of the network (default 1000)")
    parser.add_argument("--installs", type=int, default=200, help="separate installs (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="timed sync --all runs after a warm-up (default 3)")
    parser.add_argument("--sample", type=int, default=50, help="sites timed one process each (default 50)")
    parser.add_argument("--jobs", type=int, default=None, help="pass --jobs to sync --all (default: its own)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.subsites < 10 or args.installs < 4 or args.runs < 1 or args.sample < 1:
        parser.error("--subsites >= 10, --installs >= 4, --runs >= 1, --sample >= 1")
    return args


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally block: databases dropped


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="igny8-bench-fleet-"))
    cleanup: List[Any] = []
    results: Dict[str, Any] = {}
    try:
        problems = missing_commands(sb.agent_environment(tmp))
        if problems:
            log("error: cannot run the fleet benchmark: " + "; ".join(problems))
            return 2
        if args.part in ("network", "both"):
            results["network"] = bench_network(args, tmp, cleanup)
        if args.part in ("installs", "both"):
            results["installs"] = bench_installs(args, tmp, cleanup)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (BenchError, fd.pymysql.MySQLError, subprocess.SubprocessError, OSError, ValueError) as exc:
        log(f"error: {exc}")
        return 1
    finally:
        stop_children()
        for item in reversed(cleanup):
            try:
                started = time.perf_counter()
                if isinstance(item, ContractServer):
                    item.stop()
                else:
                    item.drop()
                    log(f"dropped {type(item).__name__.lower()} databases in {time.perf_counter() - started:.1f} s")
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                log(f"warning: cleanup: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
