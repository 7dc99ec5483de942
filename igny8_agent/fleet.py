"""Every site on this host in one run: ``sync --all`` and ``status --all``.

The sites are the config files in the agent's ``sites/`` directory whose
state says connected, and every served subsite of each network connected with
``connect --network`` (``networks.py``). One process does them all: one
database connection per server and database, each site still read in its own
consistent snapshot; one HTTP client per backend and key (one connection
pool, one retry budget, so a 429 slows every worker instead of being
hammered by each); ``jobs`` sites in flight at once. Each site keeps its own
lock, state and last error. Nothing here prints: each site's ``Outcome`` goes
to ``on_done`` as it is known.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from igny8_agent import flow, paths
from igny8_agent.client import BackendClient
from igny8_agent.database import ReadOnlySession
from igny8_agent.errors import Igny8Error, LockBusy
from igny8_agent.files import directory_syncs_deferred, sweep_stale_temp_files
from igny8_agent.keystore import KeyStore
from igny8_agent.site import Site, SiteOptions, environment_api_url, locate_site
from igny8_agent.state import State, load_state
from igny8_agent.transport import NEXT_RUN
from igny8_agent.wordpress import SiteFacts
from igny8_agent.wpconfig import remember_walks

DEFAULT_JOBS = 4
MAX_JOBS = 64


@dataclass
class Outcome:
    """What the run did for one site."""

    site: str  # the site's config name
    url: str = ""
    outcome: str = ""  # pushed, skipped, failed, busy, not-served, connected, not-in-igny8
    message: str = ""
    error: Optional[BaseException] = None  # the CLI turns it into the exit code
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    blog_id: Optional[int] = None
    site_id: Optional[int] = None
    integration_id: Optional[int] = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Member:
    """One site of the run, located."""

    name: str
    site: Site
    state: State
    blog_id: Optional[int] = None  # on a network read in this run


# -- what the sites share --------------------------------------------------------------


class SharedReaders:
    """One read-only connection per database server, user and database;
    every site gets its own snapshot on it, one site at a time."""

    def __init__(self) -> None:
        self._sessions: Dict[Tuple[Any, ...], Tuple[threading.Lock, ReadOnlySession, dict]] = {}
        self._guard = threading.Lock()

    def _session(self, site: Site) -> Tuple[threading.Lock, ReadOnlySession, dict]:
        key = dataclasses.astuple(site.db)
        with self._guard:
            if key not in self._sessions:
                self._sessions[key] = (threading.Lock(), ReadOnlySession(site.db), {})
            return self._sessions[key]

    def run(self, site: Site, read: Callable[[ReadOnlySession], Any]) -> Any:
        lock, session, _memo = self._session(site)
        with lock, session.snapshot():
            return read(session)

    def reader(self, blog_id: Optional[int] = None) -> Callable[[Site], SiteFacts]:
        """A site's facts in its own snapshot; a network's network-activated
        plugins are read once per run (with its first subsite)."""
        def read(site: Site) -> SiteFacts:
            memo = self._session(site)[2]
            return self.run(site, lambda session: site.read_facts_in(session, blog_id=blog_id, network_plugins=memo))

        return read

    def close(self) -> None:
        for _lock, session, _memo in self._sessions.values():
            session.close()
        self._sessions.clear()


class SharedClients:
    """One backend client per API URL, key and TLS settings, for the whole run."""

    def __init__(self, then: str = NEXT_RUN, fail_fast: bool = False) -> None:
        self._clients: Dict[Tuple[Any, ...], BackendClient] = {}
        self._guard = threading.Lock()
        self._then = then
        self._fail_fast = fail_fast

    def __call__(self, site: Site, api_key: str) -> BackendClient:
        s = site.settings
        key = (s.api_url.strip().rstrip("/"), api_key, s.ca_bundle, s.timeout)
        with self._guard:
            if key not in self._clients:
                # The run's retry budget: the largest any site asks for.
                self._clients[key] = flow.make_client(site, api_key, s.api_url, retry_budget=s.retry_budget,
                                                      fail_fast=self._fail_fast, then=self._then)
            return self._clients[key]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class CachedKeys:
    """The keyring read once per entry in a run (a network's subsites share one
    key); otherwise the ``KeyStore`` it wraps."""

    def __init__(self, inner: Optional[KeyStore] = None) -> None:
        self._inner = inner or KeyStore()
        self._cache: Dict[str, Optional[str]] = {}
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(self, entry: str) -> Optional[str]:
        with self._guard:
            if entry not in self._cache:
                self._cache[entry] = self._inner.get(entry)
            return self._cache[entry]

    def set(self, entry: str, api_key: str) -> None:
        self._inner.set(entry, api_key)
        with self._guard:
            self._cache[entry] = api_key


# -- the run ---------------------------------------------------------------------------


def site_configs(environ: Mapping[str, str]) -> List[Path]:
    """The site config files of this host (user), by name."""
    folder = paths.config_dir(environ) / "sites"
    try:
        names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".toml"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        from igny8_agent.errors import ConfigError

        raise ConfigError(f"cannot list the site configs in {folder}: {exc.strerror or exc}") from None
    return [folder / name for name in names if not name.startswith(".")]


def every_site(environ: Mapping[str, str]) -> Tuple[List[Member], List[Outcome]]:
    """Every configured site with its state; a config or state that cannot be
    read is a failed outcome of its own, not the end of the run."""
    members: List[Member] = []
    broken: List[Outcome] = []
    for config in site_configs(environ):
        try:
            site = environment_api_url(locate_site(SiteOptions(config=config), environ), environ)
            state = load_state(site.paths.state)
        except Igny8Error as exc:
            broken.append(Outcome(config.stem, outcome="failed", message=str(exc), error=exc))
            continue
        members.append(Member(config.stem, site, state))
    return members, broken


def locate_members(environ: Mapping[str, str]) -> Tuple[List[Member], List[Outcome]]:
    """The sites a run over the host reads: those connected, and the main
    sites of networks connected with ``--network``. Sites never connected are
    left out (they are nobody's to sync yet)."""
    members, broken = every_site(environ)
    return [m for m in members if m.state.connected or m.site.settings.network_all], broken


def run_pool(items: Iterable[Any], work: Callable[[Any], Outcome], jobs: int,
             on_done: Optional[Callable[[Outcome], None]] = None) -> List[Outcome]:
    """``work(item)`` for every item, ``jobs`` at a time; outcomes in the
    order they finish. An exception a worker did not expect is that site's
    failed outcome."""
    items = list(items)
    outcomes: List[Outcome] = []
    if not items:
        return outcomes
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, MAX_JOBS, len(items))), thread_name_prefix="site")
    try:
        futures = [pool.submit(work, item) for item in items]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def sync_site(member: Member, readers: SharedReaders, clients: SharedClients, keys: Any,
              after_site: Optional[Callable[[Site, Outcome, float], None]] = None) -> Outcome:
    """One site's sync within the run: its own lock, state and last error.
    ``after_site(site, outcome, seconds)`` runs once the outcome is known
    (the CLI writes the site's metrics there)."""
    started = time.monotonic()
    outcome = Outcome(member.name, url=member.state.site_url or member.site.settings.url, blog_id=member.blog_id)
    try:
        result = flow.sync(member.site, keystore=keys, reader=readers.reader(member.blog_id), client_for=clients,
                           sweep=False)
    except LockBusy as exc:
        outcome.outcome, outcome.message, outcome.error = "busy", str(exc), exc
    except Exception as exc:  # noqa: BLE001 - every failure is this site's, the run goes on
        outcome.outcome, outcome.message, outcome.error = "failed", str(exc), exc
    else:
        outcome.outcome = result.action  # pushed or skipped
        outcome.message = result.message
        outcome.url = result.site_url or outcome.url
        outcome.counts = result.counts
        outcome.site_id, outcome.integration_id = result.site_id, result.integration_id
    outcome.seconds = time.monotonic() - started
    if after_site is not None:
        after_site(member.site, outcome, outcome.seconds)
    return outcome


