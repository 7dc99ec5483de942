"""Benchmark the static theme scan: a warm theme of 500 PHP files / 10 MB.

Builds a synthetic parent + child theme (templates of mixed HTML and PHP,
an ``inc/`` folder, a ``vendor/`` folder that is skipped, a helper function
that registers types, ``get_theme_mod()`` switches), then times the scan the
agent runs for ``structure``/``sync`` (:func:`igny8_agent.phpscan.scan_code`)
in this process, after one warm-up run: the files are in the page cache and
the scan's result is in its cache (igny8_agent/scancache.py), as on a server
where the daily run finds the theme unchanged. The first figure is the same
scan with no result cached (a theme just changed).

    .venv/bin/python bench/theme_scan.py [--files 500] [--megabytes 10] [--runs 21]

Target: median at most 20 ms. It is a report: it exits 0 either way, and 1
only if the scan finds the wrong types.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from igny8_agent.phpscan import scan_code
from igny8_agent.registrars import SiteContext, theme
from igny8_agent.sitefiles import SiteFiles

TARGET_MS = 20.0

FUNCTIONS = """<?php
/* Parent theme: content types. */
require get_template_directory() . '/inc/helpers.php';
add_action( 'init', function () {
    register_post_type( 'bench_vessel', array(
        'labels' => array( 'name' => __( 'Vessels', 'bench' ), 'singular_name' => __( 'Vessel', 'bench' ) ),
        'public' => true, 'has_archive' => true, 'supports' => array( 'title', 'editor' ),
    ) );
    register_taxonomy( 'bench_area', 'bench_vessel', array( 'label' => 'Areas', 'hierarchical' => true ) );
} );
function bench_optional() {
    if ( get_theme_mod( 'bench_ferries', false ) ) {
        register_post_type( 'bench_ferry', array( 'label' => 'Ferries', 'public' => true ) );
    }
}
add_action( 'init', 'bench_optional', 11 );
"""
HELPERS = """<?php
function bench_simple_type( $slug, $plural, $public = true ) {
    register_post_type( $slug, array( 'labels' => array( 'name' => $plural ), 'public' => $public ) );
}
"""
CALLS = """<?php
add_action( 'init', function () {
    bench_simple_type( 'bench_event', __( 'Events', 'bench' ) );
    bench_simple_type( 'bench_slot', __( 'Slots', 'bench' ), false );
} );
"""
TEMPLATE_CHUNK = """<article id="post-<?php the_ID(); ?>" <?php post_class( 'entry' ); ?>>
  <header class="entry-header"><?php the_title( '<h2 class="entry-title">', '</h2>' ); ?></header>
  <div class="entry-content"><?php the_content(); wp_link_pages( array( 'before' => '<nav>', 'after' => '</nav>' ) ); ?></div>
  <footer><?php echo esc_html( get_the_date() ); ?> <?php the_tags( '<span>', ', ', '</span>' ); ?></footer>
</article>
"""


def build_theme(root: Path, files: int, total_bytes: int, cache: bool = True) -> SiteFiles:
    themes = root / "wp-content" / "themes"
    parent, child = themes / "bench-parent", themes / "bench-child"
    for d in (parent / "inc", parent / "templates", parent / "vendor" / "lib", child):
        d.mkdir(parents=True, exist_ok=True)
    fixed = {parent / "functions.php": FUNCTIONS, parent / "inc" / "helpers.php": HELPERS,
             child / "functions.php": CALLS}
    for path, text in fixed.items():
        path.write_text(text)
    (parent / "vendor" / "lib" / "big.php").write_text("<?php register_post_type('bench_vendor');\n" * 1000)
    per_file = max(1, (total_bytes - sum(map(len, fixed.values()))) // max(1, files - len(fixed)))
    body = "<?php get_header(); ?>\n" + TEMPLATE_CHUNK * (per_file // len(TEMPLATE_CHUNK) + 1)
    for n in range(files - len(fixed)):
        folder = parent / "templates" if n % 2 else child
        (folder / f"template-{n:03d}.php").write_text(body[:per_file])
    return SiteFiles.of(root, {}, cache_dir=root / "cache" if cache else None)


def scan_once(site_files: SiteFiles):
    context = SiteContext(
        session=None, prefix="wp_", post_type_counts={}, taxonomy_counts={}, active_plugins=frozenset(),
        files=site_files, options={"stylesheet": "bench-child", "template": "bench-parent"},
    )
    start = time.perf_counter()
    context._code = scan_code(site_files, context.themes, {"bench_ferries": True}, context.warnings)
    found = theme.register(context)
    return (time.perf_counter() - start) * 1000, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="igny8-theme-bench-") as tmp:
        site_files = build_theme(Path(tmp), args.files, int(args.megabytes * 1024 * 1024))
        php = list((Path(tmp) / "wp-content" / "themes").rglob("*.php"))
        size = sum(p.stat().st_size for p in php if "vendor" not in p.parts)
        uncached_files = SiteFiles.of(Path(tmp), {})
        _, found = scan_once(site_files)  # warm-up: the page cache and the result cache
        uncached = [scan_once(uncached_files)[0] for _ in range(max(3, args.runs // 4))]
        times = [scan_once(site_files)[0] for _ in range(args.runs)]
        _, cached_found = scan_once(site_files)
        if cached_found != found:
            print("FAIL: the cached scan differs from a fresh one")
            return 1
    expected_public = {"bench_vessel", "bench_ferry", "bench_event"}
    public = {slug for slug, k in found.post_types.items() if k.public}
    if public != expected_public or "bench_area" not in found.taxonomies:
        print(f"FAIL: the scan found {sorted(found.post_types)} / {sorted(found.taxonomies)}")
        return 1
    median = statistics.median(times)
    print(f"theme: {len(php) - 1} PHP files scanned ({size / 1048576:.1f} MB) plus a vendor/ folder skipped")
    print(f"scan with nothing cached (theme changed): median {statistics.median(uncached):.1f} ms")
    print(f"scan, warm: median {median:.1f} ms, p90 {sorted(times)[int(len(times) * 0.9) - 1]:.1f} ms, "
          f"min {min(times):.1f} ms over {args.runs} warm runs")
    print(f"{'PASS' if median <= TARGET_MS else 'FAIL'} median <= {TARGET_MS:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
