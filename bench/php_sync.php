<?php
/**
 * The PHP plugin's whole daily sync, done by WordPress's own PHP: boot
 * WordPress, compute the structure, POST it to the backend.
 *
 *     IGNY8_BENCH_API_KEY=... php bench/php_sync.php /path/to/wp-config.php API_URL INTEGRATION_ID
 *
 * API_URL is the backend's API root (``https://host/api/v1``). The API key
 * comes from the environment only, never from the command line.
 *
 * Booting and the structure are bench/php_structure.php's, run in this same
 * process (its JSON captured from the output buffer): WordPress boots as for
 * a front-end request with the read-only 'query' guard, and the counts are
 * wp_count_posts()->publish per public post type and wp_count_terms() per
 * public taxonomy, with labels. This script then builds the update-structure
 * body the agent sends (same keys, same defaults: post, page, category and
 * post_tag enabled, fetch_limit 100) and POSTs it with wp_remote_post(), as
 * the plugin does, with ``Authorization: Bearer <key>``. Exit 0 only on a 2xx
 * answer; a one-line JSON summary on stdout (never the key).
 */

if ( $argc !== 4 || ! is_file( $argv[1] ) || ! ctype_digit( $argv[3] ) ) {
	fwrite( STDERR, "usage: IGNY8_BENCH_API_KEY=... php php_sync.php /path/to/wp-config.php API_URL INTEGRATION_ID\n" );
	exit( 2 );
}
$bench_sync_key = getenv( 'IGNY8_BENCH_API_KEY' );
if ( ! is_string( $bench_sync_key ) || '' === $bench_sync_key ) {
	fwrite( STDERR, "php_sync.php: IGNY8_BENCH_API_KEY is not set\n" );
	exit( 2 );
}
$bench_sync_url = rtrim( $argv[2], '/' ) . '/integration/integrations/' . $argv[3] . '/update-structure/';

// php_structure.php reads its config path from $argv and prints its answer.
$argv = array( $argv[0], $argv[1] );
$argc = 2;
ob_start();
require __DIR__ . '/php_structure.php';
$bench_structure = json_decode( ob_get_clean(), true );
if ( ! is_array( $bench_structure ) ) {
	fwrite( STDERR, "php_sync.php: php_structure.php printed no JSON\n" );
	exit( 1 );
}

$bench_enabled = array( 'post', 'page', 'category', 'post_tag' ); // the contract's defaults
$payload       = array();
foreach ( array( 'post_types', 'taxonomies' ) as $kind ) {
	$payload[ $kind ] = array();
	foreach ( $bench_structure[ $kind ] as $slug => $entry ) {
		$payload[ $kind ][ $slug ] = array(
			'label'       => $entry['label'],
			'count'       => (int) $entry['count'],
			'enabled'     => in_array( $slug, $bench_enabled, true ),
			'fetch_limit' => 100,
		);
	}
	$payload[ $kind ] = (object) $payload[ $kind ]; // {} when empty, never []
}
$payload['plugin_connection_enabled'] = true;
$payload['two_way_sync_enabled']      = true;
$payload['timestamp']                 = gmdate( 'Y-m-d\TH:i:s\Z' );
$payload['site_url']                  = home_url();
$payload['agent_version']             = 'php-bench';

$bench_post_started = microtime( true );
$response           = wp_remote_post(
	$bench_sync_url,
	array(
		'timeout' => 30,
		'headers' => array(
			'Authorization' => 'Bearer ' . $bench_sync_key,
			'Content-Type'  => 'application/json',
			'Accept'        => 'application/json',
		),
		'body'    => wp_json_encode( $payload ),
	)
);
$bench_post_done = microtime( true );
if ( is_wp_error( $response ) ) {
	fwrite( STDERR, 'php_sync.php: POST failed: ' . $response->get_error_message() . "\n" );
	exit( 1 );
}
$status = (int) wp_remote_retrieve_response_code( $response );
if ( $status < 200 || $status > 299 ) {
	fwrite( STDERR, "php_sync.php: POST answered $status: " . substr( wp_remote_retrieve_body( $response ), 0, 200 ) . "\n" );
	exit( 1 );
}

echo wp_json_encode(
	array(
		'status'         => $status,
		'post_types'     => $payload['post_types'],
		'taxonomies'     => $payload['taxonomies'],
		'site_url'       => $payload['site_url'],
		'wordpress'      => $bench_structure['wordpress'],
		'php'            => $bench_structure['php'],
		'dropped_writes' => count( $bench_structure['dropped_writes'] ),
		'timing_ms'      => $bench_structure['timing_ms'] + array(
			'post' => round( ( $bench_post_done - $bench_post_started ) * 1000, 1 ),
		),
	),
	JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
), "\n";
