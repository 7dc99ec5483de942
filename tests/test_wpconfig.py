"""Tests for igny8_agent.wpconfig: PHP-free wp-config.php reading,
WordPress discovery and DB_HOST parsing."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_agent, write_wp_config
from igny8_agent.errors import ConfigError, ParseError
from igny8_agent.wpconfig import (
    DbAddress,
    WPConfig,
    find_wordpress,
    parse_db_host,
    parse_wp_config,
    read_wp_config,
)

PATH = Path("/srv/www/wp-config.php")
HINT = "set IGNY8_DB_HOST or --db-host"


def parse(text: str, environ=None) -> WPConfig:
    return parse_wp_config(text, PATH, environ={} if environ is None else environ)


def php(body: str) -> WPConfig:
    return parse("<?php\n" + body)


WP6_SAMPLE = """<?php
/**
 * The base configuration for WordPress
 *
 * The wp-config.php creation script uses this file during the installation.
 * You don't have to use the website, you can copy this file to "wp-config.php"
 * and fill in the values.
 *
 * @link https://developer.wordpress.org/advanced-administration/wordpress/wp-config/
 *
 * @package WordPress
 */

// ** Database settings - You can get this info from your web host ** //
/** The name of the database for WordPress */
define( 'DB_NAME', 'database_name_here' );

/** Database username */
define( 'DB_USER', 'username_here' );

/** Database password */
define( 'DB_PASSWORD', 'password_here' );

/** Database hostname */
define( 'DB_HOST', 'localhost' );

/** Database charset to use in creating database tables. */
define( 'DB_CHARSET', 'utf8mb4' );

/** The database collate type. Don't change this if in doubt. */
define( 'DB_COLLATE', '' );

/**#@+
 * Authentication unique keys and salts.
 *
 * Change these to different unique phrases! You can generate these using
 * the {@link https://api.wordpress.org/secret-key/1.1/salt/ WordPress.org secret-key service}.
 *
 * @since 2.6.0
 */
define( 'AUTH_KEY',         'put your unique phrase here' );
define( 'SECURE_AUTH_KEY',  'put your unique phrase here' );
define( 'LOGGED_IN_KEY',    'put your unique phrase here' );
define( 'NONCE_KEY',        'put your unique phrase here' );
define( 'AUTH_SALT',        'put your unique phrase here' );
define( 'SECURE_AUTH_SALT', 'put your unique phrase here' );
define( 'LOGGED_IN_SALT',   'put your unique phrase here' );
define( 'NONCE_SALT',       'put your unique phrase here' );

/**#@-*/

/**
 * WordPress database table prefix.
 *
 * You can have multiple installations in one database if you give each
 * a unique prefix. Only numbers, letters, and underscores please!
 */
$table_prefix = 'wp_';

/**
 * For developers: WordPress debugging mode.
 *
 * @link https://developer.wordpress.org/advanced-administration/debug/debug-wordpress/
 */
define( 'WP_DEBUG', false );

/* Add any custom values between this line and the "stop editing" line. */



/* That's all, stop editing! Happy publishing. */

/** Absolute path to the WordPress directory. */
if ( ! defined( 'ABSPATH' ) ) {
\tdefine( 'ABSPATH', __DIR__ . '/' );
}

/** Sets up WordPress vars and included files. */
require_once ABSPATH . 'wp-settings.php';
"""

DOCKER_CONFIG = """<?php
/**
 * The base configuration for WordPress
 *
 * This has been slightly modified (to read environment variables) for use in Docker.
 */

// a helper function to lookup "env_FILE", "env", then fallback
if (!function_exists('getenv_docker')) {
\t// https://github.com/docker-library/wordpress/issues/588 (WP-CLI will load this file 2x)
\tfunction getenv_docker($env, $default) {
\t\tif ($fileEnv = getenv($env . '_FILE')) {
\t\t\treturn rtrim(file_get_contents($fileEnv), "\\r\\n");
\t\t}
\t\telse if (($val = getenv($env)) !== false) {
\t\t\treturn $val;
\t\t}
\t\telse {
\t\t\treturn $default;
\t\t}
\t}
}

// ** Database settings - You can get this info from your web host ** //
/** The name of the database for WordPress */
define( 'DB_NAME', getenv_docker('WORDPRESS_DB_NAME', 'wordpress') );

/** Database username */
define( 'DB_USER', getenv_docker('WORDPRESS_DB_USER', 'example username') );

/** Database password */
define( 'DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', 'example password') );

/** Database hostname */
define( 'DB_HOST', getenv_docker('WORDPRESS_DB_HOST', 'mysql') );

