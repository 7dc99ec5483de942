"""Odd but real content in a real MariaDB WordPress database.

Emoji and broken bytes in plugin labels, slugs at the column limits, a
200-character term name, ten thousand taxonomies, counts beyond 2^31: the
agent must print valid JSON (UTF-8, no NaN, every ``count`` a JSON integer),
exit 0 and stay fast and small.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import httpx
import respx

from conftest import API_KEY, HOME, write_wp_config
from igny8_agent import cli
from igny8_agent.client import BackendClient
from igny8_agent.settings import Listing, Settings
from igny8_agent.structure import build_payload, build_structure
from igny8_agent.wordpress import read_site

TESTS = Path(__file__).resolve().parent

CPTUI_PLUGIN = "custom-post-type-ui/custom-post-type-ui.php"
ACF_PLUGIN = "advanced-custom-fields-pro/acf.php"


def php_bytes(value: object) -> bytes:
    """PHP's serialize() of bytes / str / int / bool / dict: lengths count bytes."""
    if isinstance(value, bool):
        return b"b:%d;" % int(value)
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        return b's:%d:"%s";' % (len(value), value)
    if isinstance(value, dict):
        body = b"".join(php_bytes(k) + php_bytes(v) for k, v in value.items())
        return b"a:%d:{%s}" % (len(value), body)
    raise TypeError(type(value))


def agent(*args: str, env: Dict[str, str], measure: bool = False, timeout: float = 120) -> Tuple[int, bytes, str, Dict[str, int]]:
    """The agent as a process; stdout as bytes (checked as UTF-8 by the caller).
    With ``measure``, the process reports its own peak RSS (VmHWM) on exit."""
    code = "from igny8_agent.__main__ import main; main()"
    if measure:
        code = (
            "import atexit, sys\n"
            "def _report():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            sys.stderr.write('IGNY8-TEST-' + line)\n"
            "atexit.register(_report)\n" + code
        )
    import os

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          env=dict(os.environ, **env), timeout=timeout)
    figures = {"ms": int((time.perf_counter() - started) * 1000)}
    stderr = done.stderr.decode("utf-8", "replace")
    for line in stderr.splitlines():
        if line.startswith("IGNY8-TEST-VmHWM:"):
            figures["peak_kb"] = int(line.split()[1])
    stderr = "\n".join(line for line in stderr.splitlines() if not line.startswith("IGNY8-TEST-"))
    return done.returncode, done.stdout, stderr, figures


def valid_json(raw: bytes) -> Any:
    """Strict UTF-8 (no lone surrogates, no replacement of our own) and strict JSON."""
    text = raw.decode("utf-8")  # raises on invalid UTF-8

    def no_constants(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constants)


def assert_counts_are_json_integers(content_types: dict) -> None:
    for kind in ("post_types", "taxonomies"):
        for slug, entry in content_types[kind].items():
            assert type(entry["count"]) is int and entry["count"] >= 0, (kind, slug, entry)
            assert type(entry["fetch_limit"]) is int and type(entry["enabled"]) is bool


def structure_json(root: Path, env: Dict[str, str], *extra: str) -> Tuple[dict, str, Dict[str, int]]:
    code, out, err, figures = agent("structure", "--format", "json", "--path", str(root), *extra, env=env, measure=True)
    assert code == 0, err
    data = valid_json(out)
    assert_counts_are_json_integers(data)
    return data, err, figures


# -- labels: emoji and broken bytes ---------------------------------------------------------

EMOJI_LABEL = "Recettes 🍲 & Cafés"
# UTF-8 whose bytes include 0x81 / 0x8D / 0x90 (Á, 🐍, Ð): bytes the cp1252 codec cannot decode.
TRICKY_UTF8_LABEL = "ÁRBOLES 🐍 Ðe"
BROKEN_LABEL = b"Caf\xe9 \xff\xfe bytes \xc3"  # latin1 é, two bytes never in UTF-8, a cut sequence


