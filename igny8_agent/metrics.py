"""Metrics of each sync for node_exporter's textfile collector.

After every sync (when ``[metrics] file`` or ``sync --metrics-file`` names
one) the site's ``.prom`` file is replaced atomically: a temp file in the
same directory (not ending in ``.prom``, so node_exporter never reads half
of one), then a rename. It is 0644: node_exporter runs as another user.

The Prometheus text format is written here by hand -- a few gauges, no
runtime dependency. Every series carries ``site`` (the site's config name),
so the files of several sites in one directory never hold the same series.
Each site needs its own file: ``{site}`` in the file name stands for the
site's name, and a file whose first line names another site (or that the
agent did not write) is never replaced.

The last success and the item counts come from the site's state (the last
successful push), so a failed run keeps them; the attempt time, duration and
exit code are the run's own.
"""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from igny8_agent import trust
from igny8_agent.errors import ConfigError, Igny8Error

METRICS_FILE = "the metrics file"
FILE_MODE = 0o644  # node_exporter reads it as its own user
SITE = "{site}"
HEADER = "# igny8-agent metrics of site "  # the first line; names the site the file belongs to
PREFIX = "igny8_agent_"


@dataclass
class RunMetrics:
    """What one file says about one site."""

    site: str  # the site's config name (label ``site``)
    exit_code: int  # what the process exits with
    attempt: float  # Unix time the run ended
    duration: float  # seconds
    last_success: Optional[float] = None  # Unix time of the last successful push; None: never
    items: Dict[str, Dict[str, int]] = field(default_factory=dict)  # kind -> slug -> count, as last pushed
    sync_enabled: bool = True
    url: str = ""
    site_id: Optional[int] = None
    version: str = ""


# -- the text format -------------------------------------------------------------


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and
    line feed escaped; text that is not UTF-8 (lone surrogates) replaced."""
    try:
        value.encode("utf-8")
        text = value
    except UnicodeEncodeError:  # lone surrogates: U+FFFD each
        text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text: backslash and line feed escaped (a double quote stays)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


Sample = Tuple[Sequence[Tuple[str, str]], float]


def family(name: str, help_text: str, samples: List[Sample]) -> str:
    """One gauge: HELP, TYPE and its samples (nothing when it has none)."""
    if not samples:
        return ""
    lines = [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        inner = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels)
        lines.append(f"{name}{{{inner}}} {format_value(value)}")
    return "\n".join(lines) + "\n"


def render(run: RunMetrics) -> str:
    """The file's text: a comment naming the site, then the gauges."""
    site = (("site", run.site),)
    items = [(site + (("kind", kind), ("slug", slug)), count)
             for kind, counts in sorted(run.items.items()) for slug, count in sorted(counts.items())]
    info = site + (("url", run.url), ("site_id", str(run.site_id or "")), ("version", run.version))
    parts = [
        HEADER + escape_label(run.site) + "\n",
        family(PREFIX + "last_success_timestamp_seconds",
               "Unix time of the last successful push of the site's structure (kept through failed runs).",
               [] if run.last_success is None else [(site, run.last_success)]),
        family(PREFIX + "last_attempt_timestamp_seconds",
               "Unix time the last sync run ended, whatever its outcome.", [(site, run.attempt)]),
        family(PREFIX + "last_run_duration_seconds", "Seconds the last sync run took.", [(site, run.duration)]),
        family(PREFIX + "last_exit_code",
               "Exit code of the last sync run: 0 ok, 3 configuration, 4 database, 5 backend refused, "
               "6 temporary failure, 7 another sync running, 130 interrupted.", [(site, run.exit_code)]),
        family(PREFIX + "items", "Items of each post type and taxonomy in the last successful push.", items),
        family(PREFIX + "sync_enabled",
               "1 when sync operations are enabled in the site's config, 0 when switched off.",
               [(site, run.sync_enabled)]),
        family(PREFIX + "site_info", "The site's home URL, IGNY8 site id and the agent's version; always 1.",
               [(info, 1)]),
    ]
    return "".join(parts)


# -- where the file goes ---------------------------------------------------------


def check_path(text: str, where: str = "the metrics file") -> str:
    """``text`` if it can name a metrics file ("" turns them off): absolute,
    ending in ``.prom``, ``{site}`` only in the file name. Else a ConfigError
    starting with ``where``."""
    if not text:
        return ""
    path = Path(text)
    name = path.name
    if "\0" in text or not path.is_absolute():
        raise ConfigError(f"{where} must be an absolute path, not {text!r}")
    if not name.endswith(".prom") or name == ".prom":
        raise ConfigError(f"{where} must end in .prom (node_exporter's textfile collector reads only those), "
                          f"not {text!r}")
    rest = str(path.parent) + name.replace(SITE, "")
    if "{" in rest or "}" in rest:
        raise ConfigError(f"{where}: {SITE} in the file name is the only placeholder, not in {text!r}")
    return text


