"""connect -> sync -> status -> config -> disconnect, end to end.

Real parts only: the agent as a separate process, a real HTTP server on
loopback implementing the contract, a real MariaDB WordPress database, and
the agent's file keyring in a temp dir.
"""

from __future__ import annotations

import json
import time


from conftest import API_KEY, HOME
from igny8_agent.state import RunLock

def pushes(server):
    return [r for r in server.requests if r.path.endswith("/update-structure/")]


def test_connect_sync_status_change_sync_status_disconnect(site, backend):
    connected = site.connect("--email", "DEV@igny8.com")
    assert connected.returncode == 0, connected.stderr
    for step in ("Authenticating", "Connected", "Structure syncing", "Connected & Ready"):
        assert step in connected.stderr + connected.stdout
    assert "post (5)" in connected.stdout
    integrations = backend.integrations_for_site(backend.site_id)
    assert len(integrations) == 1
    assert pushes(backend)[-1].body["post_types"]["post"]["count"] == 5
    assert pushes(backend)[-1].headers["authorization"] == f"Bearer {API_KEY}"

    synced = site.run("sync")
    assert synced.returncode == 0, synced.stderr
    assert len(synced.stdout.strip().splitlines()) == 1 and "sync ok" in synced.stdout

    backend.set_synced_count(integrations[0]["id"], "post_types", "post", 3)
    result, status = site.status()
    assert result.returncode == 0, result.stderr
    assert status["local"]["connection"] == "Connected & Ready"
    assert status["local"]["site_id"] == backend.site_id
    assert "file" in status["local"]["key_storage"]
    assert status["remote"]["post_types"]["post"] == {
        "label": "Posts", "count": 5, "synced_count": 3, "enabled": True, "fetch_limit": 100}
    assert status["remote"]["last_structure_fetch"]

    changed = site.run("config", "type", "post", "--disable", "--limit", "25")
    assert changed.returncode == 0, changed.stderr
    assert site.run("sync").returncode == 0
    _, status = site.status()
    assert status["remote"]["post_types"]["post"]["enabled"] is False
    assert status["remote"]["post_types"]["post"]["fetch_limit"] == 25

    gone = site.run("disconnect")
    assert gone.returncode == 0, gone.stderr
    result, status = site.status()
    assert result.returncode == 3
    assert status["local"]["connection"] == "Not connected"
    keyring_text = (site.state_dir / "keyring.json").read_text()
    assert API_KEY not in keyring_text


def test_reconnect_reuses_the_integration(site, backend):
    assert site.connect().returncode == 0
    assert site.connect().returncode == 0
    assert len(backend.integrations_for_site(backend.site_id)) == 1


def test_rejected_key_fails_to_connect_and_stores_nothing(site, backend):
    result = site.connect(key="igny8_wrongKey123")
    assert result.returncode == 5
    assert "Failed to connect" in result.stderr
    assert "igny8_wrongKey123" not in result.stderr + result.stdout
    assert not (site.state_dir / "keyring.json").exists() or "igny8_wrongKey123" not in (
        site.state_dir / "keyring.json").read_text()


def test_key_of_another_account_is_refused_by_email(site):
    result = site.connect("--email", "someone@else.com")
    assert result.returncode == 5
    assert "this API key belongs to another account" in result.stderr


def test_site_not_found_and_site_not_active(site, backend):
    site.db.set_option("home", "https://unknown.example.net")
    site.db.set_option("siteurl", "https://unknown.example.net")
    missing = site.connect()
    assert missing.returncode == 5 and "Site not found" in missing.stderr
    site.db.set_option("home", HOME)
    site.db.set_option("siteurl", HOME)
    backend.set_site_active(backend.site_id, False)
    inactive = site.connect()
    assert inactive.returncode == 5 and "Site is not active" in inactive.stderr


def test_site_id_overrides_url_matching(site, backend):
    result = site.connect("--site-id", str(backend.other_site))
    assert result.returncode == 0, result.stderr
    assert len(backend.integrations_for_site(backend.other_site)) == 1


def test_deleted_integration_is_created_again_and_the_push_retried(site, backend):
    assert site.connect().returncode == 0
    old = backend.integrations_for_site(backend.site_id)[0]["id"]
    backend.delete_integration(old)
    result = site.run("sync")
    assert result.returncode == 0, result.stderr
    new = backend.integrations_for_site(backend.site_id)
    assert len(new) == 1 and new[0]["id"] != old
    assert site.state()["integration_id"] == new[0]["id"]


