"""Tests for igny8_agent.phpserialize: PHP-serialized WordPress data."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igny8_agent.errors import ParseError
from igny8_agent.phpserialize import PHPObject, maybe_unserialize, unserialize

FUZZ = settings(
    max_examples=2000,
    deadline=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- a tiny serializer for the round-trip tests ------------------------------


def _serialize(value: object) -> bytes:
    """PHP's serialize() for None/bool/int/float/str/dict."""
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:1;" if value else b"b:0;"
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, float):
        if math.isinf(value):
            return b"d:INF;" if value > 0 else b"d:-INF;"
        return b"d:" + repr(value).encode() + b";"
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return b's:%d:"' % len(raw) + raw + b'";'
    if isinstance(value, dict):
        body = b"".join(_serialize(k) + _serialize(v) for k, v in value.items())
        return b"a:%d:{" % len(value) + body + b"}"
    raise TypeError(type(value))


def _typed(value: object) -> object:
    """A comparable form that tells bool from int, -0.0 from 0.0 and keeps
    dict order."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


php_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
)
php_values = st.recursive(
    php_scalars,
    lambda children: st.dictionaries(st.integers() | st.text(), children, max_size=5),
    max_leaves=30,
)


def _parse_or_parse_error(data: bytes | str) -> None:
    """Any input either parses or raises ParseError -- nothing else."""
    try:
        unserialize(data)
    except ParseError:
        pass


# --- real WordPress data ----------------------------------------------------

ACTIVE_PLUGINS = 'a:1:{i:0;s:27:"woocommerce/woocommerce.php";}'

# Custom Post Type UI's option, as pymysql returns it (str). "Películas" is
# 9 characters but 10 UTF-8 bytes.
CPTUI_POST_TYPES = (
    'a:2:{s:4:"book";a:9:{s:4:"name";s:4:"book";s:5:"label";s:5:"Books";'
    's:14:"singular_label";s:4:"Book";s:11:"description";s:0:"";'
    's:6:"public";s:4:"true";s:12:"hierarchical";s:5:"false";'
    's:11:"has_archive";s:5:"false";s:8:"supports";a:2:{i:0;s:5:"title";'
    'i:1;s:6:"editor";}s:6:"labels";a:2:{s:9:"menu_name";s:8:"My Books";'
    's:9:"all_items";s:9:"All Books";}}'
    's:5:"movie";a:6:{s:4:"name";s:5:"movie";s:5:"label";s:10:"Películas";'
    's:14:"singular_label";s:5:"Movie";s:6:"public";s:5:"false";'
    's:7:"rewrite";s:4:"true";s:6:"labels";a:0:{}}}'
)

# ACF 6.1+ stores each registered post type as an `acf-post-type` post whose
# post_content is the serialized settings array.
ACF_POST_TYPE = (
    'a:11:{s:3:"key";s:19:"post_type_64a1b2c3d";s:5:"title";s:5:"Books";'
    's:10:"menu_order";i:0;s:6:"active";b:1;s:9:"post_type";s:4:"book";'
    's:22:"advanced_configuration";b:0;s:6:"labels";a:2:{s:4:"name";'
    's:5:"Books";s:13:"singular_name";s:4:"Book";}s:11:"description";'
    's:0:"";s:6:"public";b:1;s:12:"hierarchical";b:0;s:8:"supports";'
    'a:3:{i:0;s:5:"title";i:1;s:6:"editor";i:2;s:9:"thumbnail";}}'
)


def test_active_plugins_option_parses_to_int_keyed_dict():
    assert unserialize(ACTIVE_PLUGINS) == {0: "woocommerce/woocommerce.php"}
    assert unserialize(ACTIVE_PLUGINS.encode()) == {0: "woocommerce/woocommerce.php"}


def test_cptui_post_types_option_parses_with_string_flags_and_labels():
    result = unserialize(CPTUI_POST_TYPES)
    assert list(result) == ["book", "movie"]
    book = result["book"]
    assert book["name"] == "book"
    assert book["label"] == "Books"
    assert book["singular_label"] == "Book"
    assert book["public"] == "true"
    assert book["hierarchical"] == "false"
    assert book["supports"] == {0: "title", 1: "editor"}
    assert book["labels"] == {"menu_name": "My Books", "all_items": "All Books"}
    movie = result["movie"]
    assert movie["label"] == "Películas"
    assert movie["public"] == "false"
    assert movie["labels"] == {}


def test_acf_post_type_post_content_parses_with_bool_public():
    result = unserialize(ACF_POST_TYPE)
    assert result["post_type"] == "book"
    assert result["labels"] == {"name": "Books", "singular_name": "Book"}
    assert result["public"] is True
    assert result["active"] is True
    assert result["advanced_configuration"] is False
    assert result["menu_order"] == 0
    assert result["supports"] == {0: "title", 1: "editor", 2: "thumbnail"}
    assert list(result)[:3] == ["key", "title", "menu_order"]


def test_acf_post_type_with_int_public_keeps_int():
    result = unserialize(ACF_POST_TYPE.replace('s:6:"public";b:1;', 's:6:"public";i:1;'))
    assert result["public"] == 1 and type(result["public"]) is int


# --- scalars ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        ("N;", None),
        ("b:0;", False),
        ("b:1;", True),
        ("i:0;", 0),
        ("i:-12;", -12),
        ("i:+7;", 7),
        ("i:9223372036854775807;", 9223372036854775807),
        ("i:-9223372036854775808;", -9223372036854775808),
        ("i:123456789012345678901234567890;", 123456789012345678901234567890),
        ('s:0:"";', ""),
        ('s:5:"hello";', "hello"),
        ('s:3:"a"b";', 'a"b'),
        ('s:3:"a;}";', "a;}"),
        ('s:2:"\n\t";', "\n\t"),
        ('E:11:"Suit:Hearts";', "Suit:Hearts"),
        ("r:1;", None),
        ("R:2;", None),
    ],
)
def test_scalar_values_parse_to_python_types(data, expected):
    result = unserialize(data)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "data, expected",
    [
        ("d:0.5;", 0.5),
        ("d:-0.5;", -0.5),
        ("d:0;", 0.0),
        ("d:1.0E+25;", 1e25),
        ("d:1e-7;", 1e-7),
        ("d:.5;", 0.5),
        ("d:3.;", 3.0),
        ("d:0.1000000000000000055511151231257827;", 0.1),
        ("d:INF;", math.inf),
        ("d:-INF;", -math.inf),
    ],
)
def test_floats_parse_including_exponents_and_infinities(data, expected):
    result = unserialize(data)
    assert type(result) is float and result == expected


def test_float_nan_parses_to_nan():
    assert math.isnan(unserialize("d:NAN;"))


def test_string_length_counts_utf8_bytes():
    assert unserialize('s:5:"café";') == "café"
    assert unserialize('s:6:"日本";') == "日本"
    assert unserialize('s:4:"😀";') == "😀"
    with pytest.raises(ParseError, match="bad string length at byte 0"):
        unserialize('s:4:"café";')


def test_invalid_utf8_bytes_are_replaced_not_rejected():
    assert unserialize(b's:4:"caf\xe9";') == "caf\ufffd"
    assert unserialize(b'a:1:{s:2:"\xff\xfe";s:1:"\x80";}') == {"\ufffd\ufffd": "\ufffd"}


def test_str_input_with_surrogate_escapes_maps_back_to_original_bytes():
    raw = b's:4:"caf\xe9";'
    assert unserialize(raw.decode("utf-8", "surrogateescape")) == "caf\ufffd"


def test_str_input_with_lone_surrogate_does_not_crash():
    assert unserialize('s:3:"\ud800";') == "\ufffd\ufffd\ufffd"


# --- arrays and objects ---------------------------------------------------------


def test_nested_arrays_keep_insertion_order_and_mixed_keys():
    data = 'a:3:{s:1:"z";a:2:{i:5;s:1:"x";s:1:"k";a:0:{}}i:-1;N;s:1:"a";b:0;}'
    result = unserialize(data)
    assert list(result) == ["z", -1, "a"]
    assert list(result["z"]) == [5, "k"]
    assert result == {"z": {5: "x", "k": {}}, -1: None, "a": False}


def test_duplicate_array_key_keeps_last_value_like_php():
    assert unserialize('a:2:{i:0;s:1:"a";i:0;s:1:"b";}') == {0: "b"}


def test_object_becomes_phpobject_without_instantiation():
    result = unserialize('O:8:"stdClass":2:{s:1:"a";i:1;s:1:"b";a:1:{i:0;N;}}')
    assert isinstance(result, PHPObject)
    assert result.class_name == "stdClass"
    assert result.properties == {"a": 1, "b": {0: None}}


def test_object_private_and_protected_markers_are_stripped():
    data = b'O:3:"Foo":4:{s:6:"\0Foo\0a";i:1;s:4:"\0*\0b";i:2;s:1:"c";i:3;s:9:"\0Parent\0d";i:4;}'
    result = unserialize(data)
    assert result == PHPObject("Foo", {"a": 1, "b": 2, "c": 3, "d": 4})


def test_object_nested_in_array_and_int_property_names_become_str():
    result = unserialize('a:1:{s:3:"obj";O:1:"A":1:{i:0;s:1:"x";}}')
    assert result == {"obj": PHPObject("A", {"0": "x"})}


def test_custom_serialized_object_keeps_raw_payload():
    result = unserialize('C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}')
    assert result == PHPObject("ArrayObject", {"__serialized__": "x:i:0;a:0:{};m:a:0:{}"})


def test_references_become_none_and_are_not_followed():
    data = 'a:3:{i:0;a:1:{i:0;i:1;}i:1;r:2;i:2;R:2;}'
    assert unserialize(data) == {0: {0: 1}, 1: None, 2: None}


def test_nesting_up_to_max_depth_is_allowed():
    data = "a:1:{i:0;" * 64 + "N;" + "}" * 64
    result = unserialize(data)
    for _ in range(64):
        result = result[0]
    assert result is None


def test_nesting_beyond_max_depth_raises():
    data = "a:1:{i:0;" * 65 + "N;" + "}" * 65
    with pytest.raises(ParseError, match="nesting deeper than 64"):
        unserialize(data)
    with pytest.raises(ParseError, match="nesting deeper than 3"):
        unserialize('a:1:{i:0;O:1:"A":1:{s:1:"p";a:1:{i:0;a:0:{}}}}', max_depth=3)


def test_ten_thousand_levels_fail_fast_without_recursion_error():
    data = b"a:1:{i:0;" * 10_000 + b"N;" + b"}" * 10_000
    start = time.monotonic()
    with pytest.raises(ParseError):
        unserialize(data)
    assert time.monotonic() - start < 1.0


def test_deep_nesting_parses_iteratively_when_limit_raised():
    data = b"a:1:{i:0;" * 10_000 + b"N;" + b"}" * 10_000
    result = unserialize(data, max_depth=20_000)
    for _ in range(10_000):
        result = result[0]
    assert result is None


# --- corrupt rows -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "unexpected end of data at byte 0"),
        ("   ", "unknown value type at byte 0"),
        ("x:1;", "unknown value type at byte 0"),
        ("N", "unknown value type at byte 0"),
        ("i:12", "bad integer at byte 0"),
        ("i:;", "bad integer at byte 0"),
        ("i:1.5;", "bad integer at byte 0"),
        ("i: 1;", "bad integer at byte 0"),
        ("i:1_000;", "bad integer at byte 0"),
        ("b:2;", "bad boolean at byte 0"),
        ("b:", "bad boolean at byte 0"),
        ("d:inf;", "bad float at byte 0"),
        ("d:1e;", "bad float at byte 0"),
        ("d:0x10;", "bad float at byte 0"),
        ('s:5:"abc', "bad string length at byte 0"),
        ('s:5:"abc";', "bad string length at byte 0"),
        ('s:2:"abc";', "bad string length at byte 0"),
        ('s:3:"abc"', "bad string length at byte 0"),
        ('s:3:"abc";x', "trailing data at byte 10"),
        ("s:3:abc;", "bad string at byte 4"),
        ('s:-1:"";', "bad length at byte 0"),
        ("a:1:{i:0;N;", "unexpected end of data at byte 11"),
        ("a:1:{i:0;N;;", "expected '}' at byte 11"),
        ("a:1:i:0;N;}", "expected '{' at byte 4"),
        ("a:2:{i:0;N;}", "bad array key at byte 11"),
        ("a:1:{i:0;N;i:1;N;}", "expected '}' at byte 11"),
        ("a:1:{d:0.5;N;}", "bad array key at byte 5"),
        ("a:1:{N;N;}", "bad array key at byte 5"),
        ("a:1:{a:0:{}N;}", "bad array key at byte 5"),
        ("a:1:{i:0}", "bad integer at byte 5"),
        ("a:0:{}}", "trailing data at byte 6"),
        ("N;N;", "trailing data at byte 2"),
        ("b:1; ", "trailing data at byte 4"),
        ('O:3:"Foo:0:{}', "bad class name length at byte 0"),
        ('O:3:"Foo":1:{s:1:"a";}', "unknown value type at byte 21"),
        ('C:3:"Foo":5:{abc}', "bad custom object length at byte 0"),
        ('C:3:"Foo":2:{abc}', "bad custom object length at byte 0"),
        ('E:4:"Suit";', "bad enum at byte 0"),
        ("r:x;", "bad length at byte 0"),
    ],
)
def test_corrupt_data_raises_parse_error_with_byte_offset(data, message):
    with pytest.raises(ParseError) as excinfo:
        unserialize(data)
    assert str(excinfo.value) == f"PHP-serialized data: {message}"


def test_charset_migration_corruption_raises_parse_error():
    # 'café' was stored as 5 UTF-8 bytes, then double-encoded by a latin1 ->
    # utf8 conversion into 'cafÃ©' (7 bytes) without fixing the prefix.
    original = 'a:1:{s:4:"name";s:5:"café";}'
    assert unserialize(original) == {"name": "café"}
    corrupted = original.encode("utf-8").decode("latin-1")
    with pytest.raises(ParseError, match="bad string length at byte 16"):
        unserialize(corrupted)


def test_truncated_real_values_raise_parse_error_at_every_cut():
    for value in (ACTIVE_PLUGINS, CPTUI_POST_TYPES, ACF_POST_TYPE):
        raw = value.encode("utf-8")
        for cut in range(len(raw)):
            with pytest.raises(ParseError):
                unserialize(raw[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"a:1000000000:{",
        b"a:1000000000:{i:0;N;}",
        b'O:1:"A":999999999999:{}',
        b"s:1000000000:\"abc\";",
        b'C:3:"Foo":1000000000:{x}',
        b'E:1000000000:"A:B";',
        b"s:" + b"9" * 5000 + b':"";',
        b"a:" + b"9" * 100 + b":{}",
        b"i:" + b"9" * 5000 + b";",
        b"d:" + b"1" * 5000 + b";",
    ],
)
def test_huge_declared_lengths_and_counts_fail_fast(data):
    start = time.monotonic()
    with pytest.raises(ParseError):
        unserialize(data)
    assert time.monotonic() - start < 0.5


def test_long_input_without_terminator_fails_in_linear_time():
    start = time.monotonic()
    for data in (b"i:" + b"1" * 5_000_000, b"a:1:{" + b"i:0;a:1:{" * 100_000):
        with pytest.raises(ParseError):
            unserialize(data, max_depth=10**6)
    assert time.monotonic() - start < 5.0


def test_non_string_input_raises_parse_error():
    with pytest.raises(ParseError, match="expected bytes or str, not int"):
        unserialize(5)  # type: ignore[arg-type]


# --- maybe_unserialize ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "",
        "hello",
        "123",
        "1.5",
        "-7",
        "true",
        "a:1",
        "i:5",
        's:3:"abc"',
        "s:3:abc;",
        "x:1;",
        "d:INF;",  # WordPress's is_serialized() only allows [0-9.E+-] here
        'C:3:"Foo":1:{x}',  # ... and does not list C: at all
        "woocommerce/woocommerce.php",
        b"plain bytes",
    ],
)
def test_maybe_unserialize_returns_non_serialized_input_unchanged(data):
    result = maybe_unserialize(data)
    assert result == data and type(result) is type(data)


@pytest.mark.parametrize("data", [None, 5, 1.5, ["a"]])
def test_maybe_unserialize_returns_non_string_values_unchanged(data):
    assert maybe_unserialize(data) is data  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data, expected",
    [
        ("b:0;", False),
        ("b:1;", True),
        ("N;", None),
        ("i:42;", 42),
        ("d:0.5;", 0.5),
        ('s:3:"abc";', "abc"),
        ('E:11:"Suit:Hearts";', "Suit:Hearts"),
        ("  a:0:{}\n", {}),
        (b"\0\tb:1;\r\n", True),
        ('O:8:"stdClass":0:{}', PHPObject("stdClass", {})),
        (ACTIVE_PLUGINS, {0: "woocommerce/woocommerce.php"}),
    ],
)
def test_maybe_unserialize_unserializes_serialized_input(data, expected):
    result = maybe_unserialize(data)
    assert result == expected and type(result) is type(expected)


def test_maybe_unserialize_real_options():
    assert maybe_unserialize(CPTUI_POST_TYPES)["book"]["public"] == "true"
    assert maybe_unserialize(ACF_POST_TYPE)["public"] is True


@pytest.mark.parametrize(
    "data",
    ["a:2:{i:0;N;}", 's:4:"café";', "i:1.5;", "b:2;", "a:1:{i:0;N;}}"],
)
def test_maybe_unserialize_raises_on_corrupt_serialized_data(data):
    with pytest.raises(ParseError):
        maybe_unserialize(data)


# --- property-based ------------------------------------------------------------------


@FUZZ
@given(php_values)
def test_round_trip_of_serialized_values_returns_the_original(value):
    data = _serialize(value)
    assert _typed(unserialize(data, max_depth=1000)) == _typed(value)
    assert _typed(unserialize(data.decode("utf-8"), max_depth=1000)) == _typed(value)
    wrapped = _serialize({"v": value})  # arrays always pass is_serialized()
    assert _typed(maybe_unserialize(wrapped)) == _typed({"v": value})


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_parse_error(data):
    _parse_or_parse_error(data)
    try:
        maybe_unserialize(data)
    except ParseError:
        pass


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_parse_error(data):
    _parse_or_parse_error(data)


_TOKENS = [
    b"N;", b"b:0;", b"b:1;", b"i:0;", b"i:-5;", b"d:0.5;", b"d:INF;", b"d:NAN;",
    b's:1:"x";', b's:0:"";', b"a:0:{}", b"a:1:{", b"a:2:{", b"}", b'O:1:"A":1:{',
    b'C:1:"A":1:{x}', b'E:3:"A:B";', b"r:1;", b"R:1;", b"s:", b"a:", b"O:", b"C:",
    b"E:", b"i:", b"d:", b"b:", b":", b";", b'"', b"{", b"0", b"1", b"9", b"-",
    b".", b"\xc3", b"\0",
]


@FUZZ
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map(b"".join))
def test_token_soup_parses_or_raises_parse_error(data):
    _parse_or_parse_error(data)


@st.composite
def _mutated_serializations(draw):
    data = bytearray(_serialize(draw(php_values)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        i = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[i:]
        elif op == "flip" and i < len(data):
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(_TOKENS))
        elif op == "delete":
            del data[i : i + 1]
    return bytes(data)


@FUZZ
@given(_mutated_serializations())
def test_mutated_serializations_parse_or_raise_parse_error(data):
    _parse_or_parse_error(data)
    _parse_or_parse_error(data.decode("latin-1"))
    try:
        maybe_unserialize(data)
    except ParseError:
        pass