def sync_all(environ: Mapping[str, str], *, jobs: int = DEFAULT_JOBS, connect_new: bool = True,
             keystore: Optional[KeyStore] = None,
             on_done: Optional[Callable[[Outcome], None]] = None,
             after_site: Optional[Callable[[Site, Outcome, float], None]] = None) -> List[Outcome]:
    """``sync --all``: every connected site and served subsite, once."""
    keys = CachedKeys(keystore)
    readers, clients = SharedReaders(), SharedClients()
    try:
        with remember_walks(), directory_syncs_deferred():
            return _sync_all(environ, keys, readers, clients, jobs, connect_new, on_done, after_site)
    finally:
        readers.close()
        clients.close()


def _sync_all(environ: Mapping[str, str], keys: CachedKeys, readers: SharedReaders, clients: SharedClients,
              jobs: int, connect_new: bool, on_done: Optional[Callable[[Outcome], None]],
              after_site: Optional[Callable[[Site, Outcome, float], None]]) -> List[Outcome]:
    from igny8_agent import networks

    members, outcomes = locate_members(environ)
    # Killed runs' temp files, once per directory rather than once per site.
    for folder in {p for m in members for p in (m.site.paths.state.parent, m.site.paths.config.parent)}:
        sweep_stale_temp_files(folder)
    for outcome in outcomes:
        if on_done is not None:
            on_done(outcome)
    members, settled = networks.expand(members, readers, clients, keys, environ,
                                       connect_new=connect_new, jobs=jobs, on_done=on_done)
    outcomes += settled
    outcomes += run_pool(members, lambda m: sync_site(m, readers, clients, keys, after_site), jobs, on_done)
    return outcomes
