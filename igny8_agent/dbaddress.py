"""Whether a MySQL socket the agent found by guessing may be trusted.

``DB_HOST`` ``localhost`` means "the local server's socket", and the agent
looks for it in the usual places. A socket in a directory every local user
can write to (``/tmp``) may belong to anyone: if the real server is down, any
user can listen there and be sent the database password. Such a socket is
used only when ``DB_HOST`` names it explicitly.
"""

from __future__ import annotations

import os
import stat


def trusted_socket(path: str) -> bool:
    """Whether the socket at ``path`` (symlinks resolved) sits in a directory
    that no other local user could have put it in.

    Its own directory must not be writable by everyone (sticky or not: in
    ``/tmp`` anyone may create a name nobody holds yet), and no directory
    above it may be writable by everyone without the sticky bit (anyone
    could rename the directory and put their own in its place).
    """
    try:
        directory = os.path.dirname(os.path.realpath(path))
        if os.stat(directory).st_mode & stat.S_IWOTH:
            return False
        while True:
            parent = os.path.dirname(directory)
            if parent == directory:
                return True
            directory = parent
            mode = os.stat(directory).st_mode
            if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
                return False
    except OSError:
        return False
