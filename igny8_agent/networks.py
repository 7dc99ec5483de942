"""Whole multisite networks: ``connect --network``, and the networks'
subsites in ``sync --all``.

``connect --network`` connects every subsite WordPress serves, each as its own
backend site matched by its home URL (as the contract matches one site), all
with the one key: the key is stored once, under the main site's name, and
every subsite's state points at it. The main site's config remembers that the
whole network is connected (``[network] all``), so ``sync --all`` reads every
served subsite and connects those added since (unless ``auto_connect`` is
false, or the run is told not to). A subsite WordPress no longer serves
(archived, deleted, spam) gets no push.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from igny8_agent import flow
from igny8_agent.dberrors import NoSuchTable
from igny8_agent.errors import AuthError, ConfigError, Igny8Error, NotConnectedError, SiteError
from igny8_agent.files import directory_syncs_deferred, sweep_stale_temp_files
from igny8_agent.fleet import CachedKeys, Member, Outcome, SharedClients, SharedReaders, run_pool
from igny8_agent.keystore import KeyStore, entry_name
from igny8_agent.matching import SiteIndex, resolve_site
from igny8_agent.multisite import Network, Subsite
from igny8_agent.site import Site, SiteOptions, locate_site
from igny8_agent.state import RunLock, load_state
from igny8_agent.structure import build_structure
from igny8_agent.wpconfig import remember_walks


class _Listings:
    """The account's sites (``GET sites/``), fetched once per client in a run."""

    def __init__(self) -> None:
        self._lists: Dict[int, SiteIndex] = {}
        self._guard = threading.Lock()

    def __call__(self, client: Any) -> SiteIndex:
        with self._guard:
            if id(client) not in self._lists:
                self._lists[id(client)] = SiteIndex(client.sites())
            return self._lists[id(client)]


def _network_key(site: Site) -> Tuple[str, str, str, str]:
    root = str(site.root.resolve()) if site.root else ""
    return (root, site.db.host or site.db.socket or "", site.db.name, site.table_prefix)


def _read_network(readers: SharedReaders, site: Site) -> Network:
    return readers.run(site, lambda session: Network.read(session, site.table_prefix, site.main_site_id))


def _subsite_url(main: Site, home: str, sub: Subsite) -> str:
    scheme = home.split("://", 1)[0] if "://" in home else "https"
    return f"{scheme}://{sub.address}"


# -- joining one subsite ----------------------------------------------------------------


class Joiner:
    """Connects subsites of one network with its key, in a run."""

    def __init__(self, main: Site, api_url: str, key_entry: str, api_key: str, account: Tuple[str, str],
                 readers: SharedReaders, clients: SharedClients, listings: _Listings,
                 environ: Mapping[str, str]) -> None:
        self.main, self.api_url, self.key_entry, self.api_key = main, api_url, key_entry, api_key
        self.account = account
        self.readers, self.clients, self.listings, self.environ = readers, clients, listings, environ

    def subsite(self, sub: Subsite, home: str) -> Site:
        site = locate_site(SiteOptions(path=str(self.main.root), url=_subsite_url(self.main, home, sub)), self.environ)
        ours, theirs = site.settings, self.main.settings
        ours.api_url, ours.ca_bundle, ours.timeout, ours.retry_budget = (
            self.api_url, theirs.ca_bundle, theirs.timeout, theirs.retry_budget)
        return site

    def join(self, sub: Subsite, home: str) -> Outcome:
        outcome = Outcome("", url=_subsite_url(self.main, home, sub), blog_id=sub.blog_id)
        try:
            site = self.subsite(sub, home)
            outcome.site = site.paths.name
            client = self.clients(site, self.api_key)
            with RunLock(site.paths.lock, sweep=False):  # the run swept the directories once
                state = load_state(site.paths.state)
                facts = self.readers.run(site, lambda session: site.read_facts_in(session, blog_id=sub.blog_id))
                outcome.url = facts.site_url or outcome.url
                try:
                    record = resolve_site(None, None, facts.home, facts.siteurl, listed=self.listings(client))
                except SiteError as exc:
                    outcome.outcome, outcome.message = "not-in-igny8", str(exc)
                    return outcome
                flow.attach(site, state, record, facts, self.api_url, self.key_entry, *self.account)
                extra = [(("backend", "ca_bundle"), self.main.settings.ca_bundle)] if self.main.settings.ca_bundle else []
                flow.remember_site(site, self.api_url, None, tuple(extra))
                result = flow.push(client, site, state, build_structure(facts, site.settings))
        except Exception as exc:  # noqa: BLE001 - this subsite's failure, not the run's
            outcome.outcome, outcome.message, outcome.error = "failed", str(exc), exc
            return outcome
        outcome.outcome = "connected"
        outcome.counts, outcome.site_id, outcome.integration_id = result.counts, result.site_id, result.integration_id
        return outcome


