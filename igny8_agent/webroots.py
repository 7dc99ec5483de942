"""Where WordPress installs usually live on a host: the roots `discover`
walks by default, and how far. (A module of its own so that the command
line knows them without loading the walk.)"""

from __future__ import annotations

from typing import Tuple

# The usual hosting layouts: plain, cPanel, Plesk, DirectAdmin-like.
DEFAULT_ROOTS: Tuple[str, ...] = (
    "/var/www",
    "/srv/www",
    "/home/*/public_html",
    "/home/*/www",
    "/home/*/htdocs",
    "/var/www/vhosts/*/httpdocs",
    "/home/*/domains/*/public_html",
)
DEFAULT_MAX_DEPTH = 4
DEFAULT_TIMEOUT = 10.0