def _plugin_definitions(db) -> None:
    """CPT UI options and ACF posts as the plugins store them, sent as raw bytes."""
    db.execute(
        "REPLACE INTO wp_options (option_name, option_value, autoload) VALUES ('active_plugins', %s, 'yes')",
        (php_bytes({0: CPTUI_PLUGIN, 1: ACF_PLUGIN}),),
    )
    cptui = php_bytes({
        "recipe": {"name": "recipe", "label": EMOJI_LABEL, "public": "true", "labels": {"name": EMOJI_LABEL}},
        "tree": {"name": "tree", "label": TRICKY_UTF8_LABEL, "public": "true"},
        "broken": {"name": "broken", "label": BROKEN_LABEL, "public": "true"},
    })
    db.execute("REPLACE INTO wp_options (option_name, option_value, autoload) VALUES ('cptui_post_types', %s, 'yes')",
               (cptui,))
    db.execute("REPLACE INTO wp_options (option_name, option_value, autoload) VALUES ('cptui_taxonomies', %s, 'yes')",
               (php_bytes({"flavour": {"name": "flavour", "label": b"Go\xfbts \xf0\x9f\x8d\x8b", "public": "true"}}),))
    db.add_posts("acf-post-type", "publish", content="")
    db.execute("UPDATE wp_posts SET post_content = %s WHERE post_type = 'acf-post-type'",
               (php_bytes({"post_type": "event", "labels": {"name": b"\xc3\x89v\xe9nements \xe2\x9c\xa8"}, "public": True}),))
    db.add_posts("recipe", "publish", 3)
    db.add_posts("broken", "publish", 1)


def test_utf8_site_labels_with_emoji_come_out_unchanged(wpdb, tmp_path, agent_env):
    # A utf8mb4 site: invalid bytes cannot even be stored (strict mode refuses
    # them), so only real characters are here, including 4-byte emoji.
    wpdb.set_option("active_plugins", [CPTUI_PLUGIN])
    wpdb.set_option("cptui_post_types", 'a:1:{s:6:"recipe";a:3:{s:4:"name";s:6:"recipe";s:5:"label";s:%d:"%s";'
                    's:6:"public";s:4:"true";}}' % (len(EMOJI_LABEL.encode()), EMOJI_LABEL))
    wpdb.add_posts("recipe", "publish", 2)
    wpdb.add_term("category", "Ünïcödé 🌍 term")
    root = write_wp_config(tmp_path / "wp", wpdb.name)
    data, err, _ = structure_json(root, agent_env)
    assert data["post_types"]["recipe"] == {"label": EMOJI_LABEL, "count": 2, "enabled": False, "fetch_limit": 100}
    assert "warning" not in err


