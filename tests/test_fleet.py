"""Fleets on one host, end to end: ``connect --network``, ``sync --all``,
``status --all``, against the loopback contract server and generated
WordPress databases with the real schema (tests/fleet_data.py).

The large fleet (a network of 210 sites, 7 of them not served, and 50
separate installs) is built once for the module; the tests that break
sites or add subsites use a small fleet of their own.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import fleet_data as fd
from contract_server import ContractServer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEY = "igny8_fleetKey-0123456789abcdefABCDEF"
# "igny8-agent: sync --all: N pushed, F failed, S skipped in T s" (parts that are 0 may be left out)
SUMMARY = re.compile(r"igny8-agent: sync --all: (\d+) pushed((?:, \d+ [a-zA-Z0-9 -]+?)*) in [\d.]+ s")
BIG_NETWORK = 210
NOT_SERVED = {"archived": (17, 101), "deleted": (33, 150), "spam": (64, 199)}
OTHER_NETWORK = (120,)  # a blog of a second network in the same tables
BIG_INSTALLS = 50


# -- harness --------------------------------------------------------------------------


def key_of(url: str) -> str:
    return url.rstrip("/").lower()


class Fleet:
    """Generated sites, the backend that knows them, and the agent's environment."""

    def __init__(self, base: Path, backend: ContractServer, network: Optional[fd.Network],
                 installs: Optional[fd.Installs]) -> None:
        self.base = base
        self.backend = backend
        self.network = network
        self.installs = installs
        self.account = backend.add_account("Fleet", "ops@example.com", KEY)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IGNY8_")}
        self.env.update(IGNY8_CONFIG_DIR=str(base / "etc"), IGNY8_STATE_DIR=str(base / "state"),
                        IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url)
        self.site_ids: Dict[str, int] = {}  # home (key_of) -> backend site id

    # sites

    def blogs(self) -> List[fd.Blog]:
        return list(self.network.blogs.values()) if self.network else []

    def homes(self, served_only: bool = True) -> List[str]:
        blogs = [b.home for b in self.blogs() if b.served or not served_only]
        return blogs + [i.home for i in (self.installs or [])]

    def register(self, homes) -> None:
        for home, site_id in fd.register_sites(self.backend, self.account, homes).items():
            self.site_ids[key_of(home)] = site_id

    def expected(self) -> Dict[int, Dict]:
        """backend site id -> counts, for every site that must be pushed."""
        out = {self.site_ids[key_of(b.home)]: b.expected for b in self.blogs() if b.served}
        out.update({self.site_ids[key_of(i.home)]: i.expected for i in (self.installs or [])})
        return out

    # the agent

    def run(self, *args: str, input: Optional[str] = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "igny8_agent", *args], capture_output=True, text=True,
                              env=self.env, input=input, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "igny8_agent", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def connect_network(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("connect", "--network", "--path", str(self.network.root), "--api-key-stdin", *args,
                        input=KEY + "\n")

    def connect_installs(self) -> None:
        def one(install: fd.Install) -> subprocess.CompletedProcess:
            return self.run("connect", "--path", str(install.root), "--api-key-stdin", input=KEY + "\n")

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(one, self.installs))
        failed = [(i.index, r.returncode, r.stderr) for i, r in zip(self.installs, results) if r.returncode]
        assert not failed, failed

    def sync_all(self, *args: str, timeout: float = 300):
        result = self.run("sync", "--all", "--json", *args, timeout=timeout)
        report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
        return result, report

    # what the agent keeps

    def configs(self) -> Dict[str, dict]:
        """config name -> its TOML."""
        return {p.stem: tomllib.loads(p.read_text()) for p in sorted((self.base / "etc" / "sites").glob("*.toml"))}

    def name_of(self, home: str) -> str:
        """The config name of the site whose home is ``home``."""
        wanted = key_of(home)
        for name, config in self.configs().items():
            wp = config.get("wordpress", {})
            url = wp.get("url") or ""
            if url and key_of(url) == wanted:
                return name
            if not url:
                root = Path(wp.get("path", "")).resolve()
                if self.network and root == self.network.root.resolve() and wanted == key_of(self.network.blogs[1].home):
                    return name
                for install in self.installs or []:
                    if root == install.root.resolve() and wanted == key_of(install.home):
                        return name
        raise AssertionError(f"no config for {home}: {sorted(self.configs())}")

    def states(self) -> Dict[str, dict]:
        return {p.name[:-len(".state.json")]: json.loads(p.read_text())
                for p in (self.base / "state").glob("*.state.json")}

    def pushes(self) -> Dict[int, list]:
        return fd.pushes_by_site(self.backend)

    def integration(self, home: str) -> int:
        ids = [i["id"] for i in self.backend.integrations_for_site(self.site_ids[key_of(home)])]
        assert len(ids) == 1, (home, ids)
        return ids[0]

    def drop(self) -> None:
        self.backend.stop()
        for part in (self.network, self.installs):
            if part is not None:
                part.drop()


