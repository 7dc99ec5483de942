"""The real WordPress 6.x database schema, as CREATE TABLE statements.

Tests build throwaway WordPress databases with these statements so that the
agent is exercised against the tables WordPress itself creates: the same
columns, types, defaults and indexes as ``wp_get_db_schema()`` in
``wp-admin/includes/schema.php`` (WordPress 6.x), with WordPress's
``$max_index_length = 191`` prefix on long indexed varchars (utf8mb4).

Checked against a database made by WordPress 6.1 itself: the resulting
``SHOW CREATE TABLE`` output matches it table for table.

API::

    blog_tables(prefix)            per-site tables (posts, options, terms, ...)
    global_tables(prefix, multisite=False)
                                   users + usermeta; ``multisite=True`` gives the
                                   network form of users (extra spam/deleted)
    multisite_tables(prefix)       network tables: blogs, blogmeta,
                                   registration_log, signups, site, sitemeta
    create_site_sql(prefix, multisite=False, subsite_ids=())
                                   everything an install has, in creation order

The column defaults include WordPress's zero dates
(``'0000-00-00 00:00:00'``). WordPress strips ``WP_INCOMPATIBLE_SQL_MODES``
from the session ``sql_mode`` before it runs them; MariaDB's default mode is
fine as is, but a server whose mode has ``NO_ZERO_DATE`` (MySQL 8's default)
needs :func:`wp_session_sql_mode` applied first.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Sequence, Tuple

CHARSET = "utf8mb4"
COLLATE = "utf8mb4_unicode_520_ci"

#: What WordPress's wpdb removes from the session sql_mode (wpdb::$incompatible_modes).
WP_INCOMPATIBLE_SQL_MODES = (
    "NO_ZERO_DATE",
    "ONLY_FULL_GROUP_BY",
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "TRADITIONAL",
    "ANSI",
)

#: WordPress: indexes on utf8mb4 varchars longer than this are prefix indexes.
MAX_INDEX_LENGTH = 191

_PREFIX_RE = re.compile(r"[A-Za-z0-9_]+\Z")

_ZERO_DATE = "'0000-00-00 00:00:00'"

# One table = (name without prefix, column lines, key lines). Identifiers are
# written bare here and backtick-quoted by _create().
_Table = Tuple[str, Tuple[str, ...], Tuple[str, ...]]


def _meta_table(name: str, owner_col: str) -> _Table:
    """termmeta / commentmeta / postmeta: all three have the same shape."""
    return (
        name,
        (
            "meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            f"{owner_col} bigint(20) unsigned NOT NULL DEFAULT 0",
            "meta_key varchar(255) DEFAULT NULL",
            "meta_value longtext",
        ),
        (
            "PRIMARY KEY (meta_id)",
            f"KEY {owner_col} ({owner_col})",
            f"KEY meta_key (meta_key({MAX_INDEX_LENGTH}))",
        ),
    )


# --- per-site ("blog") tables, in WordPress's order --------------------------

_BLOG_TABLES: Tuple[_Table, ...] = (
    _meta_table("termmeta", "term_id"),
    (
        "terms",
        (
            "term_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "name varchar(200) NOT NULL DEFAULT ''",
            "slug varchar(200) NOT NULL DEFAULT ''",
            "term_group bigint(10) NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (term_id)",
            f"KEY slug (slug({MAX_INDEX_LENGTH}))",
            f"KEY name (name({MAX_INDEX_LENGTH}))",
        ),
    ),
    (
        "term_taxonomy",
        (
            "term_taxonomy_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "term_id bigint(20) unsigned NOT NULL DEFAULT 0",
            "taxonomy varchar(32) NOT NULL DEFAULT ''",
            "description longtext NOT NULL",
            "parent bigint(20) unsigned NOT NULL DEFAULT 0",
            "count bigint(20) NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (term_taxonomy_id)",
            "UNIQUE KEY term_id_taxonomy (term_id,taxonomy)",
            "KEY taxonomy (taxonomy)",
        ),
    ),
    (
        "term_relationships",
        (
            "object_id bigint(20) unsigned NOT NULL DEFAULT 0",
            "term_taxonomy_id bigint(20) unsigned NOT NULL DEFAULT 0",
            "term_order int(11) NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (object_id,term_taxonomy_id)",
            "KEY term_taxonomy_id (term_taxonomy_id)",
        ),
    ),
    _meta_table("commentmeta", "comment_id"),
    (
        "comments",
        (
            "comment_ID bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "comment_post_ID bigint(20) unsigned NOT NULL DEFAULT 0",
            "comment_author tinytext NOT NULL",
            "comment_author_email varchar(100) NOT NULL DEFAULT ''",
            "comment_author_url varchar(200) NOT NULL DEFAULT ''",
            "comment_author_IP varchar(100) NOT NULL DEFAULT ''",
            f"comment_date datetime NOT NULL DEFAULT {_ZERO_DATE}",
            f"comment_date_gmt datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "comment_content text NOT NULL",
            "comment_karma int(11) NOT NULL DEFAULT 0",
            "comment_approved varchar(20) NOT NULL DEFAULT '1'",
            "comment_agent varchar(255) NOT NULL DEFAULT ''",
            "comment_type varchar(20) NOT NULL DEFAULT 'comment'",
            "comment_parent bigint(20) unsigned NOT NULL DEFAULT 0",
            "user_id bigint(20) unsigned NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (comment_ID)",
            "KEY comment_post_ID (comment_post_ID)",
            "KEY comment_approved_date_gmt (comment_approved,comment_date_gmt)",
            "KEY comment_date_gmt (comment_date_gmt)",
            "KEY comment_parent (comment_parent)",
            "KEY comment_author_email (comment_author_email(10))",
        ),
    ),
    (
        "links",
        (
            "link_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "link_url varchar(255) NOT NULL DEFAULT ''",
            "link_name varchar(255) NOT NULL DEFAULT ''",
            "link_image varchar(255) NOT NULL DEFAULT ''",
            "link_target varchar(25) NOT NULL DEFAULT ''",
            "link_description varchar(255) NOT NULL DEFAULT ''",
            "link_visible varchar(20) NOT NULL DEFAULT 'Y'",
            "link_owner bigint(20) unsigned NOT NULL DEFAULT 1",
            "link_rating int(11) NOT NULL DEFAULT 0",
            f"link_updated datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "link_rel varchar(255) NOT NULL DEFAULT ''",
            "link_notes mediumtext NOT NULL",
            "link_rss varchar(255) NOT NULL DEFAULT ''",
        ),
        (
            "PRIMARY KEY (link_id)",
            "KEY link_visible (link_visible)",
        ),
    ),
    (
        "options",
        (
            "option_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "option_name varchar(191) NOT NULL DEFAULT ''",
            "option_value longtext NOT NULL",
            "autoload varchar(20) NOT NULL DEFAULT 'yes'",
        ),
        (
            "PRIMARY KEY (option_id)",
            "UNIQUE KEY option_name (option_name)",
            "KEY autoload (autoload)",
        ),
    ),
    _meta_table("postmeta", "post_id"),
    (
        "posts",
        (
            "ID bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "post_author bigint(20) unsigned NOT NULL DEFAULT 0",
            f"post_date datetime NOT NULL DEFAULT {_ZERO_DATE}",
            f"post_date_gmt datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "post_content longtext NOT NULL",
            "post_title text NOT NULL",
            "post_excerpt text NOT NULL",
            "post_status varchar(20) NOT NULL DEFAULT 'publish'",
            "comment_status varchar(20) NOT NULL DEFAULT 'open'",
            "ping_status varchar(20) NOT NULL DEFAULT 'open'",
            "post_password varchar(255) NOT NULL DEFAULT ''",
            "post_name varchar(200) NOT NULL DEFAULT ''",
            "to_ping text NOT NULL",
            "pinged text NOT NULL",
            f"post_modified datetime NOT NULL DEFAULT {_ZERO_DATE}",
            f"post_modified_gmt datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "post_content_filtered longtext NOT NULL",
            "post_parent bigint(20) unsigned NOT NULL DEFAULT 0",
            "guid varchar(255) NOT NULL DEFAULT ''",
            "menu_order int(11) NOT NULL DEFAULT 0",
            "post_type varchar(20) NOT NULL DEFAULT 'post'",
            "post_mime_type varchar(100) NOT NULL DEFAULT ''",
            "comment_count bigint(20) NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (ID)",
            f"KEY post_name (post_name({MAX_INDEX_LENGTH}))",
            "KEY type_status_date (post_type,post_status,post_date,ID)",
            "KEY post_parent (post_parent)",
            "KEY post_author (post_author)",
        ),
    ),
)

# --- global tables ------------------------------------------------------------

_USERS_COLUMNS = (
    "ID bigint(20) unsigned NOT NULL AUTO_INCREMENT",
    "user_login varchar(60) NOT NULL DEFAULT ''",
    "user_pass varchar(255) NOT NULL DEFAULT ''",
    "user_nicename varchar(50) NOT NULL DEFAULT ''",
    "user_email varchar(100) NOT NULL DEFAULT ''",
    "user_url varchar(100) NOT NULL DEFAULT ''",
    f"user_registered datetime NOT NULL DEFAULT {_ZERO_DATE}",
    "user_activation_key varchar(255) NOT NULL DEFAULT ''",
    "user_status int(11) NOT NULL DEFAULT 0",
    "display_name varchar(250) NOT NULL DEFAULT ''",
)
_USERS_MULTISITE_COLUMNS = (
    "spam tinyint(2) NOT NULL DEFAULT 0",
    "deleted tinyint(2) NOT NULL DEFAULT 0",
)
_USERS_KEYS = (
    "PRIMARY KEY (ID)",
    "KEY user_login_key (user_login)",
    "KEY user_nicename (user_nicename)",
    "KEY user_email (user_email)",
)
_USERMETA: _Table = (
    "usermeta",
    (
        "umeta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
        "user_id bigint(20) unsigned NOT NULL DEFAULT 0",
        "meta_key varchar(255) DEFAULT NULL",
        "meta_value longtext",
    ),
    (
        "PRIMARY KEY (umeta_id)",
        "KEY user_id (user_id)",
        f"KEY meta_key (meta_key({MAX_INDEX_LENGTH}))",
    ),
)

# --- multisite network tables (WordPress's order) ------------------------------

_MS_GLOBAL_TABLES: Tuple[_Table, ...] = (
    (
        "blogs",
        (
            "blog_id bigint(20) NOT NULL AUTO_INCREMENT",
            "site_id bigint(20) NOT NULL DEFAULT 0",
            "domain varchar(200) NOT NULL DEFAULT ''",
            "path varchar(100) NOT NULL DEFAULT ''",
            f"registered datetime NOT NULL DEFAULT {_ZERO_DATE}",
            f"last_updated datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "public tinyint(2) NOT NULL DEFAULT 1",
            "archived tinyint(2) NOT NULL DEFAULT 0",
            "mature tinyint(2) NOT NULL DEFAULT 0",
            "spam tinyint(2) NOT NULL DEFAULT 0",
            "deleted tinyint(2) NOT NULL DEFAULT 0",
            "lang_id int(11) NOT NULL DEFAULT 0",
        ),
        (
            "PRIMARY KEY (blog_id)",
            "KEY domain (domain(50),path(5))",
            "KEY lang_id (lang_id)",
        ),
    ),
    (
        "blogmeta",
        (
            "meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT",
            "blog_id bigint(20) NOT NULL DEFAULT 0",
            "meta_key varchar(255) DEFAULT NULL",
            "meta_value longtext",
        ),
        (
            "PRIMARY KEY (meta_id)",
            f"KEY meta_key (meta_key({MAX_INDEX_LENGTH}))",
            "KEY blog_id (blog_id)",
        ),
    ),
    (
        "registration_log",
        (
            "ID bigint(20) NOT NULL AUTO_INCREMENT",
            "email varchar(255) NOT NULL DEFAULT ''",
            "IP varchar(30) NOT NULL DEFAULT ''",
            "blog_id bigint(20) NOT NULL DEFAULT 0",
            f"date_registered datetime NOT NULL DEFAULT {_ZERO_DATE}",
        ),
        (
            "PRIMARY KEY (ID)",
            "KEY IP (IP)",
        ),
    ),
    (
        "site",
        (
            "id bigint(20) NOT NULL AUTO_INCREMENT",
            "domain varchar(200) NOT NULL DEFAULT ''",
            "path varchar(100) NOT NULL DEFAULT ''",
        ),
        (
            "PRIMARY KEY (id)",
            "KEY domain (domain(140),path(51))",
        ),
    ),
    (
        "sitemeta",
        (
            "meta_id bigint(20) NOT NULL AUTO_INCREMENT",
            "site_id bigint(20) NOT NULL DEFAULT 0",
            "meta_key varchar(255) DEFAULT NULL",
            "meta_value longtext",
        ),
        (
            "PRIMARY KEY (meta_id)",
            f"KEY meta_key (meta_key({MAX_INDEX_LENGTH}))",
            "KEY site_id (site_id)",
        ),
    ),
    (
        "signups",
        (
            "signup_id bigint(20) NOT NULL AUTO_INCREMENT",
            "domain varchar(200) NOT NULL DEFAULT ''",
            "path varchar(100) NOT NULL DEFAULT ''",
            "title longtext NOT NULL",
            "user_login varchar(60) NOT NULL DEFAULT ''",
            "user_email varchar(100) NOT NULL DEFAULT ''",
            f"registered datetime NOT NULL DEFAULT {_ZERO_DATE}",
            f"activated datetime NOT NULL DEFAULT {_ZERO_DATE}",
            "active tinyint(1) NOT NULL DEFAULT 0",
            "activation_key varchar(50) NOT NULL DEFAULT ''",
            "meta longtext",
        ),
        (
            "PRIMARY KEY (signup_id)",
            "KEY activation_key (activation_key)",
            "KEY user_email (user_email)",
            "KEY user_login_email (user_login,user_email)",
            "KEY domain_path (domain(140),path(51))",
        ),
    ),
)

# --- rendering ------------------------------------------------------------------

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_COLUMN_RE = re.compile(rf"({_IDENT}) (.*)\Z")
_KEY_RE = re.compile(rf"(PRIMARY KEY|UNIQUE KEY ({_IDENT})|KEY ({_IDENT})) \((.*)\)\Z")
_KEY_PART_RE = re.compile(rf"({_IDENT})(\(\d+\))?\Z")


def _q(ident: str) -> str:
    return f"`{ident}`"


def _column_sql(line: str) -> str:
    m = _COLUMN_RE.match(line)
    if m is None:  # pragma: no cover - guards the tables above
        raise AssertionError(f"bad column line: {line!r}")
    return f"{_q(m.group(1))} {m.group(2)}"


def _key_sql(line: str) -> str:
    m = _KEY_RE.match(line)
    if m is None:  # pragma: no cover - guards the tables above
        raise AssertionError(f"bad key line: {line!r}")
    parts = []
    for part in m.group(4).split(","):
        pm = _KEY_PART_RE.match(part.strip())
        if pm is None:  # pragma: no cover
            raise AssertionError(f"bad key part in {line!r}")
        parts.append(_q(pm.group(1)) + (pm.group(2) or ""))
    cols = ",".join(parts)
    if m.group(2):
        return f"UNIQUE KEY {_q(m.group(2))} ({cols})"
    if m.group(3):
        return f"KEY {_q(m.group(3))} ({cols})"
    return f"PRIMARY KEY ({cols})"


def _create(prefix: str, table: _Table) -> str:
    name, columns, keys = table
    body = ",\n".join(
        ["  " + _column_sql(c) for c in columns] + ["  " + _key_sql(k) for k in keys]
    )
    return (
        f"CREATE TABLE {_q(prefix + name)} (\n{body}\n)"
        f" ENGINE=InnoDB DEFAULT CHARSET={CHARSET} COLLATE={COLLATE}"
    )


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ValueError(f"invalid table prefix {prefix!r}: only [A-Za-z0-9_] allowed")
    return prefix


def _render(prefix: str, tables: Iterable[_Table]) -> List[str]:
    _check_prefix(prefix)
    return [_create(prefix, t) for t in tables]


# --- public API -----------------------------------------------------------------


def blog_tables(prefix: str) -> list[str]:
    """CREATE TABLE statements for one site's tables (termmeta, terms,
    term_taxonomy, term_relationships, commentmeta, comments, links, options,
    postmeta, posts), named ``{prefix}<table>``."""
    return _render(prefix, _BLOG_TABLES)


def users_table(prefix: str, multisite: bool = False) -> str:
    """``{prefix}users``; the multisite form has the extra ``spam`` and
    ``deleted`` columns (after display_name), as WordPress creates it."""
    columns = _USERS_COLUMNS + (_USERS_MULTISITE_COLUMNS if multisite else ())
    return _render(prefix, [("users", columns, _USERS_KEYS)])[0]


def global_tables(prefix: str, multisite: bool = False) -> list[str]:
    """users + usermeta (single-site form unless ``multisite``)."""
    return [users_table(prefix, multisite=multisite)] + _render(prefix, [_USERMETA])


def multisite_tables(prefix: str) -> list[str]:
    """The network tables only (WordPress's ``ms_global`` scope): blogs,
    blogmeta, registration_log, site, sitemeta, signups. The multisite users
    table comes from ``global_tables(prefix, multisite=True)``."""
    return _render(prefix, _MS_GLOBAL_TABLES)


def create_site_sql(
    prefix: str, multisite: bool = False, subsite_ids: Sequence[int] = ()
) -> list[str]:
    """Every table a WordPress install has.

    Single site: users, usermeta, then the blog tables for ``prefix``.
    Multisite: users (network form), usermeta, the main site's blog tables,
    the network tables, then blog tables ``{prefix}{id}_*`` for each id in
    ``subsite_ids`` (ids >= 2; site 1 is the main site with the bare prefix).
    """
    _check_prefix(prefix)
    ids = list(subsite_ids)
    if ids and not multisite:
        raise ValueError("subsite_ids need multisite=True")
    seen = set()
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or i < 2:
            raise ValueError(f"invalid subsite id {i!r}: must be an int >= 2")
        if i in seen:
            raise ValueError(f"duplicate subsite id {i}")
        seen.add(i)
    statements = global_tables(prefix, multisite=multisite) + blog_tables(prefix)
    if multisite:
        statements += multisite_tables(prefix)
        for i in ids:
            statements += blog_tables(f"{prefix}{i}_")
    return statements


def wp_session_sql_mode(current_mode: str) -> str:
    """The session sql_mode WordPress would use given the server's
    ``@@SESSION.sql_mode``: the same list minus WP_INCOMPATIBLE_SQL_MODES.
    Use as ``SET SESSION sql_mode = %s``."""
    bad = set(WP_INCOMPATIBLE_SQL_MODES)
    modes = [m for m in current_mode.split(",") if m and m.upper() not in bad]
    return ",".join(modes)
