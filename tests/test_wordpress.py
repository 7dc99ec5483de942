"""Reading WordPress tables: counts, definitions, multisite, errors (real MariaDB)."""

from __future__ import annotations

import pytest

from conftest import DB_HOST, DB_PASSWORD, DB_PORT, DB_USER, admin_connect, php_serialize
from igny8_agent.database import DbSettings, ReadOnlySession, quote_identifier
from igny8_agent.errors import ConfigError, DatabaseError
from igny8_agent.settings import Settings
from igny8_agent.structure import build_structure
from igny8_agent.wordpress import read_site, validate_table_prefix


def settings_for(name: str, **kw) -> DbSettings:
    base = dict(name=name, user=DB_USER, password=DB_PASSWORD, host=DB_HOST, port=DB_PORT)
    base.update(kw)
    return DbSettings(**base)


def read(db_name: str, prefix: str = "wp_", **kw):
    with ReadOnlySession(settings_for(db_name)) as session:
        return read_site(session, prefix, **kw)


def structure_of(db_name: str, prefix: str = "wp_", settings: Settings = None, **kw):
    return build_structure(read(db_name, prefix, **kw), settings or Settings())


# -- the database WordPress itself made ---------------------------------------------


def test_sample_publish_counts_equal_wp_count_posts(sample_db, sample_answers):
    facts = read(sample_db)
    for slug, answer in sample_answers["post_types"].items():
        assert facts.post_type_counts.get(slug, 0) == answer["counts"]["publish"], slug


def test_sample_term_counts_equal_wp_count_terms(sample_db, sample_answers):
    facts = read(sample_db)
    for slug, answer in sample_answers["taxonomies"].items():
        assert facts.taxonomy_counts.get(slug, 0) == answer["term_count"], slug


def test_sample_lists_exactly_what_wordpress_calls_public(sample_db, sample_answers):
    result = structure_of(sample_db)
    for kind in ("post_types", "taxonomies"):
        expected = {
            slug: answer["name"]
            for slug, answer in sample_answers[kind].items()
            if answer["public"] and slug not in ("attachment", "post_format")
        }
        got = {slug: t.label for slug, t in result.kind(kind).items()}
        assert got == expected, kind


def test_sample_payload_counts_and_default_switches(sample_db, sample_answers):
    result = structure_of(sample_db)
    body = result.content_types()
    assert body["post_types"]["post"] == {"label": "Posts", "count": 13, "enabled": True, "fetch_limit": 100}
    assert body["post_types"]["product"]["enabled"] is False
    assert body["taxonomies"]["pa_size"]["count"] == sample_answers["taxonomies"]["pa_size"]["term_count"]
    assert "pa_color" not in body["taxonomies"]  # attribute_public = 0
    assert result.site_url == sample_answers["home"]


# -- statuses and internal types ----------------------------------------------------


def test_only_published_rows_count_and_internal_types_stay_out(wpdb):
    for status in ("draft", "pending", "private", "future", "trash", "auto-draft"):
        wpdb.add_posts("post", status, 2)
    wpdb.add_posts("revision", "inherit", 5)
    wpdb.add_posts("nav_menu_item", "publish", 3)
    wpdb.add_posts("attachment", "inherit", 4)
    for internal in ("wp_template", "wp_global_styles", "wp_navigation", "wp_block", "custom_css",
                     "customize_changeset", "oembed_cache", "user_request", "wp_font_family"):
        wpdb.add_posts(internal, "publish")
    wpdb.add_term("nav_menu", "Main menu")
    wpdb.add_term("post_format", "post-format-aside")
    result = structure_of(wpdb.name)
    assert set(result.post_types) == {"post", "page"}
    assert result.post_types["post"].count == 1
    assert result.post_types["page"].count == 1
    assert set(result.taxonomies) == {"category", "post_tag"}
    assert result.taxonomies["post_tag"].count == 0  # registered by core even when empty


def test_term_hierarchy_counts_every_term_taxonomy_row(wpdb):
    parent = wpdb.add_term("category", "News")
    child = wpdb.add_term("category", "Local", parent=parent)
    wpdb.add_term("category", "Street", parent=child)
    assert structure_of(wpdb.name).taxonomies["category"].count == 4  # with Uncategorized


def test_a_type_no_active_source_registers_is_a_leftover_not_listed(wpdb):
    wpdb.add_posts("book_review", "publish", 3)
    wpdb.add_posts("wpcf7_contact_form", "publish", 2)  # Contact Form 7, not known to the agent
    wpdb.add_terms("review_genre", 2)
    result = structure_of(wpdb.name)
    assert "book_review" not in result.post_types and "review_genre" not in result.taxonomies
    assert result.leftovers["post_types"] == {"book_review": 3, "wpcf7_contact_form": 2}
    assert result.leftovers["taxonomies"] == {"review_genre": 2}


