"""The connection flow and the daily sync, as the contract describes them.

Not Connected -> Authenticating -> Connected (structure syncing) ->
Connected & Ready. Each step is reported through a ``progress`` callback so
the CLI can show it; nothing here prints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from igny8_agent import __version__, paths
from igny8_agent.client import BackendClient
from igny8_agent.errors import (
    AuthError,
    BackendError,
    IntegrationMissing,
    Interrupted,
    NotConnectedError,
    SiteError,
    TransientError,
)
from igny8_agent.keystore import KeyStore, entry_name, key_override
from igny8_agent.site import Site
from igny8_agent.wordpress import SiteFacts
from igny8_agent.transport import NEXT_RUN
from igny8_agent.state import RunLock, State, load_state, save_state, shares_key, utc_now
from igny8_agent.structure import KINDS, Structure, build_payload, build_structure
from igny8_agent.matching import find_or_create_integration, resolve_site

log = logging.getLogger("igny8_agent.flow")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class SyncResult:
    """What a connect or sync did, for printing and ``--json``."""

    action: str  # "pushed", "dry-run", "skipped"
    site_id: Optional[int] = None
    integration_id: Optional[int] = None
    site_url: str = ""
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    last_structure_fetch: str = ""
    payload: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)
    seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> Dict[str, Any]:
        out = {
            "action": self.action,
            "site_id": self.site_id,
            "integration_id": self.integration_id,
            "site_url": self.site_url,
            "counts": self.counts,
            "last_structure_fetch": self.last_structure_fetch or None,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }
        if self.message:
            out["message"] = self.message
        return out


def make_client(site: Site, api_key: str, api_url: Optional[str] = None, retry_budget: Optional[float] = None,
                *, fail_fast: bool = False, then: str = NEXT_RUN, notify: Optional[Progress] = None) -> BackendClient:
    """The run's client. ``fail_fast`` for commands someone waits for: an
    unreachable backend is not retried; ``then`` ends the message of a spent
    retry budget; ``notify`` hears of each wait."""
    s = site.settings
    return BackendClient(
        api_url or s.api_url,
        api_key,
        timeout=s.timeout,
        ca_bundle=s.ca_bundle or None,
        retry_budget=s.retry_budget if retry_budget is None else retry_budget,
        fail_fast=fail_fast,
        then=then,
        notify=notify,
    )


def again_later(command: str) -> str:
    """How a spent retry budget's message ends where no scheduled run follows."""
    return f"run `igny8-agent {command}` again later"


def check_backend(site: Site, state: State) -> None:
    """The connected backend must be the configured one: the key and the site
    and integration ids belong to it. Never talk to another silently."""
    configured = site.settings.api_url.strip().rstrip("/")
    connected = state.api_url.strip().rstrip("/")
    if connected and configured != connected:
        raise NotConnectedError(
            f"this site is not connected to {configured} (the configured API URL) but to {connected}: "
            f"run `igny8-agent connect --api-url {configured}` to move it there"
        )


def counts_of(structure: Structure) -> Dict[str, Dict[str, int]]:
    return {kind: {slug: t.count for slug, t in structure.kind(kind).items()} for kind in KINDS}


# -- connect -------------------------------------------------------------------


def connect(
    site: Site,
    api_key: str,
    *,
    email: Optional[str] = None,
    site_id: Optional[int] = None,
    api_url: Optional[str] = None,
    keystore: Optional[KeyStore] = None,
    progress: Progress = _quiet,
    notify: Optional[Progress] = None,
) -> SyncResult:
    """``notify`` hears what a retry waits for."""
    started = time.monotonic()
    url = (api_url or site.settings.api_url).strip().rstrip("/")
    keystore = keystore or KeyStore()
    # The site first: a --url matching no subsite stops here, before any file
    # (lock, state, key) is made under its name. (No step line: the steps an
    # operator sees are the backend's, as the plugin showed them.)
    facts = site.read_facts()
    with RunLock(site.paths.lock, also=_other_files(site)):
        state = load_state(site.paths.state)
        with make_client(site, api_key, url, fail_fast=True, then=again_later("connect"), notify=notify) as client:
            progress("Authenticating…")
            me = client.me()
            if email and str(me.get("email", "")).strip().lower() != email.strip().lower():
                raise AuthError("Failed to connect: this API key belongs to another account")
            site_record = resolve_site(client, site_id or site.settings.site_id, facts.home, facts.siteurl)
            # "Connected" only once the backend knows this site: the key is kept for it.
            entry = entry_name(url, site.paths.name)
            keystore.set(entry, api_key)
            progress("Connected")
            structure = build_structure(facts, site.settings)
            account = me.get("account") if isinstance(me.get("account"), dict) else {}
            attach(site, state, site_record, facts, url, entry, str(me.get("email") or ""),
                   str(account.get("name") or ""))

            progress("Structure syncing…")
            result = push(client, site, state, structure)
        progress("Connected & Ready")
    result.seconds = time.monotonic() - started
    return result