/** Database charset to use in creating database tables. */
define( 'DB_CHARSET', getenv_docker('WORDPRESS_DB_CHARSET', 'utf8') );

/** The database collate type. Don't change this if in doubt. */
define( 'DB_COLLATE', getenv_docker('WORDPRESS_DB_COLLATE', '') );

define( 'AUTH_KEY',         getenv_docker('WORDPRESS_AUTH_KEY',         'put your unique phrase here') );
define( 'NONCE_SALT',       getenv_docker('WORDPRESS_NONCE_SALT',       'put your unique phrase here') );

/**
 * WordPress database table prefix.
 */
$table_prefix = getenv_docker('WORDPRESS_TABLE_PREFIX', 'wp_');

define( 'WP_DEBUG', !!getenv_docker('WORDPRESS_DEBUG', '') );

/* Add any custom values between this line and the "stop editing" line. */

// If we're behind a proxy server and using HTTPS, we need to alert WordPress of that fact
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
\t$_SERVER['HTTPS'] = 'on';
}

if ($configExtra = getenv_docker('WORDPRESS_CONFIG_EXTRA', '')) {
\teval($configExtra);
}

/* That's all, stop editing! Happy publishing. */

/** Absolute path to the WordPress directory. */
if ( ! defined( 'ABSPATH' ) ) {
\tdefine( 'ABSPATH', __DIR__ . '/' );
}

/** Sets up WordPress vars and included files. */
require_once ABSPATH . 'wp-settings.php';
"""


# --- whole files -----------------------------------------------------------


def test_wordpress_6_sample_config_yields_all_settings():
    cfg = parse(WP6_SAMPLE)
    assert cfg.path == PATH
    assert cfg.get("DB_NAME", HINT) == "database_name_here"
    assert cfg.get("DB_USER", HINT) == "username_here"
    assert cfg.get("DB_PASSWORD", HINT) == "password_here"
    assert cfg.get("DB_HOST", HINT) == "localhost"
    assert cfg.get("DB_CHARSET", HINT) == "utf8mb4"
    assert cfg.get("DB_COLLATE", HINT) == ""
    assert cfg.get("NONCE_SALT", HINT) == "put your unique phrase here"
    assert cfg.get("WP_DEBUG", HINT) is False
    assert cfg.table_prefix == "wp_"
    # wp-load.php defines ABSPATH before it loads wp-config.php: the sample's own define is skipped
    assert cfg.unresolved == {} and "ABSPATH" not in cfg.constants


def test_docker_config_uses_defaults_when_environment_is_unset():
    cfg = parse(DOCKER_CONFIG, environ={})
    assert cfg.constants["DB_NAME"] == "wordpress"
    assert cfg.constants["DB_USER"] == "example username"
    assert cfg.constants["DB_PASSWORD"] == "example password"
    assert cfg.constants["DB_HOST"] == "mysql"
    assert cfg.constants["DB_COLLATE"] == ""
    assert cfg.constants["WP_DEBUG"] is False
    assert cfg.table_prefix == "wp_"
    assert cfg.unresolved == {}


def test_docker_config_reads_values_from_environment_when_set():
    env = {
        "WORDPRESS_DB_HOST": "db:3307",
        "WORDPRESS_DB_PASSWORD": "s3cret",
        "WORDPRESS_DB_COLLATE": "",
        "WORDPRESS_TABLE_PREFIX": "site2_",
        "WORDPRESS_DEBUG": "1",
    }
    cfg = parse(DOCKER_CONFIG, environ=env)
    assert cfg.constants["DB_HOST"] == "db:3307"
    assert cfg.constants["DB_PASSWORD"] == "s3cret"
    assert cfg.constants["DB_COLLATE"] == ""
    assert cfg.constants["DB_NAME"] == "wordpress"
    assert cfg.constants["WP_DEBUG"] is True
    assert cfg.table_prefix == "site2_"


def test_docker_config_reads_secret_from_file_named_by_underscore_file_variable(tmp_path):
    secret = tmp_path / "db_password"
    secret.write_text("from-file\r\n")
    cfg = parse(DOCKER_CONFIG, environ={"WORDPRESS_DB_PASSWORD_FILE": str(secret)})
    assert cfg.constants["DB_PASSWORD"] == "from-file"


def test_docker_function_body_defines_are_not_counted():
    cfg = php("function f() { define('INSIDE', 1); $table_prefix = 'no_'; }\n"
              "define('OUTSIDE', 2);")
    assert cfg.constants == {"OUTSIDE": 2}
    assert cfg.table_prefix is None


def test_getenv_resolves_from_environment_and_is_unresolvable_when_unset():
    text = "define('A', getenv('MY_A')); define('B', getenv('MY_B'));"
    cfg = parse("<?php " + text, environ={"MY_A": "alpha"})
    assert cfg.constants["A"] == "alpha"
    assert cfg.unresolved["B"] == "getenv('MY_B')"


def test_env_and_server_superglobals_read_from_environment():
    text = "<?php define('A', $_ENV['X']); define('B', $_SERVER[\"Y\"]); define('C', $_ENV['Z']);"
    cfg = parse(text, environ={"X": "x", "Y": "y"})
    assert cfg.constants == {"A": "x", "B": "y"}
    assert "C" in cfg.unresolved


def test_read_wp_config_reads_file_and_replaces_bad_utf8(tmp_path):
    path = tmp_path / "wp-config.php"
    path.write_bytes(b"<?php define('DB_NAME', 'caf\xe9');")
    cfg = read_wp_config(path, environ={})
    assert cfg.path == path
    assert cfg.constants["DB_NAME"] == "caf\ufffd"


def test_read_wp_config_missing_file_is_one_line_config_error(tmp_path):
    path = tmp_path / "nope" / "wp-config.php"
    with pytest.raises(ConfigError) as err:
        read_wp_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_read_wp_config_directory_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="directory"):
        read_wp_config(tmp_path)


# --- size and file kind -------------------------------------------------------


def test_wp_config_over_1_mib_is_refused_from_its_size_without_reading_it(tmp_path):
    path = tmp_path / "wp-config.php"
    with path.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB that reading would have to go through
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        read_wp_config(path, environ={})
    assert time.perf_counter() - started < 1.0
    assert str(err.value) == f"{path} is larger than the 1 MiB limit for configuration files ({1 << 30} bytes)"


def test_wp_config_of_just_under_1_mib_is_read(tmp_path):
    path = tmp_path / "wp-config.php"
    head = b"<?php define('DB_NAME', 'blog');\n"
    path.write_bytes(head + b"#" * ((1 << 20) - len(head)))
    assert read_wp_config(path, environ={}).constants == {"DB_NAME": "blog"}


def _in_a_thread(call):
    """The outcome of ``call`` within 5 s (a blocking open would hang the test run)."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    assert outcome, "blocked"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_wp_config_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "wp-config.php"
    os.mkfifo(path)
    result = _in_a_thread(lambda: read_wp_config(path, environ={}))
    assert isinstance(result, ConfigError)
    assert str(result) == f"cannot read {path}: it is not a regular file"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_wp_config_that_is_a_device_is_refused(tmp_path):
    link = tmp_path / "wp-config.php"
    link.symlink_to("/dev/zero")
    result = _in_a_thread(lambda: read_wp_config(link, environ={}))
    assert isinstance(result, ConfigError) and "not a regular file" in str(result)