def test_operator_include_and_exclude_win(wpdb):
    wpdb.add_posts("wpcf7_contact_form", "publish", 2)
    from igny8_agent.settings import Listing

    settings = Settings()
    settings._listing["post_types"] = Listing(include=("wpcf7_contact_form",), exclude=("page",))
    result = structure_of(wpdb.name, settings=settings)
    assert "page" not in result.post_types
    assert result.post_types["wpcf7_contact_form"].count == 2


# -- plugin definitions kept in the database ------------------------------------------


def test_woocommerce_types_and_attribute_taxonomies_follow_attribute_public(wpdb):
    wpdb.set_option("active_plugins", ["woocommerce/woocommerce.php"])
    wpdb.execute(
        "CREATE TABLE wp_woocommerce_attribute_taxonomies (attribute_id bigint unsigned NOT NULL"
        " AUTO_INCREMENT, attribute_name varchar(200) NOT NULL, attribute_label varchar(200) NULL,"
        " attribute_type varchar(20) NOT NULL, attribute_orderby varchar(20) NOT NULL,"
        " attribute_public int(1) NOT NULL DEFAULT 1, PRIMARY KEY (attribute_id))"
    )
    wpdb.execute(
        "INSERT INTO wp_woocommerce_attribute_taxonomies (attribute_name, attribute_label,"
        " attribute_type, attribute_orderby, attribute_public) VALUES"
        " ('material', 'Material', 'select', 'menu_order', 1), ('finish', 'Finish', 'select', 'menu_order', 0)"
    )
    wpdb.add_terms("pa_material", 2)
    wpdb.add_posts("shop_order", "wc-completed", 4)
    result = structure_of(wpdb.name)
    assert result.post_types["product"].count == 0  # registered although empty
    assert result.post_types["product"].label == "Products"
    assert "shop_order" not in result.post_types
    assert result.taxonomies["pa_material"].label == "Product Material"
    assert result.taxonomies["pa_material"].count == 2
    assert "pa_finish" not in result.taxonomies
    assert {"product_cat", "product_tag", "product_shipping_class"} <= set(result.taxonomies)


def test_cptui_definitions_give_labels_public_flags_and_empty_types(wpdb):
    wpdb.set_option("active_plugins", ["custom-post-type-ui/custom-post-type-ui.php"])
    wpdb.set_option("cptui_post_types", {
        "movie": {"name": "movie", "label": "Films", "singular_label": "Film", "public": "true",
                  "labels": {"name": "Our Films", "singular_name": "Film"}},
        "secret": {"name": "secret", "label": "Secrets", "public": "false"},
    })
    wpdb.set_option("cptui_taxonomies", {"genre": {"name": "genre", "label": "Genres", "public": "true"}})
    wpdb.add_posts("secret", "publish", 2)
    result = structure_of(wpdb.name)
    assert result.post_types["movie"].label == "Our Films"
    assert result.post_types["movie"].count == 0
    assert "secret" not in result.post_types
    assert result.taxonomies["genre"].label == "Genres"


def test_corrupt_serialized_row_is_ignored_with_a_warning(wpdb):
    wpdb.set_option("active_plugins", ["custom-post-type-ui/custom-post-type-ui.php"])
    wpdb.set_option("cptui_post_types", 'a:1:{s:5:"movie";a:1:{s:4:"name";s:99:"movie";}}')
    result = structure_of(wpdb.name)
    assert "movie" not in result.post_types
    assert any("cptui_post_types" in w for w in result.warnings)


def test_acf_post_types_and_taxonomies_are_read_from_their_posts(wpdb):
    wpdb.set_option("active_plugins", ["advanced-custom-fields-pro/acf.php"])
    wpdb.add_posts("acf-post-type", "publish", content=php_serialize(
        {"post_type": "event", "labels": {"name": "Events", "singular_name": "Event"}, "public": True}))
    wpdb.add_posts("acf-post-type", "acf-disabled", content=php_serialize(
        {"post_type": "old_thing", "labels": {"name": "Old"}, "public": True}))
    wpdb.add_posts("acf-taxonomy", "publish", content=php_serialize(
        {"taxonomy": "venue", "labels": {"name": "Venues"}, "public": False}))
    wpdb.add_posts("acf-post-type", "publish", content='a:1:{s:9:"post_type";s:99:"event";}')
    wpdb.add_terms("venue", 3)
    wpdb.add_posts("event", "publish", 2)
    result = structure_of(wpdb.name)
    assert result.post_types["event"].label == "Events"
    assert result.post_types["event"].count == 2
    assert "old_thing" not in result.post_types
    assert "venue" not in result.taxonomies
    assert any("ACF" in w for w in result.warnings)


# -- prefixes ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["wp7x_", "WP_", "a_b_c_"])
def test_any_valid_table_prefix_reads_its_own_tables(make_wpdb, prefix):
    db = make_wpdb(prefix)
    db.install()
    db.add_posts("post", "publish", 4)
    assert structure_of(db.name, prefix).post_types["post"].count == 5