def assert_one_push_each(fleet: Fleet, pushes: Dict[int, list]) -> None:
    """Every served site exactly one accepted push with its own structure; nothing for the rest."""
    expected = fleet.expected()
    wrong = {sid: len(pushes.get(sid, [])) for sid in expected if len(pushes.get(sid, [])) != 1}
    assert not wrong, f"sites not pushed exactly once (site id: pushes): {wrong}"
    extra = set(pushes) - set(expected)
    assert not extra, f"pushes for sites that must get none: {sorted(extra)}"
    home_of = {sid: home for home, sid in fleet.site_ids.items()}
    for site_id, counts in expected.items():
        body = pushes[site_id][0].body
        assert key_of(body["site_url"]) == home_of[site_id], (site_id, body["site_url"])
        assert fd.counts_of(body) == counts, (home_of[site_id], fd.counts_of(body), counts)


def subsites(report: dict) -> List[dict]:
    """connect --network's rows: one per served subsite."""
    return report["subsites"]


def wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def max_overlap(requests) -> int:
    """The most requests the server was answering at the same moment."""
    events = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


# -- the large fleet ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_fleet(mariadb_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("big-fleet")
    backend = ContractServer(page_size=100).start()
    fleet = Fleet(base, backend, None, None)
    try:
        fleet.network = fd.make_network(BIG_NETWORK, root=base / "network", other_network=OTHER_NETWORK,
                                        **NOT_SERVED)
        fleet.installs = fd.make_installs(BIG_INSTALLS, base / "installs")
        print(f"\ngenerated: network of {BIG_NETWORK} sites in {fleet.network.seconds:.1f} s,"
              f" {BIG_INSTALLS} installs in {fleet.installs.seconds:.1f} s")
        fleet.register(fleet.homes(served_only=False))
        connected = fleet.connect_network("--json")
        assert connected.returncode == 0, connected.stderr
        fleet.connect_installs()
        yield fleet
    finally:
        fleet.drop()


@pytest.mark.slow
def test_the_generated_fleet_is_what_the_tests_assume(big_fleet):
    """200+ served subsites of one network, archived/deleted/spam ones, a blog of another
    network, and installs of every layout (own database, shared database, socket)."""
    net = big_fleet.network
    assert len(net.served()) >= 200
    assert {b.blog_id for b in net.not_served()} == {17, 101, 33, 150, 64, 199, *OTHER_NETWORK}
    conn = fd.connect(net.name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s"
                        " AND table_name LIKE 'wp\\_%%\\_posts'", (net.name,))
            assert cur.fetchone()[0] == BIG_NETWORK - 1
            cur.execute("SELECT blog_id FROM wp_blogs WHERE archived = 1 OR deleted = 1 OR spam = 1 ORDER BY blog_id")
            assert [r[0] for r in cur.fetchall()] == [17, 33, 64, 101, 150, 199]
    finally:
        conn.close()
    assert len({json.dumps(b.expected, sort_keys=True) for b in net.blogs.values()}) == BIG_NETWORK
    layouts = {(i.shared, i.via_socket) for i in big_fleet.installs}
    assert {(False, False), (True, False)} <= layouts
    if big_fleet.installs.socket:
        assert {(False, True), (True, True)} <= layouts