def test_agent_refuses_an_oversized_wp_config_with_one_line_and_exit_3(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    config = root / "wp-config.php"
    with config.open("a") as handle:
        for i in range(40_000):  # about 2 MiB of define() lines
            handle.write(f"define( 'EXTRA_CONSTANT_{i:05d}', 'padding padding padding' );\n")
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env, timeout=30)
    assert result.returncode == 3, (result.returncode, result.stderr)
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert str(config) in message and "1 MiB" in message
    assert result.stdout == ""


# --- comments, tags, statements --------------------------------------------


@pytest.mark.parametrize(
    "hidden",
    [
        "// define('HIDDEN', 1);",
        "# define('HIDDEN', 1);",
        "/* define('HIDDEN', 1); */",
        "/** define('HIDDEN', 1); */",
        "/*\n define('HIDDEN', 1);\n*/",
        "#[Attribute] define('HIDDEN', 1);",
    ],
)
def test_commented_out_define_is_ignored(hidden):
    cfg = php(hidden + "\ndefine('SHOWN', 2);")
    assert cfg.constants == {"SHOWN": 2}


def test_close_tag_ends_line_comment_and_inline_html_is_skipped():
    cfg = parse("<?php // comment ?> define('HTML', 1); <?php define('CODE', 2);")
    assert cfg.constants == {"CODE": 2}


def test_text_before_open_tag_is_ignored():
    cfg = parse("define('NOPE', 1);\n<html><?php define('YES', 1); ?>tail define('NOPE2', 1);")
    assert cfg.constants == {"YES": 1}