def _homes(readers: SharedReaders, main: Site, subsites: List[Subsite]) -> Dict[int, str]:
    """Each subsite's home option (its URL with the scheme WordPress uses)."""
    from igny8_agent.database import quote_identifier

    homes: Dict[int, str] = {}

    def read(session: Any) -> None:
        for sub in subsites:
            prefix = main.table_prefix if sub.blog_id == main.main_blog_id else f"{main.table_prefix}{sub.blog_id}_"
            try:
                rows = session.query(f"SELECT option_value FROM {quote_identifier(prefix + 'options')}"
                                     " WHERE option_name = 'home'")
            except Igny8Error:
                rows = []
            value = rows[0][0] if rows else b""
            homes[sub.blog_id] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    readers.run(main, read)
    return homes


# -- connect --network --------------------------------------------------------------------


def connect_network(site: Site, api_key: str, *, email: Optional[str] = None, api_url: Optional[str] = None,
                    auto_connect: bool = True, jobs: int = 4, keystore: Optional[KeyStore] = None,
                    environ: Mapping[str, str], progress: Callable[[str], None] = lambda _: None,
                    on_done: Optional[Callable[[Outcome], None]] = None) -> Tuple[str, List[Outcome]]:
    """Connect every served subsite of the network ``site`` belongs to.
    Returns the network's name (the main site's config name) and one outcome
    per served subsite."""
    url = (api_url or site.settings.api_url).strip().rstrip("/")
    site.settings.api_url = url
    keys = CachedKeys(keystore)
    readers = SharedReaders()
    clients = SharedClients(then=flow.again_later("connect --network"), fail_fast=True)
    try:
        with remember_walks(), directory_syncs_deferred():
            return _connect_network(site, api_key, email, url, auto_connect, jobs, keys, readers, clients, environ,
                                    progress, on_done)
    finally:
        readers.close()
        clients.close()


def _connect_network(site: Site, api_key: str, email: Optional[str], url: str, auto_connect: bool, jobs: int,
                     keys: CachedKeys, readers: SharedReaders, clients: SharedClients, environ: Mapping[str, str],
                     progress: Callable[[str], None],
                     on_done: Optional[Callable[[Outcome], None]]) -> Tuple[str, List[Outcome]]:
    if site.multisite is False:
        raise ConfigError("this WordPress is not a multisite network (MULTISITE is off): connect it without --network")
    try:
        network = _read_network(readers, site)
    except NoSuchTable:
        raise ConfigError(f"this WordPress is not a multisite network (no {site.table_prefix}blogs table): "
                          "connect it without --network") from None
    served = network.served()
    for folder in (site.paths.state.parent, site.paths.config.parent):
        sweep_stale_temp_files(folder)
    client = clients(site, api_key)
    progress("Authenticating…")
    me = client.me()
    if email and str(me.get("email", "")).strip().lower() != email.strip().lower():
        raise AuthError("Failed to connect: this API key belongs to another account")
    account = me.get("account") if isinstance(me.get("account"), dict) else {}
    entry = entry_name(url, site.paths.name)
    keys.set(entry, api_key)
    flow.remember_site(site, url, None, ((("network", "all"), True), (("network", "auto_connect"), auto_connect)))
    progress(f"Connecting {len(served)} subsites…")
    joiner = Joiner(site, url, entry, api_key, (str(me.get("email") or ""), str(account.get("name") or "")),
                    readers, clients, _Listings(), environ)
    homes = _homes(readers, site, served)
    outcomes = run_pool(served, lambda sub: joiner.join(sub, homes.get(sub.blog_id, "")), jobs, on_done)
    outcomes.sort(key=lambda o: o.blog_id or 0)
    return site.paths.name, outcomes


