"""Generators of bad input, shared by tests/test_fuzz.py and bench/soak_fuzz.py.

Hypothesis strategies for the three targets: wp-config.php text (byte soup,
real PHP fragments mixed, unterminated literals, thousands of nesting levels,
exponentially growing constants, huge number literals), PHP-serialized data
(byte and token soup, lone surrogates, deep nesting, huge declared lengths)
and backend responses for the HTTP client (status, lying headers, JSON trees,
deep nesting, huge and compressed bodies, invalid UTF-8), with the helpers
that turn a drawn response into an httpx answer.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Tuple

import httpx
import respx
from hypothesis import strategies as st

from igny8_agent.client import BackendClient

PATH = Path("/var/www/html/wp-config.php")
KEY = "igny8_FuzzKey0123456789abcdefXYZ"
ENVIRON = {"WORDPRESS_DB_HOST": "db:3306"}

# -- wp-config.php -------------------------------------------------------------------------

PHP_FRAGMENTS = [
    "<?php\n", "<?php ", "?>", "<?=", "<?", "<?PHP\t", "\n", " ", "\t", "\r\n",
    "define( 'DB_NAME', 'wordpress' );\n", "define('DB_USER', \"user\");", "define ( \"DB_HOST\" , 'localhost:3306' ) ;",
    "define( 'DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', 'example password') );",
    "define('DB_HOST', getenv_docker('WORDPRESS_DB_HOST', 'mysql'));", "$table_prefix = 'wp_';",
    "$table_prefix  = getenv_docker('WORDPRESS_TABLE_PREFIX', 'wp_');", "$table_prefix .= 'x_';",
    "define('ABSPATH', __DIR__ . '/');", "if ( ! defined( 'ABSPATH' ) ) {", "}", "require_once ABSPATH . 'wp-settings.php';",
    "function getenv_docker($env, $default) {", "if ($fileEnv = getenv($env . '_FILE')) {", "return rtrim(file_get_contents($fileEnv), \"\\r\\n\");",
    "class A { const B = 1; }", "define('WP_DEBUG', !!true);", "define('X', -0x1F);", "define('Y', 1_000.5e3);",
    "define('MULTISITE', true);", "define('Z', null);", "define(A, B);", "\\define('N', 'n');", "$x->define('M', 1);",
    "define", "DEFINE", "(", ")", "((", "))", ",", ";", "{", "}", "[", "]", "'", "\"", "`", "\\", "\\'", "\\\"", "$",
    "${", "{$", "\"{$a['b']}\"", "\"$a\"", "\"\\u{1F600}\"", "\"\\u{110000}\"", "\"\\x4", "\"\\777\"", "\\u{", "\\x", "\\0",
    "/*", "*/", "/**/", "//", "# ", "#[Attr]", "<<<EOT\n", "<<<'EOT'\n", "<<< \"EOT\"\n", "EOT;\n", "  EOT\n",
    "=", ".=", ".", "!", "-", "+", "?", ":", "::", "->", "?->", "=>", "===", "0", "1", "0x", "0b2", "08", "1e", "9" * 40,
    "true", "FALSE", "NULL", "__DIR__", "getenv", "getenv_docker", "$_ENV['X']", "$_SERVER[\"Y\"]",
    "function", "class", "interface", "trait", "é", "\u00a0", "\ufeff", "\U0001F600", "\x00", "\x7f", "\ud800",
]
php_soup = st.lists(st.sampled_from(PHP_FRAGMENTS), max_size=150).map("".join)
# Bigger inputs than hypothesis likes to draw: a drawn piece repeated.
repeated = st.tuples(st.binary(max_size=300), st.integers(1, 60)).map(lambda t: t[0] * t[1])

# Constructs that open and never close, dropped into an otherwise valid file.
UNTERMINATED = ["'", '"', "`", "/*", "<<<EOT\n", "<<<'N'\n", '"{$a', '"${', "define(", "define('A', (", "$table_prefix = 'x"]
VALID_CONFIG = (
    "<?php\ndefine( 'DB_NAME', 'wp' );\ndefine( 'DB_USER', 'u' );\ndefine( 'DB_PASSWORD', 'p' );\n"
    "define( 'DB_HOST', 'localhost' );\n$table_prefix = 'wp_';\nrequire_once ABSPATH . 'wp-settings.php';\n"
)

# Openers repeated thousands of times, closed or not.
NESTING = [
    ("(", ")"), ("[", "]"), ("{", "}"), ("-", ""), ("!", ""), ("+", ""), ("getenv(", ")"), ("getenv_docker('A', ", ")"),
    ("define('X', ", ")"), ("'a'.", ""), ("function f(", ")"), ("\"{$a[", "]}\""), ("/* ", " */"), ("(-", ")"),
]


@st.composite
def nested_configs(draw: Any, min_levels: int = 1000, max_levels: int = 5000) -> str:
    """An opener repeated thousands of times, closed or not, in a define or the prefix."""
    opener, closer = draw(st.sampled_from(NESTING))
    levels = draw(st.integers(min_levels, max_levels))
    shape = draw(st.sampled_from(["define('A', {}1{});", "$table_prefix = {}'p'{};", "{}{}"]))
    return "<?php " + shape.format(opener * levels, closer * levels if draw(st.booleans()) else "")


@st.composite
def growing_configs(draw: Any) -> str:
    """define('A1', A0.A0); define('A2', A1.A1); ...: doubles (or more) per line."""
    lines, fan_out = draw(st.integers(1, 60)), draw(st.integers(2, 8))
    text = "<?php define('A0', 'xxxxxxxx');\n" + "".join(
        f"define('A{i + 1}', {'.'.join([f'A{i}'] * fan_out)});\n" for i in range(lines)
    )
    if draw(st.booleans()):
        text += "$table_prefix = 'wp_';\n" + "$table_prefix .= A20;\n" * lines
    return text


@st.composite
def huge_numbers(draw: Any) -> str:
    head = draw(st.sampled_from(["9", "0x", "0xf", "0b1", "0o7", "1.", "."]))
    digits = draw(st.integers(20, 1000) | st.integers(1000, 100_000))
    return f"<?php define('N', {head}{'1' * digits}); define('M', -{head}{'7' * digits});"


def wp_config_inputs(max_levels: int = 5000) -> st.SearchStrategy[str]:
    """Every kind of wp-config.php input above, as text."""
    return st.one_of(
        (st.binary(max_size=4000) | repeated).map(lambda b: b.decode("utf-8", errors="replace")),
        st.binary(max_size=2000).map(lambda b: "<?php " + b.decode("latin-1")),
        php_soup | st.tuples(php_soup, st.integers(1, 30)).map(lambda t: t[0] * t[1]),
        st.tuples(st.sampled_from(UNTERMINATED), st.integers(0, len(VALID_CONFIG)), php_soup).map(
            lambda t: VALID_CONFIG[:t[1]] + t[0] + t[2]),
        nested_configs(max_levels=max_levels),
        growing_configs(),
        huge_numbers(),
    )


# -- PHP-serialized data --------------------------------------------------------------------

SER_TOKENS = [
    b"N;", b"b:0;", b"b:1;", b"b:2;", b"i:0;", b"i:-5;", b"i:+5;", b"i:99999999999999999999999;", b"d:0.5;", b"d:-INF;",
    b"d:NAN;", b"d:1e999;", b"d:.5;", b's:1:"x";', b's:0:"";', b's:4:"\xf0\x9f\x98\x80";', b's:2:"\xff\xfe";',
    b"a:0:{}", b"a:1:{", b"a:2:{", b"a:-1:{", b"}", b'O:8:"stdClass":1:{', b'O:1:"A":0:{}', b's:4:"\x00*\x00a";',
    b'C:11:"ArrayObject":3:{x:1}', b'E:7:"Foo:Bar";', b'E:3:"Foo";', b"r:1;", b"R:2;", b"S:1:\"x\";",
    b"s:", b"a:", b"O:", b"C:", b"E:", b"i:", b"d:", b"b:", b":", b";", b'"', b"{", b"0", b"9", b"-", b".", b"\xc3",
    b"\x00", b" ", b"\n", b"s:9999999999:\"", b"a:4294967296:{", b"s:18446744073709551616:\"",
]
ser_soup = st.lists(st.sampled_from(SER_TOKENS), max_size=200).map(b"".join)


text_with_surrogates = st.lists(
    st.sampled_from(["\ud800", "\udcff", "\udfff", "s:1:\"", "s:3:\"", "\";", "a:1:{i:0;", "}", "é", "\U0001F600"])
    | st.text(max_size=6), max_size=150).map("".join)


NESTED_OPENERS = [b"a:1:{i:0;", b"a:1:{s:1:\"k\";", b'O:1:"A":1:{s:1:"p";', b"a:2:{i:0;N;i:1;"]
LENGTH_TEMPLATES = [b's:{n}:"', b"a:{n}:{{", b'O:1:"A":{n}:{{', b'C:1:"A":{n}:{{', b'E:{n}:"', b'O:{n}:"']
huge_lengths = st.integers(0, 2**64) | st.sampled_from([10**100, 2**31, 2**32 - 1, 2**63])


def declared_length(template: bytes, n: int, tail: bytes) -> bytes:
    return template.replace(b"{n}", str(n).encode()).replace(b"{{", b"{") + tail


def unserialize_inputs(max_levels: int = 20_000) -> st.SearchStrategy[Tuple[Any, int]]:
    """(data, max_depth) pairs: bytes or str, with the default depth limit or a huge one."""
    nested = st.tuples(st.sampled_from(NESTED_OPENERS), st.integers(1000, max_levels), st.booleans()).map(
        lambda t: t[0] * t[1] + b"N;" + (b"}" * t[1] if t[2] else b""))
    data = st.one_of(
        st.binary(max_size=4000) | st.tuples(st.binary(max_size=300), st.integers(1, 60)).map(lambda t: t[0] * t[1]),
        ser_soup | st.tuples(ser_soup, st.integers(1, 30)).map(lambda t: t[0] * t[1]),
        text_with_surrogates,
        nested,
        st.builds(declared_length, st.sampled_from(LENGTH_TEMPLATES), huge_lengths, st.binary(max_size=64)),
    )
    return st.tuples(data, st.sampled_from([64, 64, 100_000]))


# -- backend responses --------------------------------------------------------------------
#
# A response is at most CAP bytes once decoded (the clients here are built with it).

CAP = 64 * 1024
BASE_URL = "http://127.0.0.1:9/api/v1"  # loopback http: no TLS context to build; nothing is sent

ENDPOINTS = {
    "me": lambda c: c.me(),
    "sites": lambda c: c.sites(),
    "integrations": lambda c: c.integrations(42),
    "create": lambda c: c.create_integration(42, "https://example.com"),
    "update": lambda c: c.update_structure(9, {"post_types": {"post": {"label": "Posts", "count": 1}}, "taxonomies": {}}),
    "content_types": lambda c: c.content_types(9),
}


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class Chunks(httpx.SyncByteStream):
    """A body delivered in chunks, as a socket delivers it (not pre-read)."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = max(1, size)

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i:i + self.size]