def test_file_without_closing_tag_is_parsed_to_the_end():
    cfg = parse("<?php\ndefine('A', 'a');\n$table_prefix = 'x_';")
    assert cfg.constants == {"A": "a"}
    assert cfg.table_prefix == "x_"


def test_file_without_open_tag_defines_nothing():
    assert parse("define('A', 1);").constants == {}


def test_several_statements_on_one_line():
    cfg = php("define('A', 1); define('B', 2);define('C',3); $table_prefix='p_';")
    assert cfg.constants == {"A": 1, "B": 2, "C": 3}
    assert cfg.table_prefix == "p_"


def test_odd_spacing_case_and_namespace_prefix_of_define():
    cfg = php("DEFINE  (\n\t'A' ,\n  'a'\n)\n;\\define('B','b');Define ( \"C\",'c', true );")
    assert cfg.constants == {"A": "a", "B": "b", "C": "c"}


def test_conditional_forms_of_define_count_and_first_definition_wins():
    cfg = php(
        "defined('X') or define('X', 'first');\n"
        "if ( ! defined( 'X' ) ) { define( 'X', 'second' ); }\n"
        "define('X', 'third');"
    )
    assert cfg.constants == {"X": "first"}


def test_method_or_static_call_named_define_is_not_a_define():
    cfg = php("$o->define('A', 1); Foo::define('B', 2); define('C', 3);")
    assert cfg.constants == {"C": 3}


def test_class_body_is_skipped():
    cfg = php("class Foo { function bar() { define('A', 1); } }\ndefine('B', Foo::class);")
    assert cfg.constants == {}
    assert cfg.unresolved == {"B": "Foo::class"}


# --- literals ----------------------------------------------------------------


def test_single_quoted_escapes_only_backslash_and_quote():
    cfg = php(r"define('A', 'it\'s a \\ and \n \x41');")
    assert cfg.constants["A"] == "it's a \\ and \\n \\x41"


def test_double_quoted_escapes_are_decoded():
    cfg = php(r'define("A", "q\" \\ \$ \n\t\r\v\e\f \101\x42\u{e9}\u{1F600} \0 \q");')
    assert cfg.constants["A"] == 'q" \\ $ \n\t\r\v\x1b\f AB\u00e9\U0001F600 \x00 \\q'


def test_double_quoted_byte_escapes_form_utf8():
    cfg = php(r'define("A", "caf\xc3\xa9");')
    assert cfg.constants["A"] == "caf\u00e9"


@pytest.mark.parametrize(
    "literal",
    ['"pre $var post"', '"pre {$a[\'k\']} post"', '"pre ${name} post"', '"x {$o->f("y")} z"'],
)
def test_double_quoted_interpolation_is_unresolvable_not_an_error(literal):
    cfg = php(f"define('A', {literal}); define('B', 'b');")
    assert cfg.unresolved["A"] == literal
    assert cfg.constants == {"B": "b"}


def test_dollar_and_brace_not_starting_interpolation_are_literal():
    assert php('define("A", "cost $5 {x} $");').constants["A"] == "cost $5 {x} $"


def test_heredoc_and_nowdoc_are_unresolvable_and_parsing_continues():
    cfg = php(
        "define('A', <<<EOT\nline $x\n  EOT);\n"
        "define('B', <<<'NOW'\nraw\nNOW\n);\n"
        "define('C', 'c');"
    )
    assert set(cfg.unresolved) == {"A", "B"}
    assert cfg.constants == {"C": "c"}


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("3.5", 3.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("0x1F", 31),
        ("0b101", 5),
        ("0755", 493),
        ("1_000", 1000),
        ("true", True),
        ("TRUE", True),
        ("False", False),
        ("null", None),
        ("NULL", None),
        ("(  'x' )", "x"),
        ("!0", True),
    ],
)
def test_scalar_literals(literal, value):
    cfg = php(f"define('A', {literal});")
    assert cfg.constants["A"] == value and type(cfg.constants["A"]) is type(value)


def test_constant_referring_to_earlier_constant_resolves():
    cfg = php("define('WP_SITEURL', 'https://example.com'); define('WP_HOME', WP_SITEURL);"
              "define('API', WP_HOME . '/wp-json');")
    assert cfg.constants["WP_HOME"] == "https://example.com"
    assert cfg.constants["API"] == "https://example.com/wp-json"


def test_string_concatenation_is_evaluated():
    assert php("define('A', 'wp' . '_' . 1 . \"x\");").constants["A"] == "wp_1x"


