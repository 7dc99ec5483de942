"""Bad input, generated: the agent's parsers, its HTTP client and its SQL.

For each input the property is the same: the code under test returns a value
or raises the project's own error (``Igny8Error``) with a one-line message,
never another exception; it finishes quickly (a wall-time limit per example,
an alarm against real hangs, and hypothesis's deadline); and it uses memory
in proportion to the input (``tracemalloc`` peak below a constant plus a few
hundred bytes per input byte). test_wpconfig.py / test_phpserialize.py /
test_client.py already fuzz small inputs; here the inputs are the nasty ones:
byte soup mixed with real PHP, unterminated literals, thousands of nesting
levels, declared lengths far beyond the data, values that grow exponentially,
compressed bodies that inflate far beyond the size cap, lying headers.

Last part: a malicious table prefix or ``--url`` never reaches SQL except as a
validated, backtick-quoted identifier (prefix) or not at all (URL), checked
on recorded SQL and against a real database whose tables must survive.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import resource
import signal
import time
import tracemalloc
import zlib
from datetime import timedelta
from typing import Any, Callable, List, Optional, Sequence, Tuple

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import admin_connect, run_agent, write_wp_config
from fuzz_inputs import (
    BASE_URL, CAP, ENVIRON, KEY, LENGTH_TEMPLATES, NESTED_OPENERS, PATH, UNTERMINATED, VALID_CONFIG, FakeTime,
    _answer, call_endpoint, client_inputs, declared_length, growing_configs, huge_lengths, huge_numbers,
    nested_configs, php_soup, repeated, ser_soup, text_with_surrogates,
)
from igny8_agent.client import BackendClient
from igny8_agent.database import quote_identifier
from igny8_agent.errors import ConfigError, Igny8Error, ParseError
from igny8_agent.phpserialize import maybe_unserialize, unserialize
from igny8_agent.wordpress import read_site, validate_table_prefix
from igny8_agent.wpconfig import WPConfig, parse_wp_config


# Per example: the CPU time of one call (CPU, not wall time: other processes
# on a busy machine must not make it fail; the slowest inputs here take about
# 0.5 s), and a wall-clock alarm that turns a real hang (a loop that never
# returns, a blocking read) into a failure instead of a stuck test run.
CPU_LIMIT = 1.0
HANG_ALARM = 10

FUZZ = dict(
    deadline=timedelta(seconds=10),  # both runs of an example (untraced and traced) together
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,  # the same examples in every run; no state under .hypothesis
    derandomize=True,
)


class Hang(Exception):
    """Raised by the alarm; deliberately not an Igny8Error."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"no answer within {HANG_ALARM} s")


def _address_space() -> Optional[int]:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


_AT_IMPORT = _address_space()


def _limit_address_space(extra: int = 2 << 30) -> Optional[Tuple[int, int]]:
    """Cap this process's address space while a call runs (its current size +
    ``extra``, never above its size at import + 2 x ``extra``): a regression
    that allocates without bound then fails the test with MemoryError instead
    of driving the whole machine out of memory."""
    size = _address_space()
    if size is None or _AT_IMPORT is None:
        return None
    old = resource.getrlimit(resource.RLIMIT_AS)
    soft = min(size + extra, _AT_IMPORT + 2 * extra)
    if old[1] != resource.RLIM_INFINITY:
        soft = min(soft, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (soft, old[1]))
    return old


def outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    """("ok", value) or ("error", Igny8Error); anything else fails the test."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_ALARM)
    old_limit = _limit_address_space()
    foreign = ""
    try:
        return "ok", call()
    except Igny8Error as exc:
        message = str(exc)
        assert message and "\n" not in message, f"not a one-line message: {message!r}"
        return "error", exc
    except Exception as exc:  # the property: nothing but the project's errors
        foreign = f"foreign exception {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if old_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, old_limit)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Outside the except block: the failure does not keep the call's frames (and
    # whatever huge values they hold) alive through __context__.
    pytest.fail(foreign)


def bounded(call: Callable[[], Any], size: int, *, base: int, per_byte: int) -> Tuple[str, Any]:
    """Run ``call`` twice: once timed, once under tracemalloc (which slows
    Python code several times, so it must not be the timed run). Asserts the
    time limit and ``peak < base + per_byte * size``."""
    started = time.process_time()
    result = outcome(call)
    elapsed = time.process_time() - started
    assert elapsed < CPU_LIMIT, f"{elapsed:.2f} s of CPU for {size} bytes of input"
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        outcome(call)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    limit = base + per_byte * size
    assert peak < limit, f"peak {peak} bytes for {size} bytes of input (limit {limit})"
    return result


# ==========================================================================
# wp-config.php
#
# Memory: the lexer keeps one token per character at worst (~130 bytes each)
# and the evaluator copies token slices for each nested call / parenthesis,
# at most 64 levels deep (8 bytes per token per level): about 650 bytes per
# input character at worst. Concatenation may build at most 1 Mi characters
# per file (wpconfig._MAX_BUILT): up to 4 MiB as Python str, plus the parts.

WP_BASE = 8 * 1024 * 1024 + 256 * 1024
WP_PER_BYTE = 1024


def check_wp_config(text: str) -> None:
    kind, value = bounded(lambda: parse_wp_config(text, PATH, environ=ENVIRON),
                          len(text), base=WP_BASE, per_byte=WP_PER_BYTE)
    if kind == "ok":
        assert isinstance(value, WPConfig)
        assert all(isinstance(name, str) for name in value.constants)
        assert value.table_prefix is None or isinstance(value.table_prefix, str)
        assert all(len(shown) <= 80 for shown in value.unresolved.values())
    else:
        assert isinstance(value, ConfigError)


@settings(max_examples=400, **FUZZ)
@given(st.binary(max_size=4000) | repeated)
def test_wp_config_byte_soup(data: bytes) -> None:
    # As read_wp_config() decodes the file.
    check_wp_config(data.decode("utf-8", errors="replace"))
    check_wp_config("<?php " + data.decode("latin-1"))


@settings(max_examples=500, **FUZZ)
@given(php_soup | st.tuples(php_soup, st.integers(1, 30)).map(lambda t: t[0] * t[1]))
def test_wp_config_real_php_tokens_mixed(text: str) -> None:
    check_wp_config(text)
    check_wp_config("<?php " + text)


@settings(max_examples=150, **FUZZ)
@given(st.sampled_from(UNTERMINATED), st.integers(0, len(VALID_CONFIG)), php_soup)
def test_wp_config_unterminated_literals_and_comments(opener: str, at: int, tail: str) -> None:
    check_wp_config(VALID_CONFIG[:at] + opener + tail)


@settings(max_examples=40, **FUZZ)
@given(nested_configs())
def test_wp_config_thousands_of_nesting_levels(text: str) -> None:
    check_wp_config(text)


@settings(max_examples=40, **FUZZ)
@given(growing_configs())
def test_wp_config_values_that_grow_exponentially_stay_bounded(text: str) -> None:
    # define('A1', A0.A0); define('A2', A1.A1); ... doubles per line: without
    # a budget 40 lines of PHP would build a terabyte string.
    check_wp_config(text)


@settings(max_examples=60, **FUZZ)
@given(huge_numbers())
def test_wp_config_huge_number_literals(text: str) -> None:
    check_wp_config(text)


# ==========================================================================
# PHP unserialize
#
# Memory: every value read costs at most a few hundred bytes and takes at
# least 2 bytes of input (N; / a:0:{} / s:0:""), strings are decoded once.

PHP_BASE = 256 * 1024
PHP_PER_BYTE = 128


def check_unserialize(data: Any, size: int, max_depth: int = 64) -> None:
    kind, value = bounded(lambda: unserialize(data, max_depth=max_depth), size, base=PHP_BASE, per_byte=PHP_PER_BYTE)
    if kind == "error":
        assert isinstance(value, ParseError)
    kind, value = bounded(lambda: maybe_unserialize(data), size, base=PHP_BASE, per_byte=PHP_PER_BYTE)
    if kind == "error":
        assert isinstance(value, ParseError)


@settings(max_examples=400, **FUZZ)
@given(st.binary(max_size=4000) | st.tuples(st.binary(max_size=300), st.integers(1, 60)).map(lambda t: t[0] * t[1]))
def test_unserialize_byte_soup(data: bytes) -> None:
    check_unserialize(data, len(data))


@settings(max_examples=500, **FUZZ)
@given(ser_soup | st.tuples(ser_soup, st.integers(1, 30)).map(lambda t: t[0] * t[1]))
def test_unserialize_token_soup(data: bytes) -> None:
    check_unserialize(data, len(data))


@settings(max_examples=120, **FUZZ)
@given(text_with_surrogates)
def test_unserialize_text_including_lone_surrogates(text: str) -> None:
    # Values come from the database as str too; str is encoded (up to 4 bytes a character).
    check_unserialize(text, 4 * len(text) + 1)


@settings(max_examples=60, **FUZZ)
@given(st.sampled_from(NESTED_OPENERS), st.integers(1000, 20_000), st.booleans(), st.sampled_from([64, 100_000]))
def test_unserialize_thousands_of_nesting_levels(opener: bytes, levels: int, closed: bool, max_depth: int) -> None:
    data = opener * levels + b"N;" + (b"}" * levels if closed else b"")
    check_unserialize(data, len(data), max_depth=max_depth)


@settings(max_examples=100, **FUZZ)
@given(st.builds(declared_length, st.sampled_from(LENGTH_TEMPLATES), huge_lengths, st.binary(max_size=64)))
def test_unserialize_huge_declared_lengths(data: bytes) -> None:
    check_unserialize(data, len(data))


# ==========================================================================
# Backend responses through the client
#
# The client is built outside the measured window (httpx's own set-up is not
# the client's reading); a response is at most CAP bytes once decoded, so the
# bound is a constant plus a multiple of CAP and of the raw bodies.

CLIENT_BASE = 2 * 1024 * 1024
CLIENT_PER_BYTE = 64


@settings(max_examples=1000, **FUZZ)
@given(client_inputs())
def test_any_backend_response_gives_a_result_or_an_igny8_error(case: Tuple[str, List[dict]]) -> None:
    endpoint, specs = case
    size = CAP + sum(len(spec["body"]) for spec in specs)
    # A fresh client (and fake clock) for each of the two runs bounded() makes.
    runs = iter([call_endpoint(endpoint, specs), call_endpoint(endpoint, specs)])
    kind, value = bounded(lambda: next(runs)(), size, base=CLIENT_BASE, per_byte=CLIENT_PER_BYTE)
    if kind == "ok":
        assert isinstance(value, (dict, list))
        # Whatever the client hands on can be printed as JSON (status --json).
        json.dumps(value, allow_nan=False)
    else:
        message = str(value)
        assert KEY not in message and len(message) <= 300


def test_a_gzip_bomb_is_inflated_only_up_to_the_cap() -> None:
    # 64 MiB of spaces compress to 64 KiB; httpx's own decoder would inflate
    # a whole chunk at once. The client inflates at most the cap (5 MiB).
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    spec = {"status": 200, "body": bomb, "headers": [(b"Content-Encoding", b"gzip")], "chunk": len(bomb),
            "preread": False}
    router = respx.Router(assert_all_called=False)
    router.route().mock(side_effect=lambda request: _answer(spec))
    fake = FakeTime()
    with BackendClient(BASE_URL, KEY, sleep=fake.sleep, clock=fake.clock,
                       transport=httpx.MockTransport(router.handler)) as client:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            with pytest.raises(Igny8Error, match="larger than 5 MiB"):
                client.me()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_compressed_answers_within_the_cap_are_read() -> None:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = packer.compress(b'{"id": 3}') + packer.flush()
    for encoding, body, expected in [
        (b"gzip", gzip.compress(b'{"id": 1}'), 1),
        (b"deflate", zlib.compress(b'{"id": 2}'), 2),
        (b"deflate", raw_deflate, 3),
        (b"identity", b'{"id": 4}', 4),
    ]:
        spec = {"status": 200, "body": body, "headers": [(b"Content-Encoding", encoding)], "chunk": 3, "preread": False}
        router = respx.Router(assert_all_called=False)
        router.route().mock(side_effect=lambda request, spec=spec: _answer(spec))
        with BackendClient(BASE_URL, KEY, transport=httpx.MockTransport(router.handler)) as client:
            assert client.me() == {"id": expected}
            request = router.calls.last.request
            assert request.headers["Accept-Encoding"] == "gzip, deflate"


# ==========================================================================
# SQL: a malicious table prefix or --url

INJECTION = [
    "`", "``", "'", '"', ";", "--", "-- ", "#", "/*", "*/", "/*!", "\x00", "\\", "\n", "\r", " ", "%s", "%", "%%", "?",
    " OR 1=1", "DROP TABLE wp_users", "UNION SELECT", "wp_", "x", "1", "_", "é", "ｗｐ", "\u202e", "\U0001F600",
    "\u0130", "\u212a", "\ufeff", "ß", "\x7f", "$", "{", "}", "(", ")", ".",
]
injection_text = st.lists(st.sampled_from(INJECTION) | st.text(max_size=4), max_size=10).map("".join)
SAFE_IDENTIFIER = re.compile(r"\A[A-Za-z0-9_]+\Z")


@settings(max_examples=800, **FUZZ)
@given(injection_text)
def test_a_table_prefix_is_refused_or_safe_as_an_identifier(prefix: str) -> None:
    try:
        checked = validate_table_prefix(prefix)
    except ConfigError as exc:
        assert "table prefix" in str(exc)
    else:
        assert checked == prefix and re.fullmatch(r"[A-Za-z0-9_]*", prefix, re.ASCII)
    for name in (prefix, prefix + "options"):
        try:
            quoted = quote_identifier(name)
        except ConfigError as exc:
            assert "unsafe SQL identifier" in str(exc)
        else:
            assert quoted == f"`{name}`" and SAFE_IDENTIFIER.match(name)


class RecordingSession:
    """Stands in for ReadOnlySession: records every statement and answers
    like a small multisite or single-site WordPress."""

    def __init__(self, multisite: bool) -> None:
        self.multisite = multisite
        self.statements: List[Tuple[str, tuple]] = []

    def existing_tables(self, names: Sequence[str]) -> set:
        self.statements.append(("<existing_tables>", tuple(names)))
        return {n for n in names if self.multisite}

    def query(self, sql: str, args: Sequence[Any] = ()) -> list:
        self.statements.append((sql, tuple(args)))
        if "FROM `wp_blogs`" in sql:
            return [(1, b"example.com", b"/", 0, 0, 0), (2, b"example.com", b"/shop/", 0, 0, 0)]
        if "option_name IN" in sql:
            return [(b"home", b"https://example.com"), (b"siteurl", b"https://example.com")]
        if "GROUP BY post_type" in sql:
            return [(b"post", 3)]
        return []


def _shape(sql: str) -> str:
    """A statement with its quoted identifiers replaced: what is left is fixed text."""
    return re.sub(r"`[A-Za-z0-9_]+`", "`T`", sql)


def _known_shapes() -> set:
    shapes = set()
    for multisite, url in ((False, None), (False, "https://example.com"), (True, None), (True, "https://example.com/shop/")):
        session = RecordingSession(multisite)
        read_site(session, "wp_", multisite=multisite, url=url)  # type: ignore[arg-type]
        shapes |= {_shape(sql) for sql, _ in session.statements}
    return shapes


KNOWN_SHAPES = _known_shapes()


@settings(max_examples=500, **FUZZ)
@given(prefix=st.sampled_from(["wp_", "wp_`; DROP TABLE wp_users; -- ", ""]) | injection_text,
       url=st.none() | st.sampled_from(["https://x.test/' OR 1=1 -- ", "https://example.com/shop/'; DROP TABLE wp_blogs; --"])
       | injection_text.map(lambda s: "https://example.com/" + s) | injection_text,
       multisite=st.booleans())
def test_prefix_and_url_reach_sql_only_as_quoted_identifier_or_not_at_all(prefix: str, url: Optional[str],
                                                                          multisite: bool) -> None:
    session = RecordingSession(multisite)
    try:
        read_site(session, prefix, multisite=multisite, url=url)  # type: ignore[arg-type]
    except ConfigError:
        pass
    for sql, args in session.statements:
        if sql == "<existing_tables>":
            assert all(SAFE_IDENTIFIER.match(name) for name in args)
            continue
        assert _shape(sql) in KNOWN_SHAPES, sql  # nothing but validated identifiers varies
        assert url is None or url not in args
        if url and "://" in url:
            assert url not in sql
    if not re.fullmatch(r"[A-Za-z0-9_]*", prefix, re.ASCII):
        assert session.statements == [], "an invalid prefix must be refused before any SQL"


def _tables_and_rows(name: str) -> dict:
    with admin_connect(name) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = sorted(row[0] for row in cur.fetchall())
        counts = {}
        for table in tables:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            counts[table] = cur.fetchone()[0]
    return counts


EVIL_PREFIX = "wp_`; DROP TABLE wp_users; -- "
EVIL_URL = "https://x.test/' OR 1=1 -- "


@pytest.mark.parametrize("multisite", [False, True], ids=["single-site", "multisite"])
def test_injection_through_prefix_or_url_leaves_every_table_intact(make_wpdb, tmp_path, agent_env, multisite) -> None:
    db = make_wpdb(multisite=multisite)
    db.install("https://example.com")
    db.execute("INSERT INTO wp_users (user_login, user_pass, user_nicename, user_email, user_url, user_registered,"
               " user_activation_key, user_status, display_name) VALUES ('admin', 'x', 'admin', 'a@b.c', '', NOW(), '', 0, 'a')")
    if multisite:
        db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
                   " VALUES (1, 1, 'example.com', '/', NOW(), NOW())")
    before = _tables_and_rows(db.name)
    assert before["wp_users"] == 1

    # The prefix in wp-config.php itself (a PHP single-quoted string may hold a backtick).
    evil_root = write_wp_config(tmp_path / "evil", db.name, prefix=EVIL_PREFIX)
    good_root = write_wp_config(tmp_path / "good", db.name)
    runs = [
        ("structure", "--format", "json", "--path", str(evil_root)),
        ("sync", "--dry-run", "--path", str(evil_root)),
        ("structure", "--format", "json", "--path", str(good_root), "--table-prefix", EVIL_PREFIX),
        ("structure", "--format", "json", "--path", str(good_root), "--url", EVIL_URL),
        ("sync", "--dry-run", "--path", str(good_root), "--url", EVIL_URL),
    ]
    for args in runs:
        result = run_agent(*args, env=agent_env, timeout=60)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1 and "Traceback" not in message
        # an error line, or (sync without a terminal) the cron log line
        assert message.startswith("igny8-agent: error:") or "sync failed (exit 3)" in message
        assert ("table prefix" in message and "invalid" in message) if "--url" not in args else "--url" in message
    via_env = run_agent("structure", "--format", "json", "--path", str(good_root),
                        env=dict(agent_env, IGNY8_TABLE_PREFIX=EVIL_PREFIX), timeout=60)
    assert via_env.returncode == 3 and "table prefix" in via_env.stderr

    assert _tables_and_rows(db.name) == before
    # and the honest read still works
    ok = run_agent("structure", "--format", "json", "--path", str(good_root), env=agent_env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["post_types"]["post"]["count"] == 1
