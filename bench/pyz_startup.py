"""Start-up of the one-file igny8-agent.pyz against the installed package.

Times ``igny8-agent structure --path <root> --format json`` on the sample
WordPress site (tests/fixtures/wordpress-sample, WooCommerce included; the
database the demo loads) as a whole process, wall clock, in five variants:

- installed, warm: a fresh virtualenv with the agent pip-installed from this
  checkout (not editable), its bytecode compiled at install as pip does;
- installed, cold: the same with an empty ``PYTHONPYCACHEPREFIX``, so every
  module is compiled again (a first run with no bytecode);
- pyz, warm: the .pyz run by the same Python (an empty virtualenv of it, so
  that both start the same site machinery), its copy in the user's cache in
  place;
- pyz, cold: the same with an empty ``XDG_CACHE_HOME``: unpacking the
  archive (fsync'ed) and compiling every module it imports;
- pyz from the archive: no safe cache directory (a group-writable one), so
  everything is imported from the zip and compiled on every start.

Two warm-up rounds, then ``--runs`` rounds; each round runs the variants back
to back in a rotating order. Prints the medians and, for warm and cold, the
median of the per-round ratios pyz / installed against the 1.3x target.

    .venv/bin/python bench/pyz_startup.py                 # 11 rounds, this Python
    .venv/bin/python bench/pyz_startup.py --python /usr/bin/python3 --runs 21
    .venv/bin/python bench/pyz_startup.py --json

Needs dist/igny8-agent.pyz (scripts/build-pyz), the local MariaDB as for the
tests (IGNY8_TEST_DB_* override), the ``mariadb`` client, and the package
index for the installed variant's virtualenv. A report: exits 0 whether the
target is met or not; 1 if the benchmark cannot run or the outputs differ.
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
import time
from pathlib import Path
from typing import Dict, List

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SAMPLE_SQL = REPO / "tests" / "fixtures" / "wordpress-sample" / "sample.sql"
DB_HOST = os.environ.get("IGNY8_TEST_DB_HOST", "127.0.0.1")
DB_PORT = os.environ.get("IGNY8_TEST_DB_PORT", "3306")
DB_USER = os.environ.get("IGNY8_TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("IGNY8_TEST_DB_PASSWORD", "")
DB_NAME = "igny8_bench_pyz_sample"
TARGET = 1.3
VARIANTS = ("installed_warm", "installed_cold", "pyz_warm", "pyz_cold", "pyz_archive")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def mariadb(*args: str, stdin=None) -> None:
    command = ["mariadb", "-h", DB_HOST, "-P", DB_PORT, "-u", DB_USER, *args]
    env = dict(os.environ, MYSQL_PWD=DB_PASSWORD) if DB_PASSWORD else None
    subprocess.run(command, stdin=stdin, check=True, env=env, timeout=300)


def load_sample() -> None:
    mariadb("-e", f"DROP DATABASE IF EXISTS `{DB_NAME}`; CREATE DATABASE `{DB_NAME}`")
    with SAMPLE_SQL.open("rb") as handle:
        mariadb(DB_NAME, stdin=handle)


def write_site(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-config.php").write_text(
        "<?php\n"
        f"define( 'DB_NAME', '{DB_NAME}' );\n"
        f"define( 'DB_USER', '{DB_USER}' );\n"
        f"define( 'DB_PASSWORD', '{DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', '{DB_HOST}:{DB_PORT}' );\n"
        "$table_prefix = 'wp_';\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )


def make_venvs(python: str, work: Path) -> Dict[str, Path]:
    """An empty virtualenv (runs the .pyz) and one with the agent installed."""
    venvs = {}
    for name in ("empty", "installed"):
        path = work / f"venv-{name}"
        subprocess.run([python, "-m", "venv", str(path)], check=True)
        venvs[name] = path
    log("installing igny8-agent (not editable) into a scratch virtualenv ...")
    source = work / "source"  # a copy: building in place would leave build/ in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "igny8_agent", source / "igny8_agent", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([str(venvs["installed"] / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(source)], check=True, stdout=sys.stderr)
    return venvs


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--python", default=sys.executable, help="the Python both variants run on")
    parser.add_argument("--pyz", default=str(REPO / "dist" / "igny8-agent.pyz"))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    pyz = Path(args.pyz)
    if not pyz.is_file():
        log(f"error: {pyz} not found: run scripts/build-pyz first")
        return 1
    python = str(Path(getattr(sys, "_base_executable", args.python))) if args.python == sys.executable else args.python

    with tempfile.TemporaryDirectory(prefix="pyz-bench-") as scratch:
        work = Path(scratch)
        load_sample()
        try:
            return measure(args, pyz, python, work)
        finally:
            mariadb("-e", f"DROP DATABASE IF EXISTS `{DB_NAME}`")


def measure(args, pyz: Path, python: str, work: Path) -> int:
    root = work / "wordpress"
    write_site(root)
    venvs = make_venvs(python, work)
    version = subprocess.run([str(venvs["empty"] / "bin" / "python"), "-c",
                              "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PYTHON", "IGNY8_", "XDG_CACHE_HOME"))}
    base_env.update(IGNY8_CONFIG_DIR=str(work / "etc"), IGNY8_STATE_DIR=str(work / "state"))
    warm_cache = work / "cache-warm"
    warm_cache.mkdir(mode=0o700)
    warm_pycache = work / "pycache-warm"
    unsafe_cache = work / "cache-unsafe"
    unsafe_cache.mkdir()
    unsafe_cache.chmod(0o777)  # not the user's alone: the .pyz refuses it and runs from the archive
    command_tail = ["structure", "--path", str(root), "--format", "json"]
    installed = [str(venvs["installed"] / "bin" / "igny8-agent"), *command_tail]
    from_pyz = [str(venvs["empty"] / "bin" / "python"), str(pyz), *command_tail]
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        path = work / f"{prefix}-{counter[0]}"
        path.mkdir(mode=0o700)
        return str(path)

    def run(variant: str) -> float:
        env = dict(base_env)
        if variant == "installed_warm":
            command, env["PYTHONPYCACHEPREFIX"] = installed, str(warm_pycache)
        elif variant == "installed_cold":
            command, env["PYTHONPYCACHEPREFIX"] = installed, fresh("pycache")
        elif variant == "pyz_warm":
            command, env["XDG_CACHE_HOME"] = from_pyz, str(warm_cache)
        elif variant == "pyz_cold":
            command, env["XDG_CACHE_HOME"] = from_pyz, fresh("cache")
        else:
            command, env["XDG_CACHE_HOME"] = from_pyz, str(unsafe_cache)
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, env=env, timeout=120)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{variant} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        outputs.setdefault(variant, json.loads(result.stdout))
        return elapsed * 1000

    # installed_warm: pip compiled the bytecode into __pycache__, but with
    # PYTHONPYCACHEPREFIX set Python looks only there: the warm-ups fill it.
    outputs: Dict[str, object] = {}
    samples: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    log(f"Python {version} ({python}); {args.runs} rounds after 2 warm-ups")
    for round_no in range(args.runs + 2):
        order = VARIANTS[round_no % len(VARIANTS):] + VARIANTS[:round_no % len(VARIANTS)]
        for variant in order:
            ms = run(variant)
            if round_no >= 2:
                samples[variant].append(ms)
    reference = outputs["installed_warm"]
    differ = [v for v, out in outputs.items() if out != reference]
    if differ:
        log(f"error: the output of {', '.join(differ)} differs from the installed agent's")
        return 1
    # Unpacked copies must be the user's alone.
    copies = list((warm_cache / "igny8-agent").iterdir())
    modes = {oct(p.stat().st_mode & 0o777) for p in [warm_cache / "igny8-agent", *copies]}

    medians = {v: statistics.median(s) for v, s in samples.items()}
    ratios = {
        "warm": statistics.median(p / i for p, i in zip(samples["pyz_warm"], samples["installed_warm"])),
        "cold": statistics.median(p / i for p, i in zip(samples["pyz_cold"], samples["installed_cold"])),
        "archive_vs_warm": statistics.median(p / i for p, i in zip(samples["pyz_archive"], samples["installed_warm"])),
    }
    result = {
        "python": python, "python_version": version, "runs": args.runs, "pyz": str(pyz),
        "pyz_bytes": pyz.stat().st_size, "medians_ms": medians, "ratios": ratios, "samples_ms": samples,
        "cache_dir_modes": sorted(modes), "target": TARGET,
        "warm_within_target": ratios["warm"] <= TARGET, "cold_within_target": ratios["cold"] <= TARGET,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"structure --format json on the sample site; Python {version} ({python}); "
          f"{args.runs} rounds; medians, ms")
    print(f"  {'':10} {'installed':>10} {'pyz':>10} {'pyz/inst':>9}  target <= {TARGET}x")
    for kind in ("warm", "cold"):
        verdict = "PASS" if ratios[kind] <= TARGET else "FAIL"
        print(f"  {kind:10} {medians['installed_' + kind]:10.0f} {medians['pyz_' + kind]:10.0f} "
              f"{ratios[kind]:8.2f}x  {verdict}")
    print(f"  {'archive':10} {'':10} {medians['pyz_archive']:10.0f} {ratios['archive_vs_warm']:8.2f}x  "
          "(no safe cache: imported from the zip, against installed warm)")
    print(f"  .pyz {pyz.stat().st_size / 1048576:.1f} MiB; cache directory modes {', '.join(sorted(modes))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