def test_constant_name_given_by_double_quoted_string_or_constant():
    cfg = php("define('N', 'REAL'); define(N, 1); define(\"D\", 2);")
    assert cfg.constants == {"N": "REAL", "REAL": 1, "D": 2}


# --- unresolvable expressions ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("$x . 'y'", "$x . 'y'"),
        ("$_SERVER['DOCUMENT_ROOT'] . '/'", "$_SERVER['DOCUMENT_ROOT'] . '/'"),
        ("realpath(__DIR__) . '/'", "realpath(__DIR__) . '/'"),
        ("1 + 2", "1 + 2"),
        ("$a ? 'b' : 'c'", "$a ? 'b' : 'c'"),
        ("UNDEFINED_CONST", "UNDEFINED_CONST"),
        ("strtolower('A')", "strtolower('A')"),
        ("array(1, 2)", "array(1, 2)"),
        ("`whoami`", "`whoami`"),
        ("'a'  .\n   $b", "'a' . $b"),
    ],
)
def test_unresolvable_expression_is_recorded_and_named_by_get(expression, shown):
    cfg = php(f"define('DB_HOST', {expression});\ndefine('DB_NAME', 'wp');")
    assert cfg.unresolved["DB_HOST"] == shown
    assert cfg.get("DB_NAME", HINT) == "wp"
    with pytest.raises(ConfigError) as err:
        cfg.get("DB_HOST", HINT)
    assert str(err.value) == (
        f"DB_HOST in {PATH} is an expression that cannot be read without PHP (`{shown}`); {HINT}"
    )


def test_unresolvable_password_expression_never_shows_literals():
    cfg = php("define('DB_PASSWORD', 'hunter2' . $suffix . 12345);")
    with pytest.raises(ConfigError) as err:
        cfg.get("DB_PASSWORD", "set IGNY8_DB_PASSWORD")
    message = str(err.value)
    assert "hunter2" not in message and "12345" not in message
    assert "$suffix" in message


def test_constant_built_from_unresolved_constant_is_unresolved():
    cfg = php("define('BASE', $dir); define('UP', BASE . '/uploads');")
    assert set(cfg.unresolved) == {"BASE", "UP"}


def test_get_missing_name_raises_with_hint_or_returns_default():
    cfg = php("define('A', 1);")
    with pytest.raises(ConfigError) as err:
        cfg.get("DB_NAME", "set IGNY8_DB_NAME or --db-name")
    assert str(err.value) == f"DB_NAME is not defined in {PATH}; set IGNY8_DB_NAME or --db-name"
    assert cfg.get("DB_NAME", "hint", default=None) is None
    assert cfg.get("DB_NAME", "hint", default="x") == "x"


def test_get_unresolved_raises_even_with_default():
    cfg = php("define('A', $x);")
    with pytest.raises(ConfigError):
        cfg.get("A", "hint", default="fallback")


# --- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "what", "line"),
    [
        ("define('A', 1);\ndefine('B', 'open);\n", "string", 3),
        ('\n\ndefine("B", "open);', "string", 4),
        ("/* never closed\ndefine('A', 1);", "comment", 2),
        ("define('A', <<<EOT\nbody\n", "heredoc", 2),
        ("define('A', `ls);", "string", 2),
        ('define("A", "x {$a[\'k]} y");', "string", 2),
    ],
)
def test_unterminated_literal_is_one_line_parse_error_with_line_number(body, what, line):
    with pytest.raises(ParseError) as err:
        php(body)
    assert str(err.value) == f"{PATH}: unterminated {what} starting at line {line}"


def test_unclosed_define_call_is_parse_error():
    with pytest.raises(ParseError, match=r"define\( at line 2 is not closed"):
        php("define('A', 'a';\n")


def test_invalid_unicode_escape_is_parse_error():
    with pytest.raises(ParseError, match="line 2"):
        php(r'define("A", "\u{110000}");')


def test_missing_semicolon_between_statements_names_file_line_and_what_was_expected():
    with pytest.raises(ParseError) as err:
        php("define('DB_NAME', 'blog')\ndefine('DB_USER', 'u');\n")
    assert str(err.value) == (
        f"{PATH}: syntax error on line 3: unexpected `define`, expected ';' at the end of line 2"
    )


@pytest.mark.parametrize(
    "body",
    [
        "$table_prefix = 'wp_'\ndefine('A', 1);",
        "define('A', 1)\n$table_prefix = 'wp_';",
        "define('A', 1)\nrequire_once ABSPATH . 'wp-settings.php';",
        "define('A', 1)\nif (true) {}",
        "if (true) { define('A', 1) }",
        "define('A', 1)",
        "if (true): define('A', 1); endif",
    ],
)
def test_missing_semicolon_in_any_walked_position_is_a_syntax_error(body):
    with pytest.raises(ParseError, match=r"syntax error on line \d+: unexpected .*, expected ';'"):
        php(body)