json_trees = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["success", "data", "results", "next", "previous", "count", "detail", "error", "errors",
                         "message", "id", "site", "platform", "is_active", "email", "account", "url",
                         "non_field_errors", "last_structure_fetch", "post_types", "taxonomies"]) | st.text(max_size=8),
        inner, max_size=6),
    max_leaves=40,
)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8")


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["tree", "envelope", "page", "deep", "huge", "bad-utf8", "binary", "empty", "number"]))
    if kind == "tree":
        return _json_bytes(draw(json_trees))
    if kind == "envelope":
        return _json_bytes({"success": draw(st.booleans()), "data": draw(json_trees), "error": draw(json_trees)})
    if kind == "page":
        nxt = draw(st.none() | st.sampled_from(["?page=2", "http://127.0.0.1:9/api/v1/auth/sites/?page=2",
                                                 "https://evil.test/", "//127.0.0.1:9/x", "::", "?page=%zz"]) | st.text(max_size=20))
        return _json_bytes({"count": 3, "next": nxt, "results": draw(st.lists(json_trees, max_size=4))})
    if kind == "deep":
        levels = draw(st.integers(100, 20_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"detail":[', b"]}")]))
        return opener * levels + b"1" + (closer * levels if draw(st.booleans()) else b"")
    if kind == "huge":
        n = draw(st.integers(CAP - 64, 2 * CAP))
        return b'{"detail": "' + b"x" * n + b'", "id": 1}'
    if kind == "bad-utf8":
        good = bytearray(_json_bytes(draw(json_trees)))
        at = draw(st.integers(0, len(good)))
        good[at:at] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\x00"]))
        return bytes(good)
    if kind == "binary":
        return draw(st.binary(max_size=2000))
    if kind == "number":
        return draw(st.sampled_from([b"1" * 5000, b"-" + b"9" * 20000, b"1e999", b"NaN", b"-Infinity",
                                     b'{"id": ' + b"7" * 4500 + b"}", b'{"count": 1e400}']))
    return b""


HEADER_GARBAGE = st.sampled_from([
    b"", b"0", b"-1", b" 5 ", b"1e3", b"1_000", b"\xc2\xb2", b"\xb2", b"\xd9\xa3", b"9" * 5000, b"18446744073709551616",
    b"nan", b"inf", b"-inf", b"1e308", b"abc", b"Wed, 21 Oct 2015 07:28:00 GMT", b"Fri, 31 Dec 9999 23:59:59 GMT",
    b"Mon, 01 Jan 0001 00:00:00 +9999", b"Sun, 06 Nov 1994 08:49:37 -2400", b"\x00\x01", b"\xff\xfe",
]) | st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)


@st.composite
def responses(draw: Any) -> dict:
    status = draw(st.sampled_from([200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504])
                  | st.integers(100, 599))
    body = draw(bodies())
    headers: List[Tuple[bytes, bytes]] = []
    encoding = draw(st.sampled_from([None, None, None, "gzip", "deflate", "deflate-raw", "bomb", "lie-gzip", "br", "zstd",
                                     "gzip, gzip", "x-gzip", "identity", "garbage"]))
    if encoding in ("gzip", "x-gzip", "gzip, gzip"):
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    elif encoding == "deflate-raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = packer.compress(body) + packer.flush()
        encoding = "deflate"
    elif encoding == "bomb":  # inflates to 8 x the cap
        body = gzip.compress(b"[" + b" " * (8 * CAP) + b"]", compresslevel=9)
        encoding = "gzip"
    elif encoding == "lie-gzip":  # says gzip, is not
        encoding = "gzip"
    elif encoding == "garbage":
        encoding = draw(st.text(max_size=12).filter(lambda t: "\r" not in t and "\n" not in t))
    if encoding is not None:
        headers.append((b"Content-Encoding", encoding.encode("utf-8")))
    for name in draw(st.lists(st.sampled_from(["Content-Length", "Retry-After", "Location", "Date", "Content-Type"]),
                              max_size=4)):
        if name == "Content-Length" and draw(st.booleans()):
            value = str(max(0, len(body) + draw(st.integers(-10, 10)))).encode()  # a near miss
        elif name == "Location":
            value = draw(st.sampled_from([b"/api/v1/auth/me/", b"http://127.0.0.1:9/api/v1/auth/sites/?page=3",
                                          b"https://evil.test/steal", b"//evil.test/", b"http://[::1", b"\xff"]) | HEADER_GARBAGE)
        else:
            value = draw(HEADER_GARBAGE)
        headers.append((name.encode(), value))
    chunk = draw(st.sampled_from([1, 7, 1024, 65536, 1 << 30]))
    if len(body) > 8192:
        chunk = max(chunk, 4096)  # byte-by-byte delivery of a big body measures the test, not the client
    return Spec(status, body, headers, chunk, draw(st.booleans()))


class Spec(dict):
    """One response; a short repr, so that a failing example stays readable."""

    def __init__(self, status: int, body: bytes, headers: list, chunk: int, preread: bool) -> None:
        super().__init__(status=status, body=body, headers=headers, chunk=chunk, preread=preread)

    def __repr__(self) -> str:
        body = self["body"]
        shown = body if len(body) <= 80 else body[:60] + b"...<%d bytes>" % len(body)
        headers = [(name, value if len(value) <= 40 else value[:30] + b"...") for name, value in self["headers"]]
        return f"Spec({self['status']}, {shown!r}, {headers!r}, chunk={self['chunk']}, preread={self['preread']})"


def _answer(spec: dict) -> httpx.Response:
    if spec["preread"] and not any(name == b"Content-Encoding" for name, _ in spec["headers"]):
        # Built from bytes: httpx reads it at once (what most mocks do).
        return httpx.Response(spec["status"], headers=spec["headers"], content=spec["body"])
    return httpx.Response(spec["status"], headers=spec["headers"], stream=Chunks(spec["body"], spec["chunk"]))


def call_endpoint(endpoint: str, specs: Sequence[dict]) -> Any:
    calls = [0]

    def answer(request: httpx.Request) -> httpx.Response:
        spec = specs[calls[0] % len(specs)]
        calls[0] += 1
        return _answer(spec)

    router = respx.Router(assert_all_called=False)
    router.route().mock(side_effect=answer)
    fake = FakeTime()
    client = BackendClient(BASE_URL, KEY, retry_budget=10, max_response_bytes=CAP, sleep=fake.sleep,
                           clock=fake.clock, transport=httpx.MockTransport(router.handler))

    def run() -> Any:
        try:
            return ENDPOINTS[endpoint](client)
        finally:
            client.close()

    return run



def client_inputs() -> st.SearchStrategy[Tuple[str, List["Spec"]]]:
    """(endpoint, 1-3 responses answered in turn, retries included)."""
    return st.tuples(st.sampled_from(sorted(ENDPOINTS)), st.lists(responses(), min_size=1, max_size=3))
