"""Metrics for node_exporter's textfile collector: the text format (checked
with Prometheus's own Python parser), the atomic, refusing writer, and real
syncs that write the file."""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import API_KEY
from igny8_agent import metrics
from igny8_agent.errors import ConfigError
from igny8_agent.metrics import RunMetrics, check_path, check_target, escape_label, render, write
from igny8_agent.state import parse_time

NAMES = ("last_success_timestamp_seconds", "last_attempt_timestamp_seconds", "last_run_duration_seconds",
         "last_exit_code", "items", "sync_enabled", "site_info")


def parse(text: str) -> Dict[str, Dict[Tuple[Tuple[str, str], ...], float]]:
    """name -> {sorted labels -> value}, with the real parser; every family a gauge with HELP."""
    out: Dict[str, Dict[Tuple[Tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation, family.name
        for sample in family.samples:
            series = out.setdefault(sample.name, {})
            key = tuple(sorted(sample.labels.items()))
            assert key not in series, f"duplicate series {sample.name}{key}"
            series[key] = sample.value
    return out


def one(parsed, name: str, **labels) -> float:
    """The value of the only series of ``igny8_agent_<name>`` (with these labels)."""
    series = parsed["igny8_agent_" + name]
    matching = [v for k, v in series.items() if all(dict(k).get(n) == want for n, want in labels.items())]
    assert len(matching) == 1, (name, labels, series)
    return matching[0]


def sample_run(**changes) -> RunMetrics:
    run = RunMetrics(site="example-com-1a2b3c4d", exit_code=0, attempt=1733083200.125, duration=2.5,
                     last_success=1733083199.0, items={"post_types": {"post": 4, "page": 2},
                                                       "taxonomies": {"category": 1}},
                     url="https://example.com", site_id=42, version="1.2.3")
    for name, value in changes.items():
        setattr(run, name, value)
    return run


# -- the text format ---------------------------------------------------------------


def test_label_values_escape_backslash_quote_and_newline_exactly():
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_label("tab\there, {braces}=,comma é") == "tab\there, {braces}=,comma é"
    assert escape_label("\\n") == "\\\\n"  # a backslash then n is not a newline


@pytest.mark.parametrize("slug", ['say "hi"', "back\\slash", "two\nlines", "\\", '"', "\n", "trailing\\",
                                  "{x=\"1\",y}", "ünïcødé ☃", "ends with \\\"", ""])
def test_odd_slugs_survive_a_round_trip_through_the_prometheus_parser(slug):
    run = sample_run(items={"taxonomies": {slug: 7, "plain": 1}}, url='https://ex"am\\ple.com/\n')
    parsed = parse(render(run))
    assert one(parsed, "items", slug=slug, kind="taxonomies") == 7
    assert one(parsed, "items", slug="plain") == 1
    assert dict(next(iter(parsed["igny8_agent_site_info"])))["url"] == 'https://ex"am\\ple.com/\n'


def test_text_that_is_not_utf8_is_replaced_not_written_raw():
    parsed = parse(render(sample_run(items={"post_types": {"bad\udcffslug": 3}})))
    assert one(parsed, "items", kind="post_types") == 3
    assert list(parsed["igny8_agent_items"]) == [(("kind", "post_types"), ("site", "example-com-1a2b3c4d"),
                                                 ("slug", "bad\ufffdslug"))]


def test_every_metric_and_label_is_rendered_with_its_value():
    text = render(sample_run())
    assert text.startswith("# igny8-agent metrics of site example-com-1a2b3c4d\n") and text.endswith("\n")
    parsed = parse(text)
    assert sorted(parsed) == sorted("igny8_agent_" + n for n in NAMES)
    site = "example-com-1a2b3c4d"
    assert one(parsed, "last_success_timestamp_seconds", site=site) == 1733083199.0
    assert one(parsed, "last_attempt_timestamp_seconds", site=site) == 1733083200.125
    assert one(parsed, "last_run_duration_seconds", site=site) == 2.5
    assert one(parsed, "last_exit_code", site=site) == 0
    assert one(parsed, "sync_enabled", site=site) == 1
    items = {(dict(k)["kind"], dict(k)["slug"]): v for k, v in parsed["igny8_agent_items"].items()}
    assert items == {("post_types", "post"): 4, ("post_types", "page"): 2, ("taxonomies", "category"): 1}
    assert all(dict(k)["site"] == site for series in parsed.values() for k in series)
    assert list(parsed["igny8_agent_site_info"].items()) == [
        ((("site", site), ("site_id", "42"), ("url", "https://example.com"), ("version", "1.2.3")), 1)]
    for line in text.splitlines():  # no timestamps: node_exporter's textfile collector refuses them
        assert line.startswith("#") or len(line.rsplit("} ", 1)[1].split()) == 1, line


def test_a_site_never_synced_has_no_success_and_no_items_series():
    parsed = parse(render(sample_run(last_success=None, items={}, exit_code=3, sync_enabled=False, site_id=None)))
    assert "igny8_agent_last_success_timestamp_seconds" not in parsed  # absent(): the alert rule's other half
    assert "igny8_agent_items" not in parsed
    assert one(parsed, "last_exit_code") == 3
    assert one(parsed, "sync_enabled") == 0
    assert dict(next(iter(parsed["igny8_agent_site_info"])))["site_id"] == ""


@pytest.mark.parametrize("value, text", [(0, "0"), (130, "130"), (True, "1"), (2.5, "2.5"),
                                         (1733083200.123, "1733083200.123"), (float("nan"), "NaN"),
                                         (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (1e22, "1e+22")])
def test_values_are_written_as_prometheus_reads_them(value, text):
    assert metrics.format_value(value) == text
    parsed = one(parse(render(sample_run(duration=value))), "last_run_duration_seconds")
    assert (math.isnan(parsed) and math.isnan(value)) or parsed == float(value)


# -- where the file may go ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["relative/igny8.prom", "igny8.prom", "/var/lib/igny8.txt", "/var/lib/.prom",
                                  "/var/lib/igny8.prom.tmp", "/var/{site}/igny8.prom", "/var/lib/igny8-{name}.prom",
                                  "/var/lib/igny8-{site.prom"])
def test_a_metrics_path_must_be_absolute_end_in_prom_and_hold_only_the_site_placeholder(path):
    with pytest.raises(ConfigError, match="--file"):
        check_path(path, where="--file")


def test_a_good_metrics_path_and_the_site_placeholder():
    assert check_path("") == ""
    assert check_path("/var/lib/textfile/igny8-{site}.prom") == "/var/lib/textfile/igny8-{site}.prom"
    assert metrics.target_path("/d/igny8-{site}.prom", "shop-1a2b") == Path("/d/igny8-shop-1a2b.prom")


def test_the_directory_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        check_target(tmp_path / "missing" / "igny8.prom")


@pytest.mark.parametrize("mode, ok", [(0o755, True), (0o700, True), (0o1777, True), (0o1775, True),
                                      (0o777, False), (0o775, False), (0o757, False)])
def test_a_directory_others_can_write_is_refused_unless_sticky(tmp_path, mode, ok):
    directory = tmp_path / "textfile"
    directory.mkdir()
    directory.chmod(mode)
    if ok:
        assert check_target(directory / "igny8.prom") == directory / "igny8.prom"
        write(directory / "igny8.prom", sample_run())
    else:
        with pytest.raises(ConfigError, match="refusing the directory .*chmod go-w"):
            check_target(directory / "igny8.prom")
        with pytest.raises(ConfigError):
            write(directory / "igny8.prom", sample_run())
        assert list(directory.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_a_directory_of_another_user_is_refused(tmp_path):
    directory = tmp_path / "textfile"
    directory.mkdir(mode=0o755)
    os.chown(directory, 65534, 65534)
    with pytest.raises(ConfigError, match="chown"):
        write(directory / "igny8.prom", sample_run())


def test_a_directory_reached_through_a_link_is_written_in_its_real_place(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    written = write(tmp_path / "link" / "igny8.prom", sample_run())
    assert written == real / "igny8.prom" and written.is_file() and not written.is_symlink()


# -- the writer ------------------------------------------------------------------------------


def test_the_file_is_0644_and_replaced_by_rename_leaving_no_temp_file(tmp_path):
    path = tmp_path / "igny8.prom"
    write(path, sample_run(exit_code=6))
    first = os.stat(path)
    assert stat.S_IMODE(first.st_mode) == 0o644
    with open(path, "rb") as old_reader:  # a reader of the old file keeps reading all of it
        write(path, sample_run(exit_code=0, items={"post_types": {"post": 9}}))
        assert one(parse(old_reader.read().decode()), "last_exit_code") == 6
    second = os.stat(path)
    assert second.st_ino != first.st_ino  # a new file renamed over the old, never rewritten in place
    assert stat.S_IMODE(second.st_mode) == 0o644
    parsed = parse(path.read_text("utf-8"))
    assert one(parsed, "last_exit_code") == 0 and one(parsed, "items", slug="post") == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["igny8.prom"]


def test_the_mode_is_0644_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write(tmp_path / "igny8.prom", sample_run())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "igny8.prom").st_mode) == 0o644


def test_a_reader_never_sees_half_a_file_while_it_is_replaced(tmp_path):
    path = tmp_path / "igny8.prom"
    small = sample_run(items={"post_types": {"post": 1}})
    big = sample_run(items={"taxonomies": {f"tag-{i}": i for i in range(3000)}})
    write(path, small)
    done = threading.Event()
    seen = []

    def writer():
        try:
            for i in range(60):
                write(path, big if i % 2 else small)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        text = path.read_text("utf-8")
        parsed = parse(text)  # a cut file would end mid-line or lose its last families
        assert "igny8_agent_site_info" in parsed, text[-200:]
        seen.append(len(parsed["igny8_agent_items"]))
    thread.join()
    assert set(seen) <= {1, 3000} and seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["igny8.prom"]


def test_a_symlink_planted_at_the_target_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "igny8.prom"
    path.symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"):
        write(path, sample_run())
    assert path.is_symlink() and victim.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["igny8.prom", "victim"]


def test_another_sites_file_is_never_replaced(tmp_path):
    path = tmp_path / "igny8.prom"
    write(path, sample_run(site="shop-a"))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="holds the metrics of site shop-a.*own file"):
        write(path, sample_run(site="shop-b"))
    assert path.read_bytes() == before
    write(path, sample_run(site="shop-a", exit_code=5))  # its own site replaces it
    assert one(parse(path.read_text()), "last_exit_code", site="shop-a") == 5


def test_a_file_the_agent_did_not_write_is_never_replaced(tmp_path):
    path = tmp_path / "node.prom"
    path.write_text("# HELP node_thing x\n# TYPE node_thing gauge\nnode_thing 1\n")
    with pytest.raises(ConfigError, match="did not write it"):
        write(path, sample_run())
    assert "node_thing 1" in path.read_text()
    empty = tmp_path / "empty.prom"
    empty.touch()  # made ready by an operator: fine
    write(empty, sample_run())
    assert one(parse(empty.read_text()), "last_exit_code") == 0


def test_temp_files_left_by_a_killed_writer_are_removed(tmp_path):
    leftover = tmp_path / ".igny8.prom.999999999-abcd.tmp"  # no such pid
    leftover.write_text("igny8_agent_last_exit_code{site=")
    write(tmp_path / "igny8.prom", sample_run())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["igny8.prom"]


# -- real syncs --------------------------------------------------------------------------------


def site_name(site) -> str:
    return next(site.state_dir.glob("*.state.json")).name[: -len(".state.json")]


def read_metrics(path: Path):
    return parse(path.read_text("utf-8"))


def check_against_state(site, backend, parsed, exit_code: int, started: float, ended: float) -> None:
    """Every series of the file, against the state the run left and what the backend holds."""
    state = site.state()
    name = site_name(site)
    assert sorted(parsed) == sorted("igny8_agent_" + n for n in NAMES)
    assert {dict(k)["site"] for series in parsed.values() for k in series} == {name}
    assert one(parsed, "last_exit_code") == exit_code
    assert one(parsed, "last_success_timestamp_seconds") == parse_time(state["last_success"]).timestamp()
    attempt = one(parsed, "last_attempt_timestamp_seconds")
    assert started - 0.01 <= attempt <= ended + 0.01
    assert 0 < one(parsed, "last_run_duration_seconds") <= ended - started
    assert one(parsed, "sync_enabled") == 1
    items = {(dict(k)["kind"], dict(k)["slug"]): v for k, v in parsed["igny8_agent_items"].items()}
    assert items == {(kind, slug): n for kind, counts in state["last_counts"].items() for slug, n in counts.items()}
    held = backend.get_integration(state["integration_id"])["config_json"]["content_types"]
    assert items == {(kind, slug): held[kind][slug]["count"] for kind in ("post_types", "taxonomies")
                     for slug in held[kind]}
    assert items[("post_types", "post")] == 5  # the 4 of the fixture and wp_install's first
    info = dict(next(iter(parsed["igny8_agent_site_info"])))
    assert info["url"] == state["site_url"] and info["site_id"] == str(backend.site_id) == str(state["site_id"])


def timed(run, *args, **kwargs):
    started = time.time()
    result = run(*args, **kwargs)
    return result, started, time.time()


def test_sync_writes_the_configured_file_with_every_metric_of_the_run(site, backend, tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    assert site.connect().returncode == 0
    configured = site.run("config", "metrics", "--file", str(textfile / "igny8-{site}.prom"))
    assert configured.returncode == 0, configured.stderr
    path = textfile / f"igny8-{site_name(site)}.prom"
    assert str(path) in configured.stdout
    assert json.loads(site.run("config", "show", "--json").stdout)["metrics"] == {
        "file": str(textfile / "igny8-{site}.prom")}
    result, started, ended = timed(site.run, "sync")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    check_against_state(site, backend, read_metrics(path), 0, started, ended)
    assert sorted(p.name for p in textfile.iterdir()) == [path.name]

    site.db.add_posts("page", "publish", 3)  # the next run's counts, in a new file
    inode = os.stat(path).st_ino
    result, started, ended = timed(site.run, "sync", "--quiet")
    assert result.returncode == 0 and result.stdout == result.stderr == ""
    assert os.stat(path).st_ino != inode
    parsed = read_metrics(path)
    check_against_state(site, backend, parsed, 0, started, ended)
    assert one(parsed, "items", kind="post_types", slug="page") == 4


def test_metrics_file_option_overrides_the_config_for_one_run(site, backend, tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    assert site.connect().returncode == 0
    assert site.run("config", "metrics", "--file", str(textfile / "configured.prom")).returncode == 0
    assert site.run("sync").returncode == 0
    configured = textfile / "configured.prom"
    before = (os.stat(configured).st_ino, configured.read_bytes())
    other = textfile / "other.prom"
    result, started, ended = timed(site.run, "sync", "--metrics-file", str(other))
    assert result.returncode == 0, result.stderr
    check_against_state(site, backend, read_metrics(other), 0, started, ended)
    assert (os.stat(configured).st_ino, configured.read_bytes()) == before
    other_before = other.read_bytes()
    assert site.run("sync", "--metrics-file", "").returncode == 0  # none this run
    assert other.read_bytes() == other_before and (os.stat(configured).st_ino, configured.read_bytes()) == before


def test_without_a_metrics_file_nothing_is_written(site, backend, tmp_path):
    assert site.connect().returncode == 0
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    assert site.run("config", "metrics", "--file", str(textfile / "igny8.prom")).returncode == 0
    off = site.run("config", "metrics", "--file", "")
    assert off.returncode == 0 and "off" in off.stdout
    assert site.run("sync").returncode == 0
    assert list(textfile.iterdir()) == []


@pytest.mark.parametrize("failure, code", [("key refused", 5), ("backend down", 6)])
def test_a_failed_sync_records_its_attempt_and_exit_code_and_keeps_the_last_success(site, backend, tmp_path,
                                                                                     failure, code):
    path = tmp_path / "igny8.prom"
    assert site.connect().returncode == 0
    assert site.run("config", "backend", "--retry-budget", "0", "--timeout", "2").returncode == 0
    first, started, ended = timed(site.run, "sync", "--metrics-file", str(path))
    assert first.returncode == 0, first.stderr
    good = read_metrics(path)
    check_against_state(site, backend, good, 0, started, ended)
    state = site.state()
    if failure == "key refused":
        backend.revoke_key(API_KEY)
    else:
        backend.stop()
    site.db.add_posts("post", "publish", 2)  # not pushed: the items stay what IGNY8 holds
    failed, started, ended = timed(site.run, "sync", "--metrics-file", str(path))
    assert failed.returncode == code, failed.stderr
    assert "metrics" not in failed.stderr
    bad = read_metrics(path)
    assert one(bad, "last_exit_code") == code
    assert started - 0.01 <= one(bad, "last_attempt_timestamp_seconds") <= ended + 0.01
    assert one(bad, "last_attempt_timestamp_seconds") > one(good, "last_attempt_timestamp_seconds")
    assert 0 < one(bad, "last_run_duration_seconds") <= ended - started
    assert site.state()["last_success"] == state["last_success"] and site.state()["last_error"]
    assert one(bad, "last_success_timestamp_seconds") == one(good, "last_success_timestamp_seconds") \
        == parse_time(state["last_success"]).timestamp()
    assert bad["igny8_agent_items"] == good["igny8_agent_items"]


def test_a_sync_stopped_by_sigterm_records_exit_code_130(site, backend, agent_env, tmp_path):
    path = tmp_path / "igny8.prom"
    assert site.connect().returncode == 0
    pushed = len(backend.requests_to("update-structure"))
    backend.inject("delay", count=None, path_contains="update-structure", seconds=10)
    env = dict(os.environ, **agent_env, IGNY8_KEYRING="file", IGNY8_API_URL=backend.base_url)
    proc = subprocess.Popen([sys.executable, "-m", "igny8_agent", "sync", "--path", str(site.path),
                             "--metrics-file", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(backend.requests_to("update-structure")) == pushed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    backend.clear_faults()
    assert proc.returncode == 130, err
    parsed = read_metrics(path)
    assert one(parsed, "last_exit_code") == 130
    assert one(parsed, "last_success_timestamp_seconds") == parse_time(site.state()["last_success"]).timestamp()


def test_a_metrics_file_that_cannot_be_written_is_one_warning_and_the_sync_still_succeeds(site, backend, tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    assert site.connect().returncode == 0
    assert site.run("config", "metrics", "--file", str(textfile / "igny8.prom")).returncode == 0
    textfile.rmdir()
    pushed = len(backend.requests)
    result = site.run("sync", "--quiet")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"igny8-agent: warning: metrics not written: the directory of the metrics file {textfile / 'igny8.prom'} "
        "does not exist: create it, or use the directory node_exporter's --collector.textfile.directory names"]
    assert len(backend.requests) > pushed and site.state()["last_error"] == {}


def test_a_symlink_planted_at_the_metrics_file_is_refused_by_a_real_sync(site, backend, tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    assert site.connect().returncode == 0
    (textfile / "igny8.prom").symlink_to(victim)
    result = site.run("sync", "--metrics-file", str(textfile / "igny8.prom"))
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("igny8-agent: warning: metrics not written: ")
    assert "symbolic link" in lines[0]
    assert victim.read_text() == "precious\n" and (textfile / "igny8.prom").is_symlink()


# -- the commands' checks ------------------------------------------------------------------------


def test_config_metrics_checks_the_path_before_saving_it(site, tmp_path):
    for bad in ("relative.prom", str(tmp_path / "igny8.txt")):
        result = site.run("config", "metrics", "--file", bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    missing = site.run("config", "metrics", "--file", str(tmp_path / "missing" / "igny8.prom"))
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    refused = site.run("config", "metrics", "--file", str(open_dir / "igny8.prom"))
    assert refused.returncode == 3 and "chmod go-w" in refused.stderr
    assert site.run("config", "metrics").returncode == 2
    shown = json.loads(site.run("config", "show", "--json").stdout)
    assert shown["metrics"] == {"file": ""}


def test_config_metrics_refuses_a_file_another_site_writes(site, tmp_path):
    path = tmp_path / "shared.prom"
    write(path, sample_run(site="another-site"))
    result = site.run("config", "metrics", "--file", str(path))
    assert result.returncode == 3 and "another-site" in result.stderr and "{site}" in result.stderr


def test_a_bad_metrics_file_in_the_config_file_is_a_config_error(site, tmp_path):
    assert site.run("config", "sync", "--enable").returncode == 0  # writes the config file
    config = next((tmp_path / "etc" / "sites").glob("*.toml"))
    text = config.read_text()
    assert '\n[metrics]\n' in text and '\nfile = ""\n' in text  # the template has the setting
    config.write_text(text.replace('\nfile = ""\n', '\nfile = "textfile/igny8.prom"\n'))
    result = site.run("sync")
    assert result.returncode == 3
    assert "metrics.file must be an absolute path" in result.stderr


def test_sync_metrics_file_option_is_checked_before_the_run(site, backend):
    assert site.connect().returncode == 0
    before = len(backend.requests)
    for args in (("--metrics-file", "relative.prom"), ("--metrics-file", "/tmp/igny8.txt"),
                 ("--dry-run", "--metrics-file", "/tmp/igny8.prom")):
        result = site.run("sync", *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr)
    assert len(backend.requests) == before