def test_broken_quote_is_reported_where_it_breaks_not_where_a_later_string_stays_open():
    # PHP sees 'it' then the word s: the quote inside the password ends the string.
    text = "define('DB_USER', 'u');\ndefine('DB_PASSWORD', 'it's');\ndefine('DB_HOST', 'localhost');\n"
    with pytest.raises(ParseError) as err:
        php(text)
    assert str(err.value) == f"{PATH}: syntax error on line 3: unexpected identifier, expected ',' or ')'"


def test_broken_quote_that_pairs_up_with_a_later_one_is_still_a_syntax_error():
    with pytest.raises(ParseError, match="line 2: unexpected identifier"):
        php("define('DB_PASSWORD', 'pa'ss'wd');\ndefine('DB_HOST', 'localhost');")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("define('A', 1));", "line 2: unexpected ')', expected ';'"),
        ("define('A', [1, 2);", "line 2: unexpected ')', expected ',' or ']'"),
        ("if (true) {\ndefine('A', 1);", "line 2: '{' is not closed (expected '}' before the end of the file)"),
        ("define('A', 1); }", "line 2: unexpected '}', expected ';'"),
        ("else { define('A', 1); }", "line 2: unexpected `else`, expected a statement"),
        ("if (true): define('A', 1); endwhile;", "line 2: unexpected `endwhile`, expected a statement"),
        ("if true { }", "line 2: unexpected identifier, expected '(' after `if`"),
        ("define('A', 'x' 'y');", "line 2: unexpected string, expected ',' or ')'"),
    ],
)
def test_other_syntax_errors_name_the_line_and_what_was_expected(body, message):
    with pytest.raises(ParseError) as err:
        php(body)
    assert str(err.value) == f"{PATH}: syntax error on {message}"


VALID_PHP = [
    "define('A', 1) ?>\n<p>html</p><?php define('B', 2);",
    "$f = function ($x) use ($y): ?string { return $x; }; $g = static fn(int $x): int => $x * 2;",
    "$v = match (true) { $a instanceof B => 1, default => 2 };",
    "$o = new class(1) extends Base implements I { public int $x = 1; private ?Foo $f; };",
    "$a = (int) '5'; $b = (string)$x; $c = ( bool ) $y; $d = (array) $z;",
    "function typed(int $a, ?Foo &$b = null, string ...$rest): static|null { static $n = 0; global $wpdb; }",
    "abstract class C { abstract protected function f(): void; public function __construct(private readonly int $x) {} }",
    "enum Suit: string { case Hearts = 'H'; case Spades = 'S'; }",
    "namespace App\\Config; use Foo\\Bar as Baz, Qux; use function strlen; const LIMIT = 5;",
    "declare(strict_types=1); goto end; end: echo 'x', PHP_EOL; print 'y';",
    "try { $x = 1; } catch (RuntimeException | LogicException $e) { } finally { $y = 2; }",
    "foreach ($a as $k => &$v): endforeach; while (false): endwhile; for ($i = 0; $i < 3; $i++): endfor;",
    "switch ($x): case 1: case 'b'; break; default: echo 1; endswitch;",
    "do { $i++; } while ($i < 3); if ($a) $b = 1; elseif ($c) $b = 2; else $b = 3;",
    "$s = <<<EOT\nhello {$name}\nEOT;\n$t = <<<'NOW'\nraw\nNOW;\n$u = b'bytes' . B\"more\";",
    "$x = $obj?->prop?->method(named: 1, other: 'two') ?? Foo::BAR ?: $arr['k'][0]::class;",
    "list($a, , $b) = [1, 2, 3]; [$c, [$d]] = $e; $f = &$g; @$h; $i = $j <=> $k; $l **= 2; $m = ~$n;",
    "$x = $a and $b or $c xor $d; $y = !$z instanceof Foo; echo `ls`; $$name = ${'var'};",
    "define('A', 1); __halt_compiler(); binary garbage ' \" { ( [",
    "if (x()) { ?>inline html with ' and \"<?php } else { ?><?= $x ?><?php }",
]


@pytest.mark.parametrize("body", VALID_PHP)
def test_valid_php_is_not_rejected(body):
    assert isinstance(php(body), WPConfig)