@pytest.mark.slow
def test_sync_all_pushes_every_served_site_exactly_once_per_run_with_its_own_structure(big_fleet):
    for _ in range(2):
        big_fleet.backend.clear_requests()
        result, report = big_fleet.sync_all()
        assert result.returncode == 0, result.stderr[-3000:]
        assert_one_push_each(big_fleet, big_fleet.pushes())
        total = len(big_fleet.network.served()) + len(big_fleet.installs)
        assert report["pushed"] == total and report["failed"] == 0 and report["exit_code"] == 0, report
        pushed = [s for s in report["sites"] if s["outcome"] == "pushed"]
        assert len(pushed) == total
        assert {key_of(s["url"]) for s in pushed} == {key_of(h) for h in big_fleet.homes()}
        assert all(s["exit_code"] == 0 for s in pushed)


@pytest.mark.slow
def test_a_429_storm_slows_every_worker_and_is_ridden_out_within_the_budget(big_fleet):
    backend = big_fleet.backend
    backend.clear_requests()
    backend.inject("status", count=12, path_contains="/update-structure/", status=429, retry_after=2,
                   body={"detail": "Request was throttled. Expected available in 2 seconds."})
    started = time.monotonic()
    try:
        result, report = big_fleet.sync_all()
    finally:
        backend.clear_faults()
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    throttled = [r for r in backend.requests if r.status == 429]
    assert len(throttled) == 12
    assert_one_push_each(big_fleet, big_fleet.pushes())
    assert wall < 90, f"the storm took {wall:.1f} s (retry budget 180 s)"
    # Retry-After: 2 told the whole run to slow down: no request left the agent
    # while the pause a 429 asked for was in force (0.5 s of slack either side).
    for answer in throttled:
        early = [r for r in backend.requests
                 if answer.started + 0.5 < r.started < answer.started + 1.5]
        assert not early, f"{len(early)} requests within 2 s of a 429 with Retry-After: 2"