def attach(site: Site, state: State, site_record: dict, facts: SiteFacts, api_url: str, key_entry: str,
           account_email: str, account_name: str) -> None:
    """Record in the site's state that it is connected to ``site_record``."""
    if state.site_id != int(site_record["id"]) or state.api_url != api_url:
        state.integration_id = None  # another site or backend: find its own
    state.api_url = api_url
    state.key_entry = key_entry
    state.account_email = account_email
    state.account_name = account_name
    state.site_id = int(site_record["id"])
    state.site_url = facts.site_url
    state.fingerprint = site.fingerprint(facts.site_url)
    state.connected_at = utc_now()
    save_state(site.paths.state, state)


def remember_site(site: Site, api_url: str, site_id: Optional[int] = None, extra: tuple = ()) -> None:
    """Write the site's config file so cron can run `sync --config FILE`
    (and ``sync --all`` finds it)."""
    from igny8_agent.settings import edit_settings

    changes = [(("wordpress", "path"), str(site.root) if site.root else "")]
    if site.url:
        changes.append((("wordpress", "url"), site.url))
    changes.append((("backend", "api_url"), api_url.rstrip("/")))
    if site_id:
        changes.append((("backend", "site_id"), site_id))
    edit_settings(site.paths.config, changes + list(extra))


def _other_files(site: Site) -> tuple:
    """Files besides the state that a killed run may have left temp files of."""
    return (site.paths.config, paths.keyring_file())


def push(client: BackendClient, site: Site, state: State, structure: Structure) -> SyncResult:
    """Find or create the integration, push the payload, record the outcome."""
    settings = site.settings
    payload = build_payload(structure, settings, __version__)
    try:
        if state.integration_id is None:
            state.integration_id = find_or_create_integration(client, state.site_id, structure.site_url)
        try:
            data = client.update_structure(state.integration_id, payload)
        except IntegrationMissing:
            # Deleted on the backend: find or create it again once, retry once.
            log.info("integration %s is gone; finding or creating it again", state.integration_id)
            state.integration_id = find_or_create_integration(client, state.site_id, structure.site_url)
            data = client.update_structure(state.integration_id, payload)
    except (BackendError, TransientError) as exc:
        status = getattr(exc, "status", None)
        state.record_failure(str(exc), status, temporary=isinstance(exc, TransientError))
        save_state(site.paths.state, state)
        raise
    fetched = str((data or {}).get("last_structure_fetch") or "")
    counts = counts_of(structure)
    state.record_success(fetched, counts, settings.plugin_connection_enabled)
    save_state(site.paths.state, state)
    return SyncResult(
        action="pushed",
        site_id=state.site_id,
        integration_id=state.integration_id,
        site_url=structure.site_url,
        counts=counts,
        last_structure_fetch=state.last_structure_fetch,
        payload=payload,
        warnings=structure.warnings,
    )


# -- sync ----------------------------------------------------------------------