def test_agent_reports_a_missing_semicolon_as_a_syntax_error_not_a_database_error(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    config = root / "wp-config.php"
    config.write_text(config.read_text().replace("define( 'DB_COLLATE', '' );", "define( 'DB_COLLATE', '' )"))
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert f"{config}: syntax error on line 9: unexpected variable, expected ';' at the end of line 8" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_agent_reports_a_broken_quote_on_its_own_line(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name, password="it's")
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "wp-config.php: syntax error on line 5: unexpected identifier" in result.stderr
    assert "access denied" not in result.stderr


def test_parse_error_is_a_config_error():
    assert issubclass(ParseError, ConfigError)


# --- table prefix ------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "prefix"),
    [
        ("$table_prefix = 'wp7x_';", "wp7x_"),
        ('$table_prefix="WP_";', "WP_"),
        ("$table_prefix\n  =\t'wp' . '_';", "wp_"),
        ("$table_prefix = 'a_'; $table_prefix = 'b_';", "b_"),
        ("$table_prefix = 'a'; $table_prefix .= '_';", "a_"),
        ("$table_prefix = $x . '_';", None),
        ("$table_prefix = 'a_'; $table_prefix = getenv('NOPE');", None),
        ("$table_prefix == 'no_';", None),
        ("", None),
    ],
)
def test_table_prefix_forms(statement, prefix):
    assert php(statement).table_prefix == prefix


# --- find_wordpress ----------------------------------------------------------


def make_root(directory: Path, config: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "wp-settings.php").write_text("<?php\n")
    (directory / "wp-load.php").write_text("<?php\n")
    (directory / "wp-content" / "plugins").mkdir(parents=True)
    if config:
        (directory / "wp-config.php").write_text("<?php\n")
    return directory


def test_find_wordpress_with_config_in_root(tmp_path):
    root = make_root(tmp_path / "site")
    assert find_wordpress(root) == (root.resolve(), (root / "wp-config.php").resolve())


def test_find_wordpress_walks_up_from_subdirectory(tmp_path):
    root = make_root(tmp_path / "site")
    found_root, config = find_wordpress(root / "wp-content" / "plugins")
    assert found_root == root.resolve()
    assert config == (root / "wp-config.php").resolve()


def test_find_wordpress_uses_config_in_parent_directory(tmp_path):
    root = make_root(tmp_path / "site" / "public", config=False)
    (tmp_path / "site" / "wp-config.php").write_text("<?php\n")
    assert find_wordpress(root) == (root.resolve(), (tmp_path / "site" / "wp-config.php").resolve())


def test_find_wordpress_ignores_parent_config_when_parent_is_itself_wordpress(tmp_path):
    outer = make_root(tmp_path / "outer")
    inner = make_root(outer / "blog", config=False)
    with pytest.raises(ConfigError) as err:
        find_wordpress(inner)
    message = str(err.value)
    assert str(inner.resolve()) in message and str(outer.resolve()) in message
    assert "\n" not in message


def test_find_wordpress_root_without_any_config_names_both_places(tmp_path):
    root = make_root(tmp_path / "site", config=False)
    with pytest.raises(ConfigError) as err:
        find_wordpress(root)
    assert str(root.resolve()) in str(err.value) and str(tmp_path.resolve() / "site") in str(err.value)
    assert str(tmp_path.resolve()) in str(err.value)


def test_find_wordpress_accepts_config_only_start_directory(tmp_path):
    (tmp_path / "wp-config.php").write_text("<?php\n")
    assert find_wordpress(tmp_path) == (tmp_path.resolve(), (tmp_path / "wp-config.php").resolve())


def test_find_wordpress_accepts_wp_load_only_root(tmp_path):
    (tmp_path / "wp-load.php").write_text("<?php\n")
    (tmp_path / "wp-config.php").write_text("<?php\n")
    (tmp_path / "sub").mkdir()
    assert find_wordpress(tmp_path / "sub")[0] == tmp_path.resolve()


def test_find_wordpress_not_found(tmp_path):
    start = tmp_path / "empty"
    start.mkdir()
    with pytest.raises(ConfigError) as err:
        find_wordpress(start)
    assert str(err.value) == (
        f"no WordPress installation found in {start.resolve()} or above; use --path or IGNY8_WP_PATH"
    )