def target_path(template: str, site_name: str) -> Path:
    """The file of the site named ``site_name``: ``{site}`` replaced."""
    return Path(template.replace(SITE, site_name))


def check_target(path: Path) -> Path:
    """``path`` in its directory with links resolved. The directory must
    exist and no other user may replace the file in it: it belongs to this
    user or root and is not writable by group or others -- unless sticky
    (``chmod +t``), which keeps others from replacing a file they do not own."""
    directory = Path(os.path.realpath(path.parent))
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        raise ConfigError(f"the directory of the metrics file {path} does not exist: create it, or use the "
                          "directory node_exporter's --collector.textfile.directory names") from None
    except OSError as exc:
        raise ConfigError(f"cannot check the directory of the metrics file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"the directory of the metrics file {path} is not a directory")
    mine = info.st_uid in (0, os.geteuid())
    if not mine or (info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX):
        me = trust.user_name(os.geteuid())
        fix = f"chown {me} {directory}" if not mine else f"chmod go-w {directory} (or chmod +t {directory})"
        raise ConfigError(
            f"refusing the directory {directory} of the metrics file: owned by uid {info.st_uid} "
            f"({trust.user_name(info.st_uid)}) with mode {stat.S_IMODE(info.st_mode):04o}; another user could "
            f"replace the metrics: it must belong to {me} (or root) and not be writable by group or others "
            f"unless sticky: {fix}"
        )
    return directory / path.name


def check_owner(path: Path, site: str) -> None:
    """Replace only a file of this site's: never another site's, never one
    the agent did not write. An empty or missing file is fine."""
    try:
        fd = trust.open_file(path, os.O_RDONLY | trust.NONBLOCK, METRICS_FILE)  # a link is refused here
    except FileNotFoundError:
        return
    try:
        head = os.read(fd, 1024)
    except OSError as exc:
        raise ConfigError(f"cannot read {METRICS_FILE} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    if not head or first == HEADER + escape_label(site):
        return
    if first.startswith(HEADER):
        raise ConfigError(f"refusing to replace {METRICS_FILE} {path}: it holds the metrics of site "
                          f"{first[len(HEADER):]}; give each site its own file ({SITE} in the file name does)")
    raise ConfigError(f"refusing to replace {path}: igny8-agent did not write it (its first line is not "
                      f"'{HEADER}...'); choose another file name")


def write(path: Path, run: RunMetrics) -> Path:
    """Replace the metrics file at ``path`` atomically; the file written."""
    from igny8_agent.files import remove_stale_temp_files, write_atomic

    target = check_target(path)
    check_owner(target, run.site)
    remove_stale_temp_files(target.parent, target.name)  # what a killed run left
    write_atomic(target, render(run).encode("utf-8"), own_dir=False, what=METRICS_FILE, mode=FILE_MODE)
    return target


# -- one run ---------------------------------------------------------------------


def collect(site, exit_code: int, duration: float, ended: Optional[float] = None) -> RunMetrics:
    """The metrics of a run of ``site`` that ended with ``exit_code``: the
    last success and counts from its state (none when it cannot be read)."""
    from igny8_agent import __version__
    from igny8_agent.state import load_state, parse_time

    run = RunMetrics(site=site.paths.name, exit_code=exit_code,
                     attempt=round(time.time() if ended is None else ended, 3),
                     duration=round(max(0.0, duration), 3),
                     sync_enabled=site.settings.plugin_connection_enabled, version=__version__)
    try:
        state = load_state(site.paths.state)
    except (ConfigError, OSError):  # damaged or refused: that is the run's own error already
        return run
    success = parse_time(state.last_success)
    if success is not None:
        run.last_success = success.timestamp()
        run.items = state.last_counts
    run.url = state.site_url
    run.site_id = state.site_id
    return run


def record(site, template: str, exit_code: int, duration: float) -> Path:
    """Write the metrics of a run of ``site`` to the file ``template`` names."""
    return write(target_path(template, site.paths.name), collect(site, exit_code, duration))


def after_run(site, template: str, exit_code: int, duration: float) -> Optional[str]:
    """``record`` for the end of a sync, when ``template`` names a file: never
    raises, gives the one-line problem when the file was not written (the
    sync's outcome stands whatever happens to its metrics)."""
    if not template:
        return None
    try:
        record(site, template, exit_code, duration)
    except Exception as exc:  # noqa: BLE001 - reported by the caller; never the run's outcome
        return str(exc) if isinstance(exc, Igny8Error) else f"{type(exc).__name__}: {exc}"
    return None
