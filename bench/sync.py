"""Benchmark `igny8-agent sync` and `igny8-agent status` end to end.

Against a synthetic WordPress site (bench/structure.py's builder, 10,000
posts by default) and a real loopback backend (tests/contract_server.py, run
as its own process), this script

1. builds (or reuses) the database ``igny8_bench_<N>`` and writes a throwaway
   WordPress root whose wp-config.php points at it;
2. starts the contract server on 127.0.0.1 (a free port) with an account
   whose site is the synthetic site's home URL;
3. runs ``igny8-agent connect --api-key-stdin`` once (must exit 0), with
   temporary IGNY8_CONFIG_DIR / IGNY8_STATE_DIR and IGNY8_KEYRING=file;
4. times, alternately and rotating the order, for ``--runs`` rounds
   a. ``igny8-agent sync --path ROOT`` as a whole process,
   b. ``igny8-agent status --path ROOT``,
   c. the interpreter floor ``python -c "import typer, pymysql"``,
   recording wall time and peak RSS (GNU time %M), checking that every
   command exits 0 and that the backend received exactly one structure push
   per sync (counted in the server's request log);
5. prints median / p90 wall time, peak RSS and the <300 ms target per command.

Run it with the project's virtualenv python; see bench/README.md.
It is a report: it exits 0 whether the targets are met or not, and non-zero
only when the benchmark itself cannot run (a command failed, a push was not
received).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import structure as sb  # noqa: E402  (bench/structure.py: builder, WordPress root, timing)

TARGET_MS = 300.0
EMAIL = "bench@example.com"
CONTRACT_SERVER = REPO / "tests" / "contract_server.py"
# BaseHTTPRequestHandler.log_request, as the contract server prints it with --verbose:
#   contract-server: "POST /api/v1/integration/integrations/1/update-structure/ HTTP/1.1" 200 -
_REQUEST_RE = re.compile(r'^contract-server: "(\S+) (\S+) HTTP/[\d.]+" (\d{3}) ')
_PUSH_RE = re.compile(r"/api/v1/integration/integrations/\d+/update-structure/")

log = sb.log


# -- the backend -----------------------------------------------------------------


class Backend:
    """tests/contract_server.py in its own process, its request log in a file."""

    def __init__(self, python: str, site_url: str, api_key: str, workdir: Path) -> None:
        self.log_path = workdir / "backend.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [python, "-u", str(CONTRACT_SERVER), "--host", "127.0.0.1", "--port", "0",
             "--site-url", site_url, "--api-key", api_key, "--email", EMAIL, "--verbose"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            # Its own process group: a Ctrl-C in the terminal reaches only us,
            # and we stop it in order (stop()).
            start_new_session=True,
        )
        self._seen = 0
        try:
            self.url = self._wait_listening(timeout=15.0)
        except BaseException:  # also Ctrl-C while it starts
            self.stop()
            raise

    def _wait_listening(self, timeout: float) -> str:
        found: List[str] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("listening on "):
                    found.append(line[len("listening on "):])
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.stop()
            detail = self.log_path.read_text(errors="replace").strip()
            raise RuntimeError(f"the contract server did not start: {detail or 'no output'}")
        return found[0]

    def requests(self) -> List[Tuple[str, str, int]]:
        """(method, target, status) of every request so far."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = _REQUEST_RE.match(line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3))))
        return out

    def new_requests(self) -> List[Tuple[str, str, int]]:
        """Requests since the last call."""
        all_ = self.requests()
        new, self._seen = all_[self._seen:], len(all_)
        return new

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the server stops cleanly on SIGTERM
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def pushes(requests: Sequence[Tuple[str, str, int]]) -> int:
    return sum(1 for method, target, status in requests
               if method == "POST" and _PUSH_RE.search(target) and status == 200)


# -- measuring -------------------------------------------------------------------