# --- parse_db_host -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("db.example.com", DbAddress("db.example.com", 3306, None)),
        ("db:3307", DbAddress("db", 3307, None)),
        ("127.0.0.1", DbAddress("127.0.0.1", 3306, None)),
        ("127.0.0.1:33060", DbAddress("127.0.0.1", 33060, None)),
        ("p:db:3308", DbAddress("db", 3308, None)),
        ("P:db", DbAddress("db", 3306, None)),
        ("  mysql_1  ", DbAddress("mysql_1", 3306, None)),
        ("[::1]:3306", DbAddress("::1", 3306, None)),
        ("[::1]", DbAddress("::1", 3306, None)),
        ("[2001:db8::5]:3310", DbAddress("2001:db8::5", 3310, None)),
        ("::1", DbAddress("::1", 3306, None)),
        ("db:/var/run/mysqld/mysqld.sock", DbAddress(None, 3306, "/var/run/mysqld/mysqld.sock")),
        ("localhost:/run/x.sock", DbAddress(None, 3306, "/run/x.sock")),
        ("p:localhost:/run/x.sock", DbAddress(None, 3306, "/run/x.sock")),
        (":/tmp/mysql.sock", DbAddress(None, 3306, "/tmp/mysql.sock")),
    ],
)
def test_db_host_forms(value, expected):
    assert parse_db_host(value, socket_candidates=()) == expected


@pytest.mark.parametrize("value", ["localhost", "LocalHost", "localhost:3306", "p:localhost"])
def test_localhost_uses_first_existing_socket_candidate(tmp_path, value):
    sock = tmp_path / "mysqld.sock"
    sock.write_text("")
    candidates = [str(tmp_path / "missing.sock"), str(sock), str(tmp_path)]
    assert parse_db_host(value, socket_candidates=candidates) == DbAddress(None, 3306, str(sock))


def test_localhost_without_socket_falls_back_to_tcp_loopback_with_port(tmp_path):
    missing = [str(tmp_path / "none.sock")]
    assert parse_db_host("localhost", missing) == DbAddress("127.0.0.1", 3306, None)
    assert parse_db_host("localhost:3307", missing) == DbAddress("127.0.0.1", 3307, None)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "p:", "host:port:x", "[::1", "[::1]x", "[]", "db:abc", "db:0", "db:65536",
     "db:-1", "db:", ":3306", "db host", "db/x", "zz::gg", "db:\u00b2"],
)
def test_bad_db_host_is_one_line_config_error_naming_db_host(value):
    with pytest.raises(ConfigError) as err:
        parse_db_host(value, socket_candidates=())
    assert str(err.value).startswith("DB_HOST ")
    assert "\n" not in str(err.value)


# --- robustness --------------------------------------------------------------

FRAGMENTS = [
    "<?php ", "?>", "<?=", "define", "DEFINE", "\\define", "(", ")", ",", ";", "{", "}", "[", "]",
    "'", '"', "\\", "\\'", '\\"', "'DB_HOST'", "'x'", '"a$b"', '"{$', "${", "$", "$table_prefix",
    "=", ".=", ".", "!", "-", "+", "1", "0x", "1.5e", "true", "null", "__DIR__", "getenv",
    "getenv_docker", "$_ENV", "function", "class", "if", "defined", "/*", "*/", "//", "#", "#[",
    "\n", " ", "<<<EOT\n", "<<<'N'\n", "EOT", "N", "`", "\\u{", "\\x", "\\7", "->", "::", "é",
]


@settings(max_examples=300, deadline=timedelta(milliseconds=500))
@given(
    st.one_of(
        st.text(),
        st.text().map(lambda s: "<?php " + s),
        st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(lambda xs: "<?php " + "".join(xs)),
    )
)
def test_any_input_parses_or_raises_config_error(text):
    try:
        result = parse_wp_config(text, PATH, environ={})
    except ConfigError as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(result, WPConfig)
        assert all(isinstance(name, str) for name in result.constants)


@pytest.mark.parametrize(
    "expression",
    ["-" * 5000 + "1", "!" * 5000 + "1", "(" * 5000 + "1" + ")" * 5000,
     "getenv(" * 3000 + "'X'" + ")" * 3000],
)
def test_deeply_nested_expression_is_unresolvable_not_a_crash(expression):
    cfg = php(f"define('A', {expression}); define('B', 2);")
    assert "A" in cfg.unresolved and cfg.constants == {"B": 2}


@pytest.mark.parametrize(
    "chunk",
    ["(", "define(", "-", "!", '"{$', "'a'.", "/**/", "function f(", "{", "<<<A\nx\n", "\\x", "# c\n"],
)
def test_large_pathological_input_finishes_quickly(chunk):
    text = "<?php define('A', " + chunk * 20000
    started = time.perf_counter()
    try:
        parse_wp_config(text, PATH, environ={})
    except ConfigError:
        pass
    assert time.perf_counter() - started < 2.0
