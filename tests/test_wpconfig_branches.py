"""wp-config.php read as PHP runs it: conditional defines, local-override
includes and twelve-factor environment lookups.

A ``define()`` or ``$table_prefix`` whose branch can be decided statically
gets the value PHP would give it; one whose branch cannot be decided is an
error naming the constant and its override, but only when asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import DB_HOST, DB_PASSWORD, DB_PORT, DB_USER, run_agent, write_wp_config
from igny8_agent.errors import ConfigError
from igny8_agent.wpconfig import WPConfig, parse_wp_config, read_wp_config

PATH = Path("/srv/www/wp-config.php")
HINT = "set IGNY8_DB_NAME or --db-name"
HOST_IS_STAGING = "isset($_SERVER['HTTP_HOST']) && $_SERVER['HTTP_HOST'] === 'staging.example.com'"


def php(body: str, environ=None) -> WPConfig:
    return parse_wp_config("<?php\n" + body, PATH, environ={} if environ is None else environ)


def site_root(tmp_path: Path) -> Path:
    """A WordPress root (core marker files) with nothing else in it."""
    root = tmp_path / "site"
    root.mkdir(parents=True)
    (root / "wp-settings.php").write_text("<?php // core\n")
    (root / "wp-load.php").write_text("<?php // core\n")
    return root


def config_file(root: Path, body: str) -> Path:
    path = root / "wp-config.php"
    path.write_text("<?php\n" + body)
    return path


# --- branches that cannot be decided ------------------------------------------


def test_define_under_a_request_condition_is_an_error_naming_constant_and_override():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('DB_NAME', 'staging'); }} else {{ define('DB_NAME', 'blog'); }}\n"
              "define('DB_USER', 'u');")
    assert "DB_NAME" not in cfg.constants
    with pytest.raises(ConfigError) as err:
        cfg.get("DB_NAME", HINT)
    message = str(err.value)
    assert message.startswith(f"DB_NAME in {PATH} depends on the condition `isset($_SERVER['HTTP_HOST'])")
    assert "on line 2" in message and message.endswith(HINT) and "\n" not in message


def test_undecided_constant_raises_even_with_a_default():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('DB_PASSWORD', 'x'); }}")
    with pytest.raises(ConfigError, match="DB_PASSWORD .* depends on"):
        cfg.get("DB_PASSWORD", "set IGNY8_DB_PASSWORD", default="")


def test_undecided_constants_nobody_asks_for_are_not_errors():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('WP_DEBUG', true); }}\ndefine('DB_NAME', 'blog');")
    assert cfg.get("DB_NAME", HINT) == "blog"
    assert set(cfg.undecided) == {"WP_DEBUG"}


def test_define_after_an_undecided_define_of_the_same_name_stays_undecided():
    # the first definition wins in PHP: which one that is depends on the branch
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('DB_NAME', 'staging'); }}\ndefine('DB_NAME', 'blog');")
    assert "DB_NAME" in cfg.undecided and "DB_NAME" not in cfg.constants


def test_defined_check_against_an_undecided_constant_is_undecided():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('DB_HOST', 'a'); }}\n"
              "defined('DB_HOST') or define('DB_HOST', 'b');\n"
              "if (!defined('DB_HOST')) { define('DB_HOST', 'c'); }")
    assert "DB_HOST" in cfg.undecided


def test_table_prefix_in_an_undecided_branch_is_unset_and_named():
    cfg = php(f"$table_prefix = 'wp_';\nif ({HOST_IS_STAGING}) {{ $table_prefix = 'stg_'; }}")
    assert cfg.table_prefix is None
    with pytest.raises(ConfigError, match=r"\$table_prefix .* depends on the condition"):
        cfg.get("$table_prefix", "set IGNY8_TABLE_PREFIX or --table-prefix")


def test_later_unconditional_table_prefix_decides_it_again():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ $table_prefix = 'stg_'; }}\n$table_prefix = 'wp_';")
    assert cfg.table_prefix == "wp_" and "$table_prefix" not in cfg.undecided


@pytest.mark.parametrize(
    "body",
    [
        "while ($i < 3) { define('DB_NAME', 'x'); }",
        "foreach ($sites as $s) { define('DB_NAME', $s); }",
        "for ($i = 0; $i < 1; $i++) { define('DB_NAME', 'x'); }",
        "switch ($env) { case 'a': define('DB_NAME', 'x'); break; }",
        "try { $a = 1; } catch (Exception $e) { define('DB_NAME', 'x'); }",
        "$ok or define('DB_NAME', 'x');",
        "$ok ? define('DB_NAME', 'x') : null;",
        "some_function(function () { define('DB_NAME', 'x'); });",
    ],
)
def test_defines_in_loops_switches_catch_blocks_and_unknown_operands_are_undecided(body):
    cfg = php(body)
    assert "DB_NAME" in cfg.undecided and "DB_NAME" not in cfg.constants


def test_define_inside_a_declared_function_is_not_counted_but_calling_it_is_opaque():
    cfg = php("function setup() { define('DB_NAME', 'x'); }\nsetup();")
    assert cfg.constants == {} and cfg.undecided == {}
    with pytest.raises(ConfigError, match=r"may be set by the call to setup\(\) on line 3"):
        cfg.get("DB_NAME", HINT)


# --- branches decided statically ---------------------------------------------


@pytest.mark.parametrize(
    ("condition", "taken"),
    [("0", False), ("false", False), ("FALSE", False), ("''", False), ("'0'", False), ("null", False),
     ("1", True), ("true", True), ("!0", True), ("(true)", True), ("'yes'", True)],
)
def test_literal_conditions_are_decided(condition, taken):
    cfg = php(f"if ({condition}) {{ define('DB_NAME', 'then'); $table_prefix = 't_'; }}"
              " else { define('DB_NAME', 'else'); $table_prefix = 'e_'; }")
    assert cfg.constants["DB_NAME"] == ("then" if taken else "else")
    assert cfg.table_prefix == ("t_" if taken else "e_")
    assert cfg.undecided == {}


def test_table_prefix_inside_if_zero_is_never_assigned():
    cfg = php("$table_prefix = 'wp_';\nif (0) {\n  $table_prefix = 'old_';\n}")
    assert cfg.table_prefix == "wp_"


def test_defined_is_decided_against_constants_seen_so_far():
    cfg = php("define('WP_ENV_LOCAL', true);\n"
              "if (defined('WP_ENV_LOCAL')) { define('DB_NAME', 'local'); } else { define('DB_NAME', 'prod'); }\n"
              "if (!defined('NEVER')) { define('DB_USER', 'u'); }\n"
              "if (defined('NEVER')) { define('DB_HOST', 'h'); }")
    assert cfg.constants == {"WP_ENV_LOCAL": True, "DB_NAME": "local", "DB_USER": "u"}


def test_elseif_and_else_if_chains_take_the_first_true_branch():
    cfg = php("if (false) { define('A', 1); } elseif (defined('NOPE')) { define('A', 2); }"
              " elseif (true) { define('A', 3); } else { define('A', 4); }\n"
              "if (false) { define('B', 1); } else if (false) { define('B', 2); } else { define('B', 3); }")
    assert cfg.constants == {"A": 3, "B": 3}


def test_elseif_after_an_undecided_condition_is_undecided_even_if_true():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ define('A', 1); }} elseif (true) {{ define('A', 2); }}"
              " else { define('A', 3); }\ndefine('B', 'b');")
    assert "A" in cfg.undecided and cfg.constants == {"B": "b"}


def test_alternative_syntax_with_endif():
    cfg = php("if (false):\n  define('DB_NAME', 'a');\nelseif (!defined('X')):\n  define('DB_NAME', 'b');\n"
              "  $table_prefix = 'b_';\nelse:\n  define('DB_NAME', 'c');\nendif;\n")
    assert cfg.constants == {"DB_NAME": "b"} and cfg.table_prefix == "b_"


def test_single_statement_branches_and_dangling_else():
    cfg = php("if (false) define('A', 1); else define('A', 2);\n"
              "if (true) if (false) define('B', 1); else define('B', 2);")
    assert cfg.constants == {"A": 2, "B": 2}


def test_short_circuit_forms_decide_the_define():
    cfg = php("defined('A') or define('A', 1);\n!defined('A') && define('A', 2);\n"
              "defined('B') || define('B', 3);\ntrue ? define('C', 4) : define('C', 5);")
    assert cfg.constants == {"A": 1, "B": 3, "C": 4}


def test_branches_that_are_not_taken_are_still_checked_for_syntax():
    with pytest.raises(ConfigError, match="line 4: unexpected `define`, expected ';' or '}' at the end of line 3"):
        php("if (0) {\n  define('A', 1)\n  define('B', 2);\n}")


def test_exit_before_a_define_ends_the_walk_and_exit_in_an_undecided_branch_does_not():
    cfg = php(f"if ({HOST_IS_STAGING}) {{ exit; }}\ndefine('A', 1);\nexit;\ndefine('B', 2);")
    assert cfg.constants == {"A": 1}


# --- wp-config-sample, ABSPATH, wp-settings.php ---------------------------------


def test_abspath_is_defined_by_wp_load_before_wp_config_runs():
    cfg = php("if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', '/elsewhere/' );\n}\n"
              "define('CONTENT', ABSPATH . 'wp-content');")
    assert "ABSPATH" not in cfg.constants
    assert cfg.constants["CONTENT"] == "/srv/www/wp-content"


def test_dir_file_and_dirname_are_evaluated():
    cfg = php("define('A', __DIR__); define('B', __FILE__); define('C', dirname(__FILE__) . '/x');"
              "define('D', dirname(__DIR__)); define('E', dirname('/a/b/c/', 2)); define('F', dirname('/a'));")
    assert cfg.constants == {"A": "/srv/www", "B": "/srv/www/wp-config.php", "C": "/srv/www/x",
                             "D": "/srv", "E": "/a", "F": "/"}


def test_statements_after_wp_settings_are_not_read(tmp_path):
    root = site_root(tmp_path)
    (root / "wp-settings.php").write_text("<?php define('DB_NAME', 'from_core');")
    cfg = read_wp_config(config_file(root, "define('DB_USER', 'u');\n"
                                           "require_once ABSPATH . 'wp-settings.php';\n"
                                           "define('DB_NAME', 'too_late');\n"), environ={})
    assert cfg.constants == {"DB_USER": "u"} and cfg.opaque is None


def test_config_above_the_root_knows_abspath_is_defined_but_not_its_value(tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    path = config_file(outer, "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }\n"
                              "define('DB_NAME', 'blog');\nrequire_once ABSPATH . 'wp-settings.php';\n")
    cfg = read_wp_config(path, environ={})
    assert cfg.constants == {"DB_NAME": "blog"} and cfg.opaque is None
    named = read_wp_config(path, environ={}, root=outer / "public")
    assert named.constants == {"DB_NAME": "blog"}


# --- files: file_exists() and includes -----------------------------------------

LOCAL_OVERRIDE = (
    "if ( file_exists( __DIR__ . '/wp-config-local.php' ) ) {\n"
    "    include __DIR__ . '/wp-config-local.php';\n"
    "} else {\n"
    "    define( 'DB_NAME', 'production' );\n"
    "    define( 'DB_USER', 'prod' );\n"
    "}\n"
    "$table_prefix = 'wp_';\n"
    "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }\n"
    "require_once ABSPATH . 'wp-settings.php';\n"
)


def test_local_override_file_is_read_when_it_exists(tmp_path):
    root = site_root(tmp_path)
    path = config_file(root, LOCAL_OVERRIDE)
    (root / "wp-config-local.php").write_text("<?php\ndefine('DB_NAME', 'local');\ndefine('DB_USER', 'me');\n")
    cfg = read_wp_config(path, environ={})
    assert cfg.constants == {"DB_NAME": "local", "DB_USER": "me"}
    assert cfg.table_prefix == "wp_" and cfg.opaque is None and cfg.undecided == {}


def test_production_values_are_read_when_the_local_file_does_not_exist(tmp_path):
    cfg = read_wp_config(config_file(site_root(tmp_path), LOCAL_OVERRIDE), environ={})
    assert cfg.constants == {"DB_NAME": "production", "DB_USER": "prod"}


@pytest.mark.parametrize(
    "test",
    ["file_exists(dirname(__FILE__) . '/local.php')", "is_file(ABSPATH . 'local.php')",
     "is_readable(__DIR__ . '/local.php')", "@file_exists(dirname(__DIR__) . '/site/local.php')"],
)
def test_file_tests_on_paths_under_the_root_are_decided(tmp_path, test):
    root = site_root(tmp_path)
    body = f"if ({test}) {{ require_once __DIR__ . '/local.php'; }} else {{ define('DB_NAME', 'prod'); }}\n"
    path = config_file(root, body)
    assert read_wp_config(path, environ={}).constants == {"DB_NAME": "prod"}
    (root / "local.php").write_text("<?php define('DB_NAME', 'local');")
    assert read_wp_config(path, environ={}).constants == {"DB_NAME": "local"}


def test_is_file_of_a_directory_is_false(tmp_path):
    root = site_root(tmp_path)
    (root / "local.php").mkdir()
    path = config_file(root, "if (is_file(__DIR__ . '/local.php')) { define('A', 1); } else { define('A', 2); }")
    assert read_wp_config(path, environ={}).constants == {"A": 2}


def test_file_test_outside_the_root_parent_is_undecided(tmp_path):
    root = site_root(tmp_path)
    path = config_file(root, "if (file_exists('/etc/wp/local.php')) { define('DB_NAME', 'a'); }"
                             " else { define('DB_NAME', 'b'); }")
    assert "DB_NAME" in read_wp_config(path, environ={}).undecided


def test_included_file_follows_the_same_rules(tmp_path):
    root = site_root(tmp_path)
    (root / "config").mkdir()
    (root / "config" / "db.php").write_text(
        "<?php\nif (file_exists(__DIR__ . '/db-local.php')) { require __DIR__ . '/db-local.php'; }\n"
        "defined('DB_NAME') or define('DB_NAME', 'fallback');\n$table_prefix = 'inc_';\n")
    (root / "config" / "db-local.php").write_text("<?php define('DB_NAME', 'nested');")
    path = config_file(root, "require_once __DIR__ . '/config/db.php';\nrequire_once __DIR__ . '/config/db.php';\n")
    cfg = read_wp_config(path, environ={})
    assert cfg.constants == {"DB_NAME": "nested"} and cfg.table_prefix == "inc_"


def test_include_of_a_missing_file_defines_nothing(tmp_path):
    root = site_root(tmp_path)
    path = config_file(root, "@include __DIR__ . '/nothere.php';\ndefine('DB_NAME', 'blog');")
    cfg = read_wp_config(path, environ={})
    assert cfg.constants == {"DB_NAME": "blog"} and cfg.opaque is None


def test_include_outside_the_root_parent_is_not_followed_and_named_when_a_constant_is_missing(tmp_path):
    root = site_root(tmp_path / "www")
    outside = tmp_path / "secrets.php"
    outside.write_text("<?php define('DB_PASSWORD', 'from-outside');")
    path = config_file(root, f"require '{outside}';\ndefine('DB_NAME', 'blog');")
    cfg = read_wp_config(path, environ={})
    assert cfg.constants == {"DB_NAME": "blog"}
    with pytest.raises(ConfigError) as err:
        cfg.get("DB_PASSWORD", "set IGNY8_DB_PASSWORD", default="")
    assert "may be set by" in str(err.value) and str(outside) in str(err.value)
    assert "from-outside" not in str(err.value)


def test_include_with_a_computed_path_is_opaque_and_makes_defined_undecided(tmp_path):
    root = site_root(tmp_path)
    path = config_file(root, "include $config_dir . '/db.php';\n"
                             "if (!defined('DB_NAME')) { define('DB_NAME', 'blog'); }")
    cfg = read_wp_config(path, environ={})
    with pytest.raises(ConfigError, match=r"DB_NAME .* depends on the condition `!defined\('DB_NAME'\)`"):
        cfg.get("DB_NAME", HINT)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_include_of_a_fifo_is_never_opened(tmp_path):
    root = site_root(tmp_path)
    os.mkfifo(root / "pipe.php")
    cfg = read_wp_config(config_file(root, "include __DIR__ . '/pipe.php';\ndefine('DB_NAME', 'blog');"),
                         environ={})
    assert cfg.constants == {"DB_NAME": "blog"} and "pipe.php" in (cfg.opaque or "")


def test_included_file_over_1_mib_is_refused(tmp_path):
    root = site_root(tmp_path)
    (root / "big.php").write_text("<?php\n" + "// padding\n" * 100_000)
    with pytest.raises(ConfigError, match=r"big\.php is larger than the 1 MiB limit"):
        read_wp_config(config_file(root, "include __DIR__ . '/big.php';"), environ={})


def test_includes_nest_at_most_four_deep(tmp_path):
    root = site_root(tmp_path)
    for level in range(1, 7):
        (root / f"level{level}.php").write_text(
            f"<?php define('L{level}', {level}); include __DIR__ . '/level{level + 1}.php';")
    cfg = read_wp_config(config_file(root, "include __DIR__ . '/level1.php';"), environ={})
    assert set(cfg.constants) == {"L1", "L2", "L3", "L4"}
    assert "level5.php" in (cfg.opaque or "")


def test_a_file_including_itself_ends(tmp_path):
    root = site_root(tmp_path)
    path = config_file(root, "define('DB_NAME', 'blog');\ninclude __FILE__;\n")
    assert read_wp_config(path, environ={}).constants == {"DB_NAME": "blog"}


def test_syntax_error_in_an_included_file_names_that_file(tmp_path):
    root = site_root(tmp_path)
    (root / "local.php").write_text("<?php\ndefine('DB_NAME', 'x')\ndefine('DB_USER', 'y');\n")
    with pytest.raises(ConfigError) as err:
        read_wp_config(config_file(root, "include __DIR__ . '/local.php';"), environ={})
    assert str(err.value).startswith(f"{root / 'local.php'}: syntax error on line 3")


# --- twelve-factor configs: the environment ----------------------------------


def test_getenv_with_elvis_default_uses_the_environment_or_the_default():
    body = "define('DB_NAME', getenv('DB_NAME') ?: 'local_db');\n$table_prefix = getenv('WP_TABLE_PREFIX') ?: 'wp_';"
    unset = php(body, environ={})
    assert unset.constants == {"DB_NAME": "local_db"} and unset.table_prefix == "wp_"
    set_ = php(body, environ={"DB_NAME": "blog", "WP_TABLE_PREFIX": "site_"})
    assert set_.constants == {"DB_NAME": "blog"} and set_.table_prefix == "site_"
    empty = php(body, environ={"DB_NAME": ""})
    assert empty.constants == {"DB_NAME": "local_db"}


def test_env_superglobal_with_null_coalescing_falls_back_only_when_unset():
    body = "define('DB_NAME', $_ENV['DB_NAME'] ?? 'local_db');\ndefine('DB_HOST', getenv('DB_HOST') ?? 'x');"
    assert php(body, environ={}).constants == {"DB_NAME": "local_db"}
    assert php(body, environ={}).unresolved == {"DB_HOST": "getenv('DB_HOST') ?? 'x'"}  # getenv gives false, not null
    assert php(body, environ={"DB_NAME": "", "DB_HOST": "h"}).constants == {"DB_NAME": "", "DB_HOST": "h"}


def test_conditions_on_the_environment_are_decided():
    body = ("if (getenv('WP_ENV') === 'staging') { define('DB_NAME', 'staging'); }\n"
            "elseif (getenv('WP_ENV') == false) { define('DB_NAME', 'unset'); }\n"
            "else { define('DB_NAME', 'other'); }")
    assert php(body, environ={"WP_ENV": "staging"}).constants == {"DB_NAME": "staging"}
    assert php(body, environ={}).constants == {"DB_NAME": "unset"}
    assert php(body, environ={"WP_ENV": "production"}).constants == {"DB_NAME": "other"}


def test_variables_assigned_from_the_environment_decide_later_branches():
    body = ("$env = getenv('WP_ENV') ?: 'production';\n"
            "if ($env !== 'production') { define('DB_NAME', 'dev_' . $env); } else { define('DB_NAME', 'blog'); }")
    assert php(body, environ={}).constants == {"DB_NAME": "blog"}
    assert php(body, environ={"WP_ENV": "qa"}).constants == {"DB_NAME": "dev_qa"}


def test_server_variables_the_web_server_sets_are_not_taken_from_the_environment_when_unset():
    cfg = php("if (isset($_SERVER['HTTP_HOST'])) { define('A', 1); } else { define('A', 2); }\n"
              "define('B', $_SERVER['HTTP_HOST'] ?? 'cli');")
    assert "A" in cfg.undecided and "B" in cfg.unresolved


def test_a_dotenv_loader_makes_unset_variables_unknown():
    body = ("$dotenv = Dotenv\\Dotenv::createImmutable(__DIR__);\n$dotenv->load();\n"
            "define('DB_NAME', getenv('DB_NAME') ?: 'local_db');\ndefine('DB_USER', getenv('DB_USER') ?: 'u');")
    cfg = php(body, environ={"DB_USER": "set"})
    assert "DB_NAME" in cfg.unresolved and cfg.constants == {"DB_USER": "set"}


def test_a_method_call_does_not_make_missing_constants_errors():
    cfg = php("ComposerAutoloaderInitabc::getLoader();\ndefine('DB_NAME', 'blog');")
    assert cfg.get("DB_CHARSET", "set IGNY8_DB_CHARSET", default="") == ""


def test_a_config_class_that_defines_constants_makes_missing_ones_errors():
    cfg = php("Config::define('DB_PASSWORD', env('DB_PASSWORD'));\nConfig::apply();\ndefine('DB_NAME', 'blog');")
    assert cfg.get("DB_NAME", HINT) == "blog"
    with pytest.raises(ConfigError, match=r"may be set by the call to define\(\) on line 2"):
        cfg.get("DB_PASSWORD", "set IGNY8_DB_PASSWORD", default="")


# --- the agent, as a process, on a real database ---------------------------------


def _config_with(root: Path, db_block: str, prefix_block: str = "$table_prefix = 'wp_';") -> None:
    """Replace the DB_NAME define (and the prefix) of a conftest wp-config.php."""
    path = root / "wp-config.php"
    text = path.read_text()
    start = text.index("define( 'DB_NAME'")
    text = text[:start] + db_block + "\n" + text[text.index("\n", start) + 1:]
    text = text.replace("$table_prefix = 'wp_';", prefix_block)
    path.write_text(text)


def _posts(result) -> int:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["post_types"]["post"]["count"]


def test_agent_reads_the_database_the_local_override_selects(tmp_path, agent_env, make_wpdb):
    production, local = make_wpdb(), make_wpdb()
    production.install()
    local.install()
    local.add_posts("post", "publish", 4)  # local: 5 posts, production: 1
    root = write_wp_config(tmp_path / "site", "unused")
    _config_with(root, "if ( file_exists( __DIR__ . '/wp-config-local.php' ) ) {\n"
                       "    include __DIR__ . '/wp-config-local.php';\n"
                       f"}} else {{\n    define( 'DB_NAME', '{production.name}' );\n}}")
    args = ("structure", "--format", "json", "--path", str(root))
    assert _posts(run_agent(*args, env=agent_env)) == 1
    (root / "wp-config-local.php").write_text(f"<?php\ndefine( 'DB_NAME', '{local.name}' );\n")
    assert _posts(run_agent(*args, env=agent_env)) == 5


def test_agent_refuses_a_database_name_chosen_by_the_request_host(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    _config_with(root, f"if ({HOST_IS_STAGING}) {{\n    define( 'DB_NAME', 'staging' );\n"
                       f"}} else {{\n    define( 'DB_NAME', '{wpdb.name}' );\n}}")
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)
    assert result.returncode == 3, (result.stdout, result.stderr)
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "DB_NAME" in message and "HTTP_HOST" in message and "IGNY8_DB_NAME" in message
    assert result.stdout == ""
    chosen = run_agent("structure", "--format", "json", "--path", str(root),
                       env=dict(agent_env, IGNY8_DB_NAME=wpdb.name))
    assert _posts(chosen) == 1


def test_agent_refuses_a_table_prefix_set_in_an_undecided_branch_and_ignores_if_zero(tmp_path, agent_env, wpdb):
    root = write_wp_config(tmp_path / "site", wpdb.name)
    _config_with(root, f"define( 'DB_NAME', '{wpdb.name}' );",
                 "$table_prefix = 'wp_';\nif (0) {\n    $table_prefix = 'old_';\n}")
    assert _posts(run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)) == 1
    _config_with(root, f"define( 'DB_NAME', '{wpdb.name}' );",
                 f"$table_prefix = 'wp_';\nif ({HOST_IS_STAGING}) {{\n    $table_prefix = 'stg_';\n}}")
    result = run_agent("structure", "--format", "json", "--path", str(root), env=agent_env)
    assert result.returncode == 3, result.stderr
    assert "$table_prefix" in result.stderr and "IGNY8_TABLE_PREFIX" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_agent_reads_a_twelve_factor_config_from_its_environment(tmp_path, agent_env, make_wpdb, monkeypatch):
    default, chosen = make_wpdb(), make_wpdb()
    default.install()
    chosen.install()
    chosen.add_posts("post", "publish", 4)
    for name in ("WORDPRESS_DB_NAME", "WORDPRESS_DB_USER", "WORDPRESS_DB_PASSWORD", "WORDPRESS_DB_HOST",
                 "WP_TABLE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    root = write_wp_config(tmp_path / "site", default.name)
    (root / "wp-config.php").write_text(
        "<?php\n"
        f"define( 'DB_NAME', getenv('WORDPRESS_DB_NAME') ?: '{default.name}' );\n"
        f"define( 'DB_USER', $_ENV['WORDPRESS_DB_USER'] ?? '{DB_USER}' );\n"
        f"define( 'DB_PASSWORD', getenv('WORDPRESS_DB_PASSWORD') ?: '{DB_PASSWORD}' );\n"
        f"define( 'DB_HOST', getenv('WORDPRESS_DB_HOST') ?: '{DB_HOST}:{DB_PORT}' );\n"
        "$table_prefix = getenv('WP_TABLE_PREFIX') ?: 'wp_';\n"
        "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )
    args = ("structure", "--format", "json", "--path", str(root))
    assert _posts(run_agent(*args, env=agent_env)) == 1
    assert _posts(run_agent(*args, env=dict(agent_env, WORDPRESS_DB_NAME=chosen.name))) == 5