@pytest.mark.slow
def test_sigkill_mid_run_leaves_every_site_state_intact_and_the_next_run_pushes_all(big_fleet):
    before = big_fleet.states()
    configs = {p: p.read_bytes() for p in (big_fleet.base / "etc").rglob("*") if p.is_file()}
    assert len(before) == len(big_fleet.homes())
    backend = big_fleet.backend
    backend.clear_requests()
    backend.inject("delay", count=None, path_contains="/update-structure/", seconds=0.2)
    proc = big_fleet.popen("sync", "--all", "--quiet")
    try:
        def twenty_pushes() -> bool:
            assert proc.poll() is None, f"sync --all ended before the kill: {proc.returncode} {proc.communicate()}"
            return len([r for r in backend.requests_to("/update-structure/") if r.status == 200]) >= 20

        wait_for(twenty_pushes, what="20 pushes")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        backend.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    after = big_fleet.states()
    assert set(after) == set(before)
    for name, old in before.items():
        new = after[name]
        for kept in ("site_id", "integration_id", "site_url", "api_url", "key_entry"):
            assert new[kept] == old[kept], (name, kept)
        assert new["last_success_seq"] >= old["last_success_seq"] and new["last_success"] >= old["last_success"]
    assert {p: p.read_bytes() for p in configs} == configs
    assert all(len(v) <= 1 for v in big_fleet.pushes().values())

    backend.clear_requests()
    result, report = big_fleet.sync_all()
    assert result.returncode == 0, result.stderr[-3000:]
    assert_one_push_each(big_fleet, big_fleet.pushes())
    leftovers = [p.name for p in (big_fleet.base / "state").iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


@pytest.mark.slow
def test_status_all_has_a_row_per_site_and_check_is_ok_when_all_are_fresh(big_fleet):
    result = big_fleet.run("status", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    rows = rows["sites"] if isinstance(rows, dict) else rows
    assert len(rows) == len(big_fleet.homes())
    assert {key_of(r["url"]) for r in rows} == {key_of(h) for h in big_fleet.homes()}
    for row in rows:
        assert {"site", "url", "last_success", "last_error", "next_run"} <= set(row)
        assert row["last_success"], row
    csv = big_fleet.run("status", "--all", "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    lines = csv.stdout.strip().splitlines()
    assert len(lines) == 1 + len(rows) and "last_success" in lines[0]

    check = big_fleet.run("status", "--all", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("IGNY8 OK")


# -- a small fleet per test ------------------------------------------------------------------


@pytest.fixture
def small_fleet(mariadb_server, tmp_path):
    """make(n_blogs, installs=0, register=..., **network options) -> Fleet, not connected yet."""
    made: List[Fleet] = []

    def make(n_blogs: int = 5, installs: int = 0, **options) -> Fleet:
        fleet = Fleet(tmp_path / f"fleet{len(made)}", ContractServer(page_size=100).start(), None, None)
        made.append(fleet)
        if n_blogs:
            fleet.network = fd.make_network(n_blogs, root=fleet.base / "network", **options)
        if installs:
            fleet.installs = fd.make_installs(installs, fleet.base / "installs")
        return fleet

    yield make
    for fleet in made:
        fleet.drop()


def connected_fleet(small_fleet, n_blogs: int = 5, installs: int = 3, **options) -> Fleet:
    fleet = small_fleet(n_blogs, installs, **options)
    fleet.register(fleet.homes(served_only=False))
    result = fleet.connect_network()
    assert result.returncode == 0, result.stderr
    if installs:
        fleet.connect_installs()
    fleet.backend.clear_requests()
    return fleet


@pytest.mark.parametrize("subdirectory", [True, False], ids=["subdirectories", "subdomains"])
def test_connect_network_lists_subsites_unknown_to_igny8_and_exits_5_then_0_once_all_are_known(
        small_fleet, subdirectory):
    fleet = small_fleet(5, archived=(3,), subdirectory=subdirectory)
    blogs = fleet.network.blogs
    fleet.register([blogs[1].home, blogs[2].home, blogs[3].home, blogs[4].home])  # not blog 5

    result = fleet.connect_network("--json")
    assert result.returncode == 5, result.stderr
    report = json.loads(result.stdout)
    by_blog = {s["blog_id"]: s for s in subsites(report)}
    assert by_blog[5]["outcome"] == "not-in-igny8" and key_of(by_blog[5]["url"]) == key_of(blogs[5].home)
    for blog_id in (1, 2, 4):
        row = by_blog[blog_id]
        assert row["outcome"] == "connected", row
        assert row["site_id"] == fleet.site_ids[key_of(blogs[blog_id].home)]
        assert row["integration_id"] == fleet.integration(blogs[blog_id].home)
        assert row["exit_code"] == 0
    assert 3 not in by_blog or by_blog[3]["outcome"] != "connected"
    assert report["connected"] == 3 and report["exit_code"] == 5
    assert len(fleet.configs()) == 3
    assert set(fd.pushes_by_site(fleet.backend)) == {fleet.site_ids[key_of(blogs[i].home)] for i in (1, 2, 4)}

    plain = fleet.connect_network()
    assert plain.returncode == 5
    assert blogs[5].home.split("://")[1] in plain.stdout + plain.stderr

    fleet.register([blogs[5].home])
    again = fleet.connect_network("--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert {s["blog_id"]: s["outcome"] for s in subsites(report)} == {i: "connected" for i in (1, 2, 4, 5)}
    assert report["connected"] == 4 and report["exit_code"] == 0
    assert len(fleet.configs()) == 4


def test_a_subsite_added_later_is_connected_and_pushed_by_the_next_sync_all(small_fleet):
    fleet = connected_fleet(small_fleet, 4, installs=0)
    new = fleet.network.add_subsite()
    fleet.register([new.home])
    before = len(fleet.configs())

    result, report = fleet.sync_all("--no-connect-new")
    assert result.returncode == 0, result.stderr
    assert fleet.site_ids[key_of(new.home)] not in fleet.pushes()
    assert len(fleet.configs()) == before

    fleet.backend.clear_requests()
    result, report = fleet.sync_all()
    assert result.returncode == 0, result.stderr
    assert_one_push_each(fleet, fleet.pushes())
    assert len(fleet.configs()) == before + 1
    fleet.name_of(new.home)  # its config
    rows = {key_of(s["url"]): s for s in report["sites"]}
    assert rows[key_of(new.home)]["outcome"] in ("connected", "pushed")
    assert report["pushed"] + report.get("connected", 0) == len(fleet.network.served())


def test_a_network_connected_with_no_auto_connect_gets_no_new_subsites(small_fleet):
    fleet = small_fleet(4)
    fleet.register(fleet.homes())
    result = fleet.connect_network("--no-auto-connect")
    assert result.returncode == 0, result.stderr
    new = fleet.network.add_subsite()
    fleet.register([new.home])
    fleet.backend.clear_requests()

    result, report = fleet.sync_all()
    assert result.returncode == 0, result.stderr
    pushes = fleet.pushes()
    assert fleet.site_ids[key_of(new.home)] not in pushes
    assert set(pushes) == {fleet.site_ids[key_of(b.home)] for b in fleet.network.served() if b is not new}
    assert len(fleet.configs()) == 4


def test_a_connected_subsite_archived_later_is_not_served_and_gets_no_push(small_fleet):
    fleet = connected_fleet(small_fleet, 5, installs=0)
    fleet.network.set_flags(2, archived=True)
    fleet.network.set_flags(3, spam=True)
    result, report = fleet.sync_all()
    assert result.returncode == 0, result.stderr
    assert_one_push_each(fleet, fleet.pushes())
    outcomes = {key_of(s["url"]): s["outcome"] for s in report["sites"]}
    for blog_id in (2, 3):
        assert outcomes[key_of(fleet.network.blogs[blog_id].home)] == "not-served"
    assert report["pushed"] == 3


def test_jobs_bounds_how_many_sites_are_pushed_at_once(small_fleet):
    fleet = connected_fleet(small_fleet, 4, installs=4)
    fleet.backend.inject("delay", count=None, path_contains="/update-structure/", seconds=0.3)
    for jobs, most in (("1", 1), ("4", 4)):
        fleet.backend.clear_requests()
        result, _ = fleet.sync_all("--jobs", jobs)
        assert result.returncode == 0, result.stderr
        assert_one_push_each(fleet, fleet.pushes())
        overlap = max_overlap(fleet.backend.requests_to("/update-structure/"))
        assert overlap <= most, (jobs, overlap)
        if jobs == "4":
            assert overlap >= 2, "--jobs 4 never pushed two sites at once"


def test_without_a_terminal_one_line_per_site_and_a_summary_and_quiet_prints_only_failures(small_fleet):
    fleet = connected_fleet(small_fleet, 4, installs=3)
    sites = fleet.homes()
    names = {fleet.name_of(h): h for h in sites}

    plain = fleet.run("sync", "--all")
    assert plain.returncode == 0, plain.stderr
    lines = [line for line in (plain.stdout + plain.stderr).splitlines() if line.strip()]
    summaries = [line for line in lines if SUMMARY.search(line)]
    assert len(summaries) == 1, lines
    pushed, others = SUMMARY.search(summaries[0]).groups()
    assert int(pushed) == len(sites) and not re.search(r", [1-9]\d* (failed|skipped)", others), summaries
    per_site = [line for line in lines if line not in summaries]
    assert len(per_site) == len(sites), per_site
    for name, home in names.items():
        hits = [line for line in per_site if name in line or home.split("://")[1] in line]
        assert len(hits) == 1, (name, hits)

    quiet = fleet.run("sync", "--all", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", (quiet.stdout, quiet.stderr)

    broken = fleet.installs.installs[0]
    conn = fd.connect(broken.database)
    try:
        fd.run_sql(conn, [f"DROP TABLE `{broken.prefix}posts`"])
    finally:
        conn.close()
    quiet = fleet.run("sync", "--all", "--quiet")
    assert quiet.returncode == 4, quiet.stderr
    lines = [line for line in (quiet.stdout + quiet.stderr).splitlines() if line.strip()]
    assert any(SUMMARY.search(line) for line in lines), lines
    failures = [line for line in lines if not SUMMARY.search(line)]
    broken_name = fleet.name_of(broken.home)
    assert any(broken_name in line or "install0." in line for line in failures), lines
    for name, home in names.items():
        if home != broken.home:
            assert not any(name in line for line in lines), (name, lines)


def _set_retry_budget(fleet: Fleet, seconds: int) -> None:
    for path in (fleet.base / "etc" / "sites").glob("*.toml"):
        result = fleet.run("config", "backend", "--retry-budget", str(seconds), "--config", str(path))
        assert result.returncode == 0, result.stderr


def test_the_exit_code_is_the_worst_class_over_all_sites(small_fleet):
    """Best to worst: 0, 7 busy, 6 temporary, 4 database, 5 backend refused, 3 config."""
    fleet = connected_fleet(small_fleet, 4, installs=3)
    _set_retry_budget(fleet, 2)
    blogs, installs = fleet.network.blogs, fleet.installs.installs
    healthy = {fleet.site_ids[key_of(blogs[1].home)], fleet.site_ids[key_of(blogs[2].home)]}
    expected_site_codes: Dict[str, int] = {}

    def run(expected_exit: int) -> None:
        fleet.backend.clear_requests()
        result, report = fleet.sync_all()
        assert result.returncode == expected_exit, (result.returncode, result.stderr[-2000:])
        assert report["exit_code"] == expected_exit
        pushes = fleet.pushes()
        assert all(len(pushes.get(s, [])) == 1 for s in healthy), "a healthy site was not pushed"
        codes = {key_of(s["url"]): s["exit_code"] for s in report["sites"]}
        for home, code in expected_site_codes.items():
            assert codes.get(key_of(home)) == code, (home, codes)

    run(0)
    lock_path = fleet.base / "state" / f"{fleet.name_of(installs[0].home)}.lock"
    with open(lock_path, "a+") as lock:  # another run of that site holds its lock
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        expected_site_codes[installs[0].home] = 7
        run(7)
        fleet.backend.inject("status", count=None, status=503, body={"detail": "Service Unavailable"},
                             path_contains=f"/integrations/{fleet.integration(installs[1].home)}/")
        expected_site_codes[installs[1].home] = 6
        run(6)
        conn = fd.connect(installs[2].database)
        try:
            fd.run_sql(conn, [f"DROP TABLE `{installs[2].prefix}posts`"])
        finally:
            conn.close()
        expected_site_codes[installs[2].home] = 4
        run(4)
        fleet.backend.inject("status", count=None, status=400, body={"detail": "Invalid structure."},
                             path_contains=f"/integrations/{fleet.integration(blogs[3].home)}/")
        expected_site_codes[blogs[3].home] = 5
        run(5)
        config = fleet.base / "etc" / "sites" / f"{fleet.name_of(blogs[4].home)}.toml"
        config.write_text(config.read_text() + "\n[backend\nbroken = \n")
        expected_site_codes.pop(blogs[4].home, None)  # its URL is not known without its config
        run(3)


def test_status_all_check_reports_the_worst_site(small_fleet):
    fleet = connected_fleet(small_fleet, 3, installs=2)
    result, _ = fleet.sync_all()
    assert result.returncode == 0, result.stderr
    ok = fleet.run("status", "--all", "--check")
    assert ok.returncode == 0 and ok.stdout.startswith("IGNY8 OK"), ok.stdout + ok.stderr

    time.sleep(1.5)
    stale = fleet.run("status", "--all", "--check", "--max-age", "0.0002")  # 0.72 s
    assert stale.returncode == 1 and stale.stdout.startswith("IGNY8 WARNING"), stale.stdout + stale.stderr

    fleet.backend.inject("status", count=None, status=400, body={"detail": "Invalid structure."},
                         path_contains=f"/integrations/{fleet.integration(fleet.installs.installs[1].home)}/")
    result, _ = fleet.sync_all()
    assert result.returncode == 5, result.stderr
    critical = fleet.run("status", "--all", "--check")
    assert critical.returncode == 2 and critical.stdout.startswith("IGNY8 CRITICAL"), critical.stdout
    worst = fleet.run("status", "--all", "--check", "--max-age", "0.0002")
    assert worst.returncode == 2, worst.stdout

    rows = json.loads(fleet.run("status", "--all", "--format", "json").stdout)
    rows = rows["sites"] if isinstance(rows, dict) else rows
    failing = [r for r in rows if r["last_error"]]
    assert [key_of(r["url"]) for r in failing] == [key_of(fleet.installs.installs[1].home)]


def test_sync_all_writes_each_sites_metrics_file_and_refuses_one_file_for_all(small_fleet, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    fleet = connected_fleet(small_fleet, 3, installs=1)
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    result = fleet.run("sync", "--all", "--quiet", "--metrics-file", str(textfiles / "one.prom"))
    assert result.returncode == 2 and "{site}" in result.stderr  # every site would overwrite the same file
    result = fleet.run("sync", "--all", "--quiet", "--metrics-file", str(textfiles / "igny8-{site}.prom"))
    assert result.returncode == 0, result.stderr
    written = sorted(textfiles.glob("igny8-*.prom"))
    assert [p.name for p in written] == sorted(f"igny8-{name}.prom" for name in fleet.configs())
    for path in written:
        families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
        exit_codes = [s.value for s in families["igny8_agent_last_exit_code"].samples]
        sites = {s.labels["site"] for f in families.values() for s in f.samples}
        assert exit_codes == [0] and sites == {path.stem[len("igny8-"):]}


def test_schedule_install_all_replaces_the_sites_jobs_and_a_sites_own_job_is_refused_while_it_is_there(
        small_fleet, tmp_path):
    fleet = connected_fleet(small_fleet, 2, installs=1)
    root = tmp_path / "schedule-root"
    for folder in ("etc/cron.d", "etc/logrotate.d"):
        (root / folder).mkdir(parents=True)
    fleet.env["IGNY8_SCHEDULE_ROOT"] = str(root)
    install = next(iter(fleet.installs))
    result = fleet.run("schedule", "install", "--kind", "cron", "--path", str(install.root))
    assert result.returncode == 0, result.stderr
    own = sorted(p.name for p in (root / "etc/cron.d").iterdir())
    assert len(own) == 1
    result = fleet.run("schedule", "install", "--all", "--kind", "cron")
    assert result.returncode == 0, result.stderr
    assert "replaced: removed cron job" in result.stdout
    assert sorted(p.name for p in (root / "etc/cron.d").iterdir()) == ["igny8-agent-all-sites"]
    job = (root / "etc/cron.d/igny8-agent-all-sites").read_text()
    assert f"env IGNY8_CONFIG_DIR={fleet.base / 'etc'} " in job and " sync --all --quiet " in job
    result = fleet.run("schedule", "install", "--kind", "cron", "--path", str(install.root))
    assert result.returncode == 3 and "schedule remove --all" in result.stderr
    shown = fleet.run("schedule", "show", "--path", str(install.root))
    assert "igny8-agent-all-sites" in shown.stdout  # what runs this site daily
    result = fleet.run("schedule", "remove", "--all")
    assert result.returncode == 0 and list((root / "etc/cron.d").iterdir()) == []


def test_connect_network_exits_6_when_only_temporary_failures_remain_and_5_when_a_subsite_is_unknown(small_fleet):
    fleet = small_fleet(3)
    homes = fleet.homes()
    fleet.register(homes)
    result = fleet.run("config", "backend", "--retry-budget", "0", "--path", str(fleet.network.root))
    assert result.returncode == 0, result.stderr
    fleet.backend.inject("status", count=None, path_contains="/update-structure/", status=503)
    result = fleet.connect_network("--json")
    rows = subsites(json.loads(result.stdout))
    assert result.returncode == 6, result.stderr
    assert {row["exit_code"] for row in rows} == {6} and len(rows) == len(homes)
    # A subsite IGNY8 does not know outranks the temporary failures: 5.
    fleet.network.add_subsite()  # not registered on the backend
    result = fleet.connect_network("--json")
    rows = subsites(json.loads(result.stdout))
    assert result.returncode == 5, result.stderr
    assert sorted(row["exit_code"] for row in rows) == [5] + [6] * len(homes)
    assert [row["outcome"] for row in rows if row["exit_code"] == 5] == ["not-in-igny8"]