def p90(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def connect_once(agent: str, root: Path, env: Dict[str, str], api_key: str) -> None:
    out = subprocess.run(
        [agent, "connect", "--path", str(root), "--api-key-stdin", "--email", EMAIL],
        input=api_key + "\n", env=env, capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"igny8-agent connect exited {out.returncode}: {out.stderr.strip()}")


def measure(args: argparse.Namespace, python: str, agent: str, tmp: Path) -> Dict:
    size = args.size
    root = tmp / f"site-{size}"
    sb.write_wordpress_root(root, sb.db_name(size))
    env = sb.agent_environment(tmp, args.pyc_cache)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env["IGNY8_KEYRING"] = "file"
    api_key = "igny8_bench_" + secrets.token_hex(12)

    backend = Backend(python, sb.HOME, api_key, tmp)
    try:
        env["IGNY8_API_URL"] = backend.url
        log(f"backend at {backend.url}; connecting ...")
        connect_once(agent, root, env, api_key)
        connect_requests = backend.new_requests()
        if pushes(connect_requests) != 1:
            raise RuntimeError(f"connect: the backend received {pushes(connect_requests)} structure pushes, expected 1")

        commands = {
            "sync": [agent, "sync", "--path", str(root)],
            "status": [agent, "status", "--path", str(root)],
            "interp": [python, "-c", "import typer, pymysql"],
        }
        samples: Dict[str, List[Tuple[float, float]]] = {k: [] for k in commands}
        http: Dict[str, List[int]] = {k: [] for k in commands}  # requests per run

        def run_one(name: str, record: bool) -> None:
            wall, rss = sb.timed(commands[name], env)  # raises unless exit 0
            new = backend.new_requests()
            got = pushes(new)
            if got != (1 if name == "sync" else 0):
                raise RuntimeError(f"{name}: the backend received {got} structure pushes, expected "
                                   f"{1 if name == 'sync' else 0} (requests: {new})")
            bad = [r for r in new if r[2] >= 400]
            if bad:
                raise RuntimeError(f"{name}: the backend answered errors: {bad}")
            if record:
                samples[name].append((wall, rss))
                http[name].append(len(new))

        order = list(commands)
        for _ in range(2):  # warm-up: page cache, .pyc files, buffer pool, server
            for name in order:
                run_one(name, record=False)
        for i in range(args.runs):
            for name in order[i % len(order):] + order[:i % len(order)]:  # rotate who goes first
                run_one(name, record=True)
        total_pushes = pushes(backend.requests())
    finally:
        backend.stop()

    rows = {}
    for name, xs in samples.items():
        walls = [w for w, _ in xs]
        rows[name] = {
            "median_ms": statistics.median(walls),
            "p90_ms": p90(walls),
            "min_ms": min(walls),
            "peak_rss_mb": max(r for _, r in xs),
            "http_requests_per_run": statistics.median(http[name]) if http[name] else 0,
            "target_met": (statistics.median(walls) < TARGET_MS) if name != "interp" else None,
            "samples_ms": [round(w, 1) for w in walls],
        }
    return {
        "size": size,
        "runs": args.runs,
        "pushes_received": total_pushes,  # connect + warm-up syncs + timed syncs
        "connect_requests": len(connect_requests),
        "commands": rows,
    }


LABELS = {
    "sync": "igny8-agent sync",
    "status": "igny8-agent status",
    "interp": 'python -c "import typer, pymysql"',
}


def print_table(result: Dict) -> None:
    headers = ["command", "median ms", "p90 ms", "peak RSS MB", "HTTP req/run", f"target (<{TARGET_MS:g} ms)"]
    rows = []
    for name, r in result["commands"].items():
        ok = r["target_met"]
        rows.append([LABELS[name], f"{r['median_ms']:.0f}", f"{r['p90_ms']:.0f}", f"{r['peak_rss_mb']:.1f}",
                     f"{r['http_requests_per_run']:g}", "n/a (floor)" if ok is None else ("PASS" if ok else "FAIL")])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = lambda cells: " | ".join(c.ljust(w) if i in (0, 5) else c.rjust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    print(f"{sb.db_name(result['size'])}: {result['size']:,} posts, {result['runs']} runs,"
          f" {result['pushes_received']} structure pushes received (connect + warm-up + timed)")
    print(line(headers))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


# -- main ------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="posts in the synthetic site (default: 10000)")
    parser.add_argument("--runs", type=int, default=11, help="timed rounds; medians are reported (default: 11)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database even if it exists")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary WordPress root, config/state directories and backend log")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--no-pyc-cache", dest="pyc_cache", action="store_false",
                        help="run the agent with the environment's bytecode settings as they are"
                             " (by default .pyc files are cached in a temporary PYTHONPYCACHEPREFIX)")
    args = parser.parse_args(argv)
    if args.size < 100:
        parser.error("--size must be at least 100")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _descendants(pid: int) -> List[int]:
    """Child processes of pid, recursively (Linux /proc; empty where unavailable)."""
    out: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out.append(child)
            out.extend(_descendants(child))
    return out


def stop_children(timeout: float = 5.0) -> None:
    """Stop and reap what is still running: after an interruption, the command
    being timed (GNU time and the agent under it) would otherwise keep writing
    into the temporary directory while it is removed."""
    pids = _descendants(os.getpid())
    for pid in reversed(pids):  # the agent first, then GNU time
        try:
            os.kill(pid, signal.SIGTERM)  # the agent exits 130, nothing half-written
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks: server stopped, temp dir removed


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return run(args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (sb.pymysql.MySQLError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        log(f"error: {exc}")
        return 1


def run(args: argparse.Namespace) -> int:
    python = sys.executable
    agent = Path(python).parent / "igny8-agent"
    if not agent.exists():
        log(f"error: {agent} not found: run this script with the python of the venv where igny8-agent is installed")
        return 2

    build_s = None
    state = "stale" if args.rebuild else sb.database_state(args.size)
    if state == "ready":
        log(f"{sb.db_name(args.size)}: reusing (--rebuild to rebuild)")
    else:
        log(f"{sb.db_name(args.size)}: building {args.size:,} posts ...")
        build_s = sb.build_database(args.size)

    tmp = Path(tempfile.mkdtemp(prefix="igny8-bench-sync-"))
    try:
        log(f"measuring sync / status, {args.runs} runs ...")
        result = measure(args, python, str(agent), tmp)
    finally:
        stop_children()
        if args.keep:
            log(f"kept the WordPress root, config/state directories and backend.log in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["build_s"] = build_s

    if args.json:
        print(json.dumps({
            "pyc_cache": args.pyc_cache,
            "rss_method": sb.rss_method(),
            "target_ms": TARGET_MS,
            **result,
        }, indent=2))
    else:
        print_table(result)
        if not sb.GNU_TIME:
            print(f"NOTE: peak RSS by {sb.rss_method()}; install GNU time for exact figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