def _legacy_latin1_site(make_wpdb):
    """An old site: latin1 tables that hold UTF-8 (and worse) as raw bytes,
    written through a binary-safe path (bytes parameters: _binary'...')."""
    db = make_wpdb()
    for table in ("options", "posts", "terms", "term_taxonomy"):
        db.execute(f"ALTER TABLE wp_{table} CONVERT TO CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    db.install(HOME)
    _plugin_definitions(db)
    raw = db.query("SELECT CAST(option_value AS BINARY) FROM wp_options WHERE option_name = 'cptui_post_types'")[0][0]
    assert BROKEN_LABEL in raw and TRICKY_UTF8_LABEL.encode() in raw  # the bytes really are in the table
    return db


def test_legacy_latin1_site_read_as_wordpress_reads_it(make_wpdb, tmp_path, agent_env):
    # DB_CHARSET latin1: WordPress gets the stored bytes back unchanged, so its
    # unserialize() works and the UTF-8 labels show correctly. The agent must
    # read them the same way (pymysql's own cp1252 decoding fails on 0x81,
    # 0x8D, 0x8F, 0x90, 0x9D), and show broken bytes as U+FFFD.
    db = _legacy_latin1_site(make_wpdb)
    root = write_wp_config(tmp_path / "wp", db.name)
    config = root / "wp-config.php"
    config.write_text(config.read_text().replace("'DB_CHARSET', 'utf8mb4'", "'DB_CHARSET', 'latin1'"))
    data, err, _ = structure_json(root, agent_env)
    types = data["post_types"]
    assert types["recipe"]["label"] == EMOJI_LABEL and types["recipe"]["count"] == 3
    assert types["tree"]["label"] == TRICKY_UTF8_LABEL and types["tree"]["count"] == 0
    assert types["broken"]["label"] == "Caf\ufffd \ufffd\ufffd bytes \ufffd" and types["broken"]["count"] == 1
    assert types["event"]["label"] == "Év\ufffdnements ✨"
    assert data["taxonomies"]["flavour"]["label"] == "Go\ufffdts 🍋"
    assert "warning" not in err

    # The dry-run payload (what would be pushed) is valid JSON with the same labels.
    code, out, err, _ = agent("sync", "--dry-run", "--path", str(root), env=agent_env)
    assert code == 0, err
    payload = valid_json(out)
    assert payload["post_types"]["recipe"]["label"] == EMOJI_LABEL
    assert_counts_are_json_integers(payload)


def test_legacy_latin1_site_read_over_utf8mb4_warns_and_goes_on(make_wpdb, tmp_path, agent_env):
    # The same tables read with DB_CHARSET utf8mb4: the server converts every
    # byte as latin1, so the serialized lengths no longer match (WordPress
    # itself cannot unserialize them either, and registers nothing). The agent
    # warns, skips the definitions, reports their rows as leftovers, and
    # prints valid JSON.
    db = _legacy_latin1_site(make_wpdb)
    root = write_wp_config(tmp_path / "wp", db.name)
    data, err, _ = structure_json(root, agent_env, "--leftovers")
    assert "ignored corrupt serialized data in option cptui_post_types" in err
    assert "recipe" not in data["post_types"]
    assert data["leftovers"]["post_types"]["recipe"] == 3


# -- column limits ------------------------------------------------------------------------------

def test_slugs_at_the_column_limits_and_a_200_character_term_name(wpdb, tmp_path, agent_env):
    post_type = "a_twenty_char_type_x"  # wp_posts.post_type is varchar(20)
    taxonomy = "a_taxonomy_slug_of_thirty_two_ch"  # wp_term_taxonomy.taxonomy is varchar(32)
    name = ("Ünïcödé 🌳 " * 30)[:200]  # wp_terms.name is varchar(200), in characters
    assert (len(post_type), len(taxonomy), len(name)) == (20, 32, 200)
    wpdb.add_posts(post_type, "publish", 4)
    wpdb.add_term(taxonomy, name)
    wpdb.add_term(taxonomy, name[:199] + "!")
    assert wpdb.query("SELECT CHAR_LENGTH(name) FROM wp_terms WHERE name LIKE 'Ünïcödé%%'") == [(200,), (200,)]
    wpdb.set_option("active_plugins", [CPTUI_PLUGIN])
    wpdb.set_option("cptui_post_types", {post_type: {"name": post_type, "label": "Long", "public": "true"}})
    wpdb.set_option("cptui_taxonomies", {taxonomy: {"name": taxonomy, "label": "Longer", "public": "true"}})

    root = write_wp_config(tmp_path / "wp", wpdb.name)
    data, _, _ = structure_json(root, agent_env)
    assert data["post_types"][post_type] == {"label": "Long", "count": 4, "enabled": False, "fetch_limit": 100}
    assert data["taxonomies"][taxonomy]["count"] == 2


# -- ten thousand taxonomies -----------------------------------------------------------------------

N_TAXONOMIES = 10_000


def test_ten_thousand_taxonomies_are_listed_quickly_and_pushed(site, backend):
    # One multi-row INSERT: taxonomy values need not have their own terms.
    rows = ", ".join(f"(1, 'tax_{i:05d}', '', 0, 0)" for i in range(N_TAXONOMIES))
    site.db.execute(f"INSERT INTO wp_term_taxonomy (term_id, taxonomy, description, parent, count) VALUES {rows}")
    site.db.execute("INSERT INTO wp_term_taxonomy (term_id, taxonomy, description, parent, count) VALUES"
                    " (2, 'tax_00042', '', 0, 0), (3, 'tax_00042', '', 0, 0)")
    # ... registered by Custom Post Type UI, as a site with that many would be.
    site.db.set_option("active_plugins", [CPTUI_PLUGIN])
    site.db.set_option("cptui_taxonomies", {f"tax_{i:05d}": {"name": f"tax_{i:05d}", "label": f"Tax {i:05d}"}
                                            for i in range(N_TAXONOMIES)})

    data, err, figures = structure_json(site.path, {})  # agent_env is in os.environ already
    listed = [slug for slug in data["taxonomies"] if slug.startswith("tax_")]
    assert len(listed) == N_TAXONOMIES
    assert data["taxonomies"]["tax_00042"]["count"] == 3
    assert data["taxonomies"]["tax_09999"] == {"label": "Tax 09999", "count": 1, "enabled": False, "fetch_limit": 100}
    # Reasonable: about 0.5 s and 45 MB here; the limits leave room for a slow, busy machine.
    print(f"10,000 taxonomies: {figures}")
    assert figures["ms"] < 20_000, figures
    assert figures["peak_kb"] < 150 * 1024, figures

    connected = site.connect()
    assert connected.returncode == 0, connected.stderr
    pushed = [r for r in backend.requests if r.path.endswith("/update-structure/")][-1]
    assert len([s for s in pushed.body["taxonomies"] if s.startswith("tax_")]) == N_TAXONOMIES
    assert all(type(e["count"]) is int for e in pushed.body["taxonomies"].values())


# -- counts beyond 2^31 ------------------------------------------------------------------------------
#
# A count above 2^31 needs 2^31 rows: hours of inserts and ~1 TB of wp_posts,
# so the database is replaced here, honestly, by a session object that answers
# the agent's own two count queries with the Python types pymysql gives for
# them: SUM(post_status = 'publish') is a DECIMAL (Decimal), COUNT(*) a BIGINT
# (int). Everything after the query - read_site, build_structure,
# build_payload, the CLI's JSON printer and the HTTP client's request body -
# is the real code. test_count_types_from_the_real_database checks on MariaDB
# that the agent really receives those two types.

BIG = [2**31, 2**32 + 7, 2**53 + 1, 2**63 - 1, 10**20 + 3]  # 2^53 + 1: a float would round it


class BigCountSession:
    def query(self, sql: str, args: Sequence[Any] = ()) -> List[tuple]:
        if "GROUP BY post_type" in sql:
            return [(b"post", Decimal(BIG[0])), (b"page", Decimal(BIG[1])), (b"product_like", Decimal(BIG[4])),
                    (b"empty_sum", None)]
        if "GROUP BY taxonomy" in sql:
            return [(b"category", BIG[2]), (b"post_tag", BIG[3])]
        if "option_name IN" in sql:
            return [(b"home", b"https://example.com")]
        return []

    def existing_tables(self, names: Sequence[str]) -> set:
        return set()


def test_counts_beyond_2_31_stay_exact_json_integers_end_to_end():
    facts = read_site(BigCountSession(), "wp_", multisite=False)  # type: ignore[arg-type]
    settings = Settings()
    settings._listing["post_types"] = Listing(include=("product_like", "empty_sum"))  # no plugin registers them
    structure = build_structure(facts, settings)
    payload = build_payload(structure, settings, "test")
    expected = {("post_types", "post"): BIG[0], ("post_types", "page"): BIG[1],
                ("post_types", "product_like"): BIG[4], ("post_types", "empty_sum"): 0,
                ("taxonomies", "category"): BIG[2], ("taxonomies", "post_tag"): BIG[3]}
    for (kind, slug), count in expected.items():
        assert type(payload[kind][slug]["count"]) is int and payload[kind][slug]["count"] == count

    # What `structure --format json` / `sync --dry-run` print.
    printed = io.StringIO()
    with redirect_stdout(printed):
        cli.print_json(payload)
    text = printed.getvalue()
    for count in BIG:
        assert f'"count": {count}' in text  # digits, no exponent, no ".0"
    parsed = valid_json(text.encode())
    assert_counts_are_json_integers(parsed)
    assert parsed["taxonomies"]["category"]["count"] == 2**53 + 1

    # What the client sends.
    router = respx.Router(assert_all_called=False)
    route = router.post(url__regex=r".*/update-structure/$").respond(200, json={"last_structure_fetch": "x"})
    with BackendClient("http://127.0.0.1:9/api/v1", API_KEY, transport=httpx.MockTransport(router.handler)) as client:
        client.update_structure(9, payload)
    sent = route.calls.last.request.content
    assert b'"count": 9223372036854775807' in sent or b'"count":9223372036854775807' in sent
    assert valid_json(sent)["post_types"]["product_like"]["count"] == 10**20 + 3


def test_count_types_from_the_real_database(wpdb):
    from conftest import DB_HOST, DB_PASSWORD, DB_PORT, DB_USER
    from igny8_agent.database import DbSettings, ReadOnlySession

    wpdb.add_posts("post", "publish", 2)
    settings = DbSettings(name=wpdb.name, user=DB_USER, password=DB_PASSWORD, host=DB_HOST, port=DB_PORT)
    def text(value: Any) -> str:  # the agent decodes names itself (wordpress._text)
        return value.decode() if isinstance(value, bytes) else value

    with ReadOnlySession(settings) as session:
        sums = {text(k): v for k, v in session.query(
            "SELECT post_type, SUM(post_status = 'publish') FROM `wp_posts` GROUP BY post_type")}
        counts = {text(k): v for k, v in session.query(
            "SELECT taxonomy, COUNT(*) FROM `wp_term_taxonomy` GROUP BY taxonomy")}
        # The same expression types, fed values beyond 2^31 by the server itself.
        big_sum, big_count = session.query(
            "SELECT SUM(x), CAST(COUNT(*) * 4294967296 AS UNSIGNED) FROM (SELECT 2147483648 AS x UNION ALL"
            " SELECT 2147483648) t")[0]
    assert isinstance(sums["post"], Decimal) and int(sums["post"]) == 3
    assert type(counts["category"]) is int
    assert int(big_sum) == 2**32 and big_count == 2 * 2**32
