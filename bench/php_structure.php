<?php
/**
 * What `igny8-agent structure` answers, computed by WordPress's own PHP.
 *
 *     php bench/php_structure.php /path/to/wp-config.php
 *
 * The wp-config.php (written by bench/php_structure.py) defines the DB_*
 * constants, $table_prefix, ABSPATH (Debian's core, /usr/share/wordpress/)
 * and DISABLE_WP_CRON, then requires ABSPATH . 'wp-settings.php' itself, so
 * Debian's own /usr/share/wordpress/wp-config.php (which looks for
 * /etc/wordpress/config-<host>.php) is never read.
 *
 * WordPress boots as for a front-end request (SHORTINIT off: plugins that
 * exist, theme if present, 'init'); then, for every public post type except
 * attachment, wp_count_posts( $slug )->publish and its label, and for every
 * public taxonomy except post_format, wp_count_terms() with hide_empty off
 * and its label. Printed as JSON on stdout.
 *
 * Read-only guard: on 'init' WordPress schedules its own cron events
 * (wp_version_check, ...) and would write the 'cron' option into the bench
 * database. A 'query' filter, installed before WordPress loads, drops every
 * statement that is not a read; how many were dropped is in the output.
 */

if ( $argc !== 2 || ! is_file( $argv[1] ) ) {
	fwrite( STDERR, "usage: php php_structure.php /path/to/wp-config.php\n" );
	exit( 2 );
}
$bench_started = microtime( true );

// A CLI process has no request: give WordPress the little it looks at.
$_SERVER['HTTP_HOST']       = 'bench.example';
$_SERVER['SERVER_NAME']     = 'bench.example';
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';

$bench_dropped_writes = array();
// Hooks set before wp-settings.php are picked up (WP_Hook::build_preinitialized_hooks).
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
					return ''; // wpdb::query() returns false for an empty query.
				},
				'accepted_args' => 1,
			),
		),
	),
);

require $argv[1]; // wp-config.php -> wp-settings.php
$bench_booted = microtime( true );

$result = array( 'post_types' => array(), 'taxonomies' => array() );
foreach ( get_post_types( array( 'public' => true ), 'objects' ) as $slug => $type ) {
	if ( 'attachment' === $slug ) {
		continue;
	}
	$result['post_types'][ $slug ] = array(
		'label' => $type->labels->name,
		'count' => (int) wp_count_posts( $slug )->publish,
	);
}
foreach ( get_taxonomies( array( 'public' => true ), 'objects' ) as $slug => $taxonomy ) {
	if ( 'post_format' === $slug ) {
		continue;
	}
	$count = wp_count_terms( array( 'taxonomy' => $slug, 'hide_empty' => false ) );
	if ( is_wp_error( $count ) ) {
		fwrite( STDERR, "wp_count_terms($slug): " . $count->get_error_message() . "\n" );
		exit( 1 );
	}
	$result['taxonomies'][ $slug ] = array(
		'label' => $taxonomy->labels->name,
		'count' => (int) $count,
	);
}
$bench_done = microtime( true );

$result['wordpress'] = $GLOBALS['wp_version'];
$result['php']       = PHP_VERSION;
$result['plugins']   = array_map( 'basename', wp_get_active_and_valid_plugins() );
$result['note']      = 'core post types and taxonomies only: the plugins in active_plugins'
	. ' (WooCommerce) are not installed here, so this is a lower bound for a real site';
$result['dropped_writes'] = $bench_dropped_writes;
$result['queries']        = (int) $GLOBALS['wpdb']->num_queries;
$result['timing_ms']      = array(
	'boot'   => round( ( $bench_booted - $bench_started ) * 1000, 1 ),
	'counts' => round( ( $bench_done - $bench_booted ) * 1000, 1 ),
);
echo wp_json_encode( $result, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ), "\n";