# -- sync --all -----------------------------------------------------------------------------


def expand(members: List[Member], readers: SharedReaders, clients: SharedClients, keys: CachedKeys,
           environ: Mapping[str, str], *, connect_new: bool, jobs: int,
           on_done: Optional[Callable[[Outcome], None]] = None) -> Tuple[List[Member], List[Outcome]]:
    """Settle the members that belong to a network connected with
    ``--network``: each learns its subsite (blog id), those WordPress no
    longer serves get a "not-served" outcome instead of a push, and served
    subsites without a config are connected now (when allowed). Returns the
    members to sync and the outcomes settled here."""
    outcomes: List[Outcome] = []
    settled: set = set()
    listings = _Listings()

    def settle(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    for main in [m for m in members if m.site.settings.network_all and m.site.root is not None]:
        key = _network_key(main.site)
        group = [m for m in members if id(m) not in settled and _network_key(m.site) == key]
        try:
            network = _read_network(readers, main.site)
        except Igny8Error:
            continue  # each member's own sync reports the database's failure
        known = set()
        for member in group:
            settled.add(id(member))
            sub = network.find(member.site.url, served_only=False) if member.site.url else \
                next((s for s in network.subsites if s.blog_id == main.site.main_blog_id), None)
            if sub is not None and member.state.connected:
                known.add(sub.blog_id)
            if sub is None or not sub.served:
                why = sub.why_not if sub is not None else f"no longer in {main.site.table_prefix}blogs"
                settle(Outcome(member.name, url=member.state.site_url or member.site.url, outcome="not-served",
                               message=f"WordPress does not serve this subsite ({why}): nothing pushed",
                               blog_id=sub.blog_id if sub else None))
                continue
            member.blog_id = sub.blog_id
        new = [sub for sub in network.served() if sub.blog_id not in known]
        if new and connect_new and main.site.settings.network_auto_connect:
            _join_new(main, new, readers, clients, keys, listings, environ, jobs, settle)
    kept = [m for m in members if m.state.connected and (id(m) not in settled or m.blog_id is not None)]
    return kept, outcomes


def _join_new(main: Member, new: List[Subsite], readers: SharedReaders, clients: SharedClients, keys: CachedKeys,
              listings: _Listings, environ: Mapping[str, str], jobs: int, settle: Callable[[Outcome], None]) -> None:
    api_key = keys.get(main.state.key_entry) if main.state.key_entry else None
    if not api_key:
        error = NotConnectedError("the network's API key is not in the keyring: run `igny8-agent connect --network` again")
        for sub in new:
            settle(Outcome("", url=sub.address, outcome="failed", message=str(error), error=error, blog_id=sub.blog_id))
        return
    joiner = Joiner(main.site, main.site.settings.api_url.strip().rstrip("/"), main.state.key_entry, api_key,
                    (main.state.account_email, main.state.account_name), readers, clients, listings, environ)
    homes = _homes(readers, main.site, new)
    run_pool(new, lambda sub: joiner.join(sub, homes.get(sub.blog_id, "")), jobs, settle)