def test_backend_down_records_failure_keeps_last_success_and_next_run_succeeds(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "1.5", "--timeout", "2").returncode == 0
    before = site.state()
    backend.stop()
    down = site.run("sync")
    assert down.returncode == 6, down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
    after = site.state()
    assert after["last_success"] == before["last_success"]
    assert after["last_error"]["temporary"] is True
    backend.start()
    again = site.run("sync")
    assert again.returncode == 0, again.stderr
    assert site.state()["last_error"] == {}


def test_503_with_retry_after_is_waited_out(site, backend):
    assert site.connect().returncode == 0
    backend.inject("status", count=2, path_contains="update-structure", status=503, retry_after=1)
    started = time.monotonic()
    result = site.run("sync")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2.0
    assert len(pushes(backend)) == 1 + 3


def test_second_sync_while_one_runs_says_so(site, backend):
    assert site.connect().returncode == 0
    lock_file = next(p for p in site.state_dir.glob("*.lock") if not p.name.startswith("keyring"))
    with RunLock(lock_file):
        busy = site.run("sync")
    assert busy.returncode == 7
    assert "another sync of this site is running" in busy.stderr


def test_dry_run_prints_the_payload_and_sends_nothing(site, backend):
    assert site.connect().returncode == 0
    before = len(backend.requests)
    result = site.run("sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["post_types"]["post"]["count"] == 5
    assert payload["site_url"] == HOME and payload["agent_version"]
    assert len(backend.requests) == before


def test_copied_site_refuses_to_push_over_the_original(site, backend):
    assert site.connect().returncode == 0
    site.db.set_option("home", "https://staging.example.com")
    result = site.run("sync")
    assert result.returncode == 5
    assert "not the one that was connected" in result.stderr
    assert "connect" in result.stderr


def test_disabled_sync_tells_the_backend_once_then_pushes_nothing(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "sync", "--disable", "--no-two-way").returncode == 0
    first = site.run("sync")
    assert first.returncode == 0, first.stderr
    assert pushes(backend)[-1].body["plugin_connection_enabled"] is False
    assert pushes(backend)[-1].body["two_way_sync_enabled"] is False
    count = len(pushes(backend))
    second = site.run("sync")
    assert second.returncode == 0
    assert "disabled" in second.stdout
    assert len(pushes(backend)) == count


def test_status_with_backend_unreachable_shows_local_part_and_exit_6(site, backend):
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "0", "--timeout", "2").returncode == 0
    backend.stop()
    result, status = site.status()
    assert result.returncode == 6
    assert status["local"]["connection"] == "Connected & Ready"
    assert status["remote"] is None and status["remote_error"]


def test_api_key_on_the_command_line_is_refused(site):
    result = site.run("connect", "--api-key", API_KEY)
    assert result.returncode == 2
    assert API_KEY not in result.stderr + result.stdout


def test_sync_before_connect_needs_an_operator(site):
    result = site.run("sync")
    assert result.returncode == 3
    assert "igny8-agent connect" in result.stderr


def test_status_text_shows_the_frontend_table(site, backend):
    assert site.connect().returncode == 0
    integration = backend.integrations_for_site(backend.site_id)[0]["id"]
    backend.set_synced_count(integration, "post_types", "post", 2)
    result = site.run("status")
    assert result.returncode == 0, result.stderr
    assert "Connected & Ready" in result.stdout
    assert "\033[" not in result.stdout  # no colour codes when not a terminal
    line = next(l for l in result.stdout.splitlines() if l.strip().startswith("Posts"))
    assert line.split() == ["Posts", "5", "total", "·", "2", "synced", "[Enabled]", "Limit:", "100"]
    assert "Last structure fetch" in result.stdout and "just now" in result.stdout


def test_status_says_failed_after_a_success_recorded_with_the_clock_in_2099(site, backend):
    assert site.connect().returncode == 0
    path = next(site.state_dir.glob("*.state.json"))
    data = json.loads(path.read_text())
    data["last_success"] = data["last_attempt"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(data))
    backend.inject("status", count=None, path_contains="update-structure", status=400)
    assert site.run("sync").returncode == 5
    result = site.run("status", "--json", "--local")
    assert json.loads(result.stdout)["local"]["connection"] == "Connected — last sync failed"


def test_status_says_ready_after_a_success_following_a_failure_recorded_with_the_clock_in_2099(site, backend):
    assert site.connect().returncode == 0
    path = next(site.state_dir.glob("*.state.json"))
    data = json.loads(path.read_text())
    data["last_error"] = {"at": "2099-01-01T00:00:00Z", "message": "old", "status": 500, "temporary": True}
    path.write_text(json.dumps(data))
    assert site.run("sync").returncode == 0
    result = site.run("status", "--json", "--local")
    assert json.loads(result.stdout)["local"]["connection"] == "Connected & Ready"