@pytest.mark.parametrize("prefix", ["wp_`; DROP TABLE x; --", "wp-", "wp_ ", "wp_'", "ü_", "wp_\n"])
def test_malicious_or_invalid_prefix_is_refused_before_any_sql(prefix):
    with pytest.raises(ConfigError):
        validate_table_prefix(prefix)
    with pytest.raises(ConfigError):
        quote_identifier(prefix + "posts")


# -- multisite -----------------------------------------------------------------------


def test_multisite_reads_main_site_by_default_and_subsite_by_url(make_wpdb):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'network.test', '/', NOW(), NOW())")
    db.add_subsite(2, "network.test", "/shop/")
    db.add_posts("post", "publish", 6, blog_id=2)
    main = read(db.name, multisite=True)
    assert (main.blog_id, main.post_type_counts["post"]) == (1, 1)
    sub = read(db.name, multisite=True, url="https://network.test/shop/some/page")
    assert (sub.blog_id, sub.table_prefix, sub.post_type_counts["post"]) == (2, "wp_2_", 7)
    assert sub.home == "https://network.test/shop"


def test_multisite_url_matching_no_subsite_is_an_error(make_wpdb):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'network.test', '/', NOW(), NOW())")
    with pytest.raises(ConfigError, match="no site of this multisite network matches"):
        read(db.name, multisite=True, url="https://elsewhere.test/")


def test_multisite_is_detected_from_blogs_table_when_config_is_silent(make_wpdb):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.execute("INSERT INTO wp_blogs (blog_id, site_id, domain, path, registered, last_updated)"
               " VALUES (1, 1, 'network.test', '/', NOW(), NOW())")
    assert read(db.name, multisite=None).multisite is True


def test_network_activated_woocommerce_registers_its_types(make_wpdb):
    db = make_wpdb(multisite=True)
    db.install("https://network.test")
    db.execute("INSERT INTO wp_sitemeta (site_id, meta_key, meta_value) VALUES (1, 'active_sitewide_plugins', %s)",
               (php_serialize({"woocommerce/woocommerce.php": 1700000000}),))
    assert "product" in structure_of(db.name, multisite=True).post_types


# -- errors and read-only --------------------------------------------------------------


def test_missing_tables_mean_not_a_wordpress_database(make_wpdb):
    db = make_wpdb()
    db.execute("DROP TABLE wp_options")
    with pytest.raises(DatabaseError, match="not a WordPress database"):
        read(db.name)


def test_unknown_database_is_named(mariadb_server):
    with pytest.raises(DatabaseError, match="does not exist"):
        read("igny8_no_such_database_x")


def test_database_down_is_a_clear_error():
    settings = settings_for("wordpress", host="127.0.0.1", port=1, connect_timeout=2)
    with pytest.raises(DatabaseError, match="cannot connect .* \\(is MySQL/MariaDB running"):
        with ReadOnlySession(settings):
            pass


def test_wrong_password_is_access_denied(wpdb, db_user):
    user, _password = db_user(wpdb.name)
    with pytest.raises(DatabaseError, match="access denied") as err:
        with ReadOnlySession(settings_for(wpdb.name, user=user, password="wrong-secret")):
            pass
    assert "wrong-secret" not in str(err.value)


def test_session_is_read_only(wpdb):
    with ReadOnlySession(settings_for(wpdb.name)) as session:
        with pytest.raises(DatabaseError, match="READ ONLY|read only|read-only"):
            session.query("INSERT INTO wp_options (option_name, option_value) VALUES ('x', 'y')")
    assert wpdb.query("SELECT COUNT(*) FROM wp_options WHERE option_name = 'x'")[0][0] == 0


def test_session_sets_a_statement_time_limit(wpdb):
    with ReadOnlySession(settings_for(wpdb.name, statement_timeout=7)) as session:
        assert float(session.query("SELECT @@max_statement_time")[0][0]) == 7.0


def test_locked_table_makes_the_agent_give_up_within_its_limit(wpdb):
    locker = admin_connect(wpdb.name)
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES wp_posts WRITE")
        session = ReadOnlySession(settings_for(wpdb.name, statement_timeout=1))
        with pytest.raises(DatabaseError, match="longer than 1 s"):
            with session:
                agent_thread = session.query("SELECT CONNECTION_ID()")[0][0]
                read_site(session, "wp_")
    finally:
        locker.close()
    # the agent's connection is gone, and with it any transaction or lock of it
    assert wpdb.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s", (agent_thread,)) == [(0,)]
    assert wpdb.query("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s",
                      (agent_thread,)) == [(0,)]


@pytest.fixture
def db_user(mariadb_server):
    """Factory for a MariaDB user with SELECT on one database; dropped afterwards."""
    import secrets

    made = []

    def make(database: str):
        user = f"igny8_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        with admin_connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
        made.append(user)
        return user, password

    yield make
    with admin_connect() as conn, conn.cursor() as cur:
        for user in made:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def test_rsa_password_exchange_support_loads_when_a_server_asks():
    import pymysql._auth as auth

    from igny8_agent import database

    assert database._with_rsa_auth() is True
    assert auth._have_cryptography is True
