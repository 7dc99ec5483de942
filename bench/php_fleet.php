<?php
/**
 * What `igny8-agent sync --all` reads on a multisite network, computed by
 * WordPress's own PHP looping switch_to_blog() over the network's sites.
 *
 *     php bench/php_fleet.php /path/to/wp-config.php DOMAIN_CURRENT_SITE
 *
 * The wp-config.php (written by bench/fleet.py) defines the DB_* constants,
 * $table_prefix, the multisite constants (MULTISITE, SUBDOMAIN_INSTALL,
 * DOMAIN_CURRENT_SITE, PATH_CURRENT_SITE, SITE_ID_CURRENT_SITE,
 * BLOG_ID_CURRENT_SITE), ABSPATH (Debian's core, /usr/share/wordpress/) and
 * DISABLE_WP_CRON, then requires ABSPATH . 'wp-settings.php'.
 *
 * WordPress boots the network's main site as for a front-end request; then,
 * for every site of the current network that is not archived, deleted or
 * spam (get_sites(), no limit), switch_to_blog(), and per public post type
 * except attachment wp_count_posts( $slug )->publish, per public taxonomy
 * except post_format wp_count_terms() with hide_empty off, then
 * restore_current_blog(). Printed as JSON: {"sites": {blog_id: {"url",
 * "post_types": {slug: n}, "taxonomies": {slug: n}}}, ...}.
 *
 * Read-only guard as in php_structure.php: a 'query' filter installed before
 * WordPress loads drops every statement that is not a read.
 */

if ( $argc !== 3 || ! is_file( $argv[1] ) ) {
	fwrite( STDERR, "usage: php php_fleet.php /path/to/wp-config.php DOMAIN_CURRENT_SITE\n" );
	exit( 2 );
}
$bench_started = microtime( true );

// A CLI process has no request: the network's main site, as a browser would ask for it.
$_SERVER['HTTP_HOST']       = $argv[2];
$_SERVER['SERVER_NAME']     = $argv[2];
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';

$bench_dropped_writes = array();
$wp_filter = array(
	'query' => array(
		10 => array(
			'igny8_bench_read_only' => array(
				'function'      => function ( $query ) {
					global $bench_dropped_writes;
					if ( preg_match( '/^\s*(SELECT|SHOW|SET|DESCRIBE)\b/i', $query ) ) {
						return $query;
					}
					$bench_dropped_writes[] = substr( preg_replace( '/\s+/', ' ', $query ), 0, 80 );
					return '';
				},
				'accepted_args' => 1,
			),
		),
	),
);

require $argv[1]; // wp-config.php -> wp-settings.php
$bench_booted = microtime( true );

$site_ids = get_sites(
	array(
		'network_id' => get_current_network_id(),
		'archived'   => 0,
		'deleted'    => 0,
		'spam'       => 0,
		'number'     => 0, // no limit
		'fields'     => 'ids',
	)
);
$result = array( 'sites' => array() );
// Not $blog_id: at the top level of a script that is WordPress's own global,
// and switch_to_blog() to the id it already holds would switch nothing.
foreach ( $site_ids as $bench_blog_id ) {
	switch_to_blog( $bench_blog_id );
	$entry = array( 'url' => home_url(), 'post_types' => array(), 'taxonomies' => array() );
	foreach ( get_post_types( array( 'public' => true ), 'names' ) as $slug ) {
		if ( 'attachment' !== $slug ) {
			$entry['post_types'][ $slug ] = (int) wp_count_posts( $slug )->publish;
		}
	}
	foreach ( get_taxonomies( array( 'public' => true ), 'names' ) as $slug ) {
		if ( 'post_format' === $slug ) {
			continue;
		}
		$count = wp_count_terms( array( 'taxonomy' => $slug, 'hide_empty' => false ) );
		if ( is_wp_error( $count ) ) {
			fwrite( STDERR, "blog $bench_blog_id: wp_count_terms($slug): " . $count->get_error_message() . "\n" );
			exit( 1 );
		}
		$entry['taxonomies'][ $slug ] = (int) $count;
	}
	restore_current_blog();
	$result['sites'][ (string) $bench_blog_id ] = $entry;
}
$bench_done = microtime( true );

$result['wordpress']      = $GLOBALS['wp_version'];
$result['php']            = PHP_VERSION;
$result['dropped_writes'] = $bench_dropped_writes;
$result['queries']        = (int) $GLOBALS['wpdb']->num_queries;
$result['timing_ms']      = array(
	'boot'  => round( ( $bench_booted - $bench_started ) * 1000, 1 ),
	'sites' => round( ( $bench_done - $bench_booted ) * 1000, 1 ),
);
echo wp_json_encode( $result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ), "\n";