def sync(
    site: Site,
    *,
    dry_run: bool = False,
    wait: float = 0.0,
    keystore: Optional[KeyStore] = None,
    progress: Progress = _quiet,
    then: str = NEXT_RUN,
    notify: Optional[Progress] = None,
    reader: Optional[Callable[[Site], SiteFacts]] = None,
    client_for: Optional[Callable[[Site, str], BackendClient]] = None,
    sweep: bool = True,
) -> SyncResult:
    """``then`` ends the message of a spent retry budget (the next scheduled
    run, or what to do); ``notify`` hears what a retry waits for.

    ``sync --all`` shares one database connection and one HTTP client among
    its sites: ``reader(site)`` reads the site's facts in its own snapshot,
    ``client_for(site, api_key)`` gives the run's client for its backend (not
    closed here). By default the site gets its own session and client.
    ``sweep`` false: the run removed killed runs' temp files already."""
    started = time.monotonic()
    if dry_run:
        progress("Reading the WordPress database…")
        structure = build_structure(reader(site) if reader else site.read_facts(), site.settings)
        return SyncResult(
            action="dry-run",
            site_url=structure.site_url,
            counts=counts_of(structure),
            payload=build_payload(structure, site.settings, __version__),
            warnings=structure.warnings,
            seconds=time.monotonic() - started,
        )

    with RunLock(site.paths.lock, wait=wait, also=_other_files(site), sweep=sweep):
        state = load_state(site.paths.state)
        if not state.connected:
            raise NotConnectedError("this site is not connected yet: run `igny8-agent connect` first")
        check_backend(site, state)
        api_key = load_api_key(state, keystore)
        settings = site.settings
        if not settings.plugin_connection_enabled and state.pushed_connection_enabled is False:
            return SyncResult(
                action="skipped",
                site_id=state.site_id,
                integration_id=state.integration_id,
                message="sync operations are disabled (plugin_connection_enabled = false); nothing was pushed",
                seconds=time.monotonic() - started,
            )

        progress("Reading the WordPress database…")
        try:
            facts = reader(site) if reader else site.read_facts()
            _check_fingerprint(site, state, facts.site_url)
            structure = build_structure(facts, settings)
        except Interrupted:
            raise  # the operator stopped it: not a failure of the site
        except Exception as exc:
            state.record_failure(str(exc), None, temporary=False)
            save_state(site.paths.state, state)
            raise

        progress("Structure syncing…")
        if client_for is not None:
            result = push(client_for(site, api_key), site, state, structure)
        else:
            with make_client(site, api_key, site.settings.api_url, then=then, notify=notify) as client:
                result = push(client, site, state, structure)
    result.seconds = time.monotonic() - started
    return result


def load_api_key(state: State, keystore: Optional[KeyStore] = None) -> str:
    override = key_override()
    if override:
        return override[0]
    key = (keystore or KeyStore()).get(state.key_entry)
    if not key:
        raise NotConnectedError(
            "no API key stored for this site (keyring entry missing): run `igny8-agent connect` again"
        )
    return key


def _check_fingerprint(site: Site, state: State, home: str) -> None:
    """Refuse to push from a copy of the site (staging clone carrying the config)."""
    expected = state.fingerprint
    current = site.fingerprint(home)
    if not expected or expected == current:
        return
    changed = [f"{k} {expected.get(k)!r} -> {current.get(k)!r}" for k in current if expected.get(k) != current.get(k)]
    raise SiteError(
        "this site is not the one that was connected (" + "; ".join(changed) + "): "
        "if it is a copy (staging), it must not overwrite the original; "
        "run `igny8-agent connect` here to connect it on its own"
    )


# -- status --------------------------------------------------------------------


@dataclass
class RemoteStatus:
    content_types: Optional[dict] = None
    error: str = ""
    error_kind: Optional[BaseException] = None


def remote_status(site: Site, state: State, keystore: Optional[KeyStore] = None, budget: float = 5.0,
                  notify: Optional[Progress] = None) -> RemoteStatus:
    """What the backend holds (the IGNY8 frontend's Content Types table)."""
    if not state.connected or state.integration_id is None:
        return RemoteStatus(error="not connected")
    try:
        check_backend(site, state)
        api_key = load_api_key(state, keystore)
        with make_client(site, api_key, site.settings.api_url, retry_budget=budget, fail_fast=True,
                         then=again_later("status"), notify=notify) as client:
            return RemoteStatus(content_types=client.content_types(state.integration_id))
    except (BackendError, TransientError, NotConnectedError) as exc:
        return RemoteStatus(error=str(exc), error_kind=exc)


def disconnect(site: Site, keystore: Optional[KeyStore] = None) -> Dict[str, Any]:
    """Forget the key and the connection state; the config file stays."""
    with RunLock(site.paths.lock, wait=10.0):
        state = load_state(site.paths.state)
        removed_key = False
        # A network's subsites share one key: it goes with the last of them.
        if state.key_entry and not shares_key(site.paths.state.parent, state.key_entry, site.paths.state):
            removed_key = (keystore or KeyStore()).delete(state.key_entry)
        had_state = site.paths.state.exists()
        if had_state:
            site.paths.state.unlink()
    return {"removed_key": removed_key, "removed_state": had_state, "site_id": state.site_id}
