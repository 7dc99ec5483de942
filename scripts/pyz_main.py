"""igny8-agent as one file: the archive's __main__.py (scripts/build-pyz puts it there).

From inside a zip, Python compiles every module it imports on every start
(zipimport never writes bytecode). So the first run unpacks the archive once
into the user's own cache, and every run after it imports from there, where
Python keeps the compiled bytecode as for an installed package:

    $XDG_CACHE_HOME (if absolute) or ~/.cache, then igny8-agent/pyz-<build id>/

The cache directory must be a real directory (never a symbolic link) owned by
the user and not writable by group or others, under parents owned by root or
the user that others cannot write to (a sticky /tmp is fine);
``igny8-agent/`` and ``pyz-<build>/`` are the user's, mode 0700, files 0600.
The copy is made in a temporary directory beside its final place and renamed
into place whole, so a run sees a complete copy or none (two first runs at
once: one rename wins, the other uses its result). When no safe cache exists
(no home directory, a read-only or foreign one), the agent runs from the
archive itself: slower to start, nothing written. Unpacking a new build
removes the copies of other builds unused for a week.

Standard library only, and Python 3.4-parsable, so that an old python3 gets
the one-line answer below instead of a SyntaxError.
"""

import os
import stat
import sys

BUILD_ID = "@BUILD_ID@"  # the archive content's hash, filled in by scripts/build-pyz
APP_DIR = "igny8-agent"
DAY = 86400
UNUSED_DAYS = 7
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _stop_loading(signum, frame):
    # As igny8_agent/__init__.py's: a Ctrl-C or SIGTERM while Python loads
    # the agent ends it with one line and 130; nothing was written yet.
    try:
        os.write(2, b"igny8-agent: interrupted; nothing was done\n")
    except OSError:
        pass
    os._exit(130)


def install_signal_handlers():
    import _signal  # the C module: already loaded

    _signal.signal(_signal.SIGINT, _stop_loading)
    _signal.signal(_signal.SIGTERM, _stop_loading)


# -- where the unpacked copy lives -------------------------------------------


def cache_base(environ, uid):
    """$XDG_CACHE_HOME if absolute (the XDG spec ignores a relative one),
    else ~/.cache; None without a home directory."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return os.path.normpath(xdg)
    home = environ.get("HOME", "")
    if not os.path.isabs(home):
        try:
            import pwd

            home = pwd.getpwuid(uid).pw_dir
        except (ImportError, KeyError):
            return None
    if not os.path.isabs(home):
        return None
    return os.path.join(os.path.normpath(home), ".cache")


def check_parents(path, uid):
    """None if every directory above ``path`` (links above it resolved)
    belongs to root or ``uid`` and others cannot write to it, or it is
    sticky (/tmp): nobody else can swap the cache directory. Else why not."""
    current = os.path.realpath(os.path.dirname(path))
    while True:
        try:
            info = os.stat(current)
        except OSError as exc:
            return "cannot use %s: %s" % (current, exc.strerror or exc)
        if info.st_uid not in (0, uid):
            return "%s belongs to uid %d" % (current, info.st_uid)
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            return "%s is writable by others (mode %04o)" % (current, stat.S_IMODE(info.st_mode))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def check_dir(path, uid, private):
    """None if ``path`` is a directory the agent may use, else why not.
    ``private``: one of its own (mode 0700), not just the cache base."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "cannot check %s: %s" % (path, exc.strerror or exc)
    if stat.S_ISLNK(info.st_mode):
        return "%s is a symbolic link" % path
    if not stat.S_ISDIR(info.st_mode):
        return "%s is not a directory" % path
    if info.st_uid != uid:
        return "%s belongs to uid %d, not %d" % (path, info.st_uid, uid)
    if info.st_mode & (0o077 if private else 0o022):
        return "%s has mode %04o" % (path, stat.S_IMODE(info.st_mode))
    return None


def make_dir(path, uid, private):
    """Create ``path`` 0700 if missing; None if it is then usable, else why not."""
    problem = check_dir(path, uid, private)
    if problem == "missing":
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            return "cannot create %s: %s" % (path, exc.strerror or exc)
        problem = check_dir(path, uid, private)
    return problem


def locate(archive, build_id, environ=os.environ, uid=None):
    """``(directory, None)``: run from the unpacked copy (made now if
    missing); ``(None, reason)``: run from the archive."""
    uid = os.geteuid() if uid is None else uid
    base = cache_base(environ, uid)
    if base is None:
        return None, "no home directory"
    app = os.path.join(base, APP_DIR)
    target = os.path.join(app, "pyz-" + build_id)
    problem = check_parents(base, uid)
    if problem is not None:
        return None, problem
    # The usual case: all three exist and pass.
    problem = check_dir(base, uid, False) or check_dir(app, uid, True) or check_dir(target, uid, True)
    if problem is None:
        mark_used(target)
        return target, None
    problem = make_dir(base, uid, False) or make_dir(app, uid, True)
    if problem is not None:
        return None, problem
    problem = check_dir(target, uid, True)
    if problem == "missing":
        problem = unpack(archive, app, target, uid)
    if problem is not None:
        return None, problem
    return target, None


# -- unpacking ----------------------------------------------------------------


def _member_parts(name):
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError("unsafe name in the archive: %r" % name)
    return parts


def unpack(archive, app, target, uid):
    """Unpack ``archive`` into ``target`` atomically; None, or why not."""
    import errno
    import shutil
    import zipfile

    _remove_leftovers(app, os.path.basename(target))
    tmp = os.path.join(app, ".%s.%d.tmp" % (os.path.basename(target), os.getpid()))
    try:
        os.mkdir(tmp, 0o700)
        made = set()
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.filename.endswith("/") or info.filename == "__main__.py":
                    continue
                parts = _member_parts(info.filename)
                directory = tmp
                for part in parts[:-1]:
                    directory = os.path.join(directory, part)
                    if directory not in made:
                        try:
                            os.mkdir(directory, 0o700)
                        except FileExistsError:
                            pass
                        made.add(directory)
                if parts[-1].endswith(".py") and directory + "/__pycache__" not in made:
                    # Python would make it with the umask's mode (0755): keep the copy 0700.
                    os.mkdir(os.path.join(directory, "__pycache__"), 0o700)
                    made.add(directory + "/__pycache__")
                path = os.path.join(directory, parts[-1])
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
                try:
                    view = memoryview(zf.read(info))
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
        # On disk before the rename makes it look complete: one sync(2) for
        # the whole copy (an fsync per file costs seconds for its ~1000 files).
        os.sync()
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another first run renamed its copy into place first: use that one.
            shutil.rmtree(tmp, ignore_errors=True)
            return check_dir(target, uid, True)
        _fsync_dir(app)
    except (OSError, ValueError, zipfile.BadZipFile, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return "cannot unpack into %s: %s" % (app, getattr(exc, "strerror", None) or exc)
    remove_unused_copies(app, os.path.basename(target), uid)
    return None


def mark_used(target, now=None):
    """A copy's mtime says when it was last used, to within a day (one
    utime a day, not one a run); nothing if it cannot be written."""
    import time

    now = time.time() if now is None else now
    try:
        if os.lstat(target).st_mtime < now - DAY:
            os.utime(target, (now, now), follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass


def remove_unused_copies(app, keep, uid, now=None):
    """Copies of other builds unused for UNUSED_DAYS go when a new build is
    unpacked (an upgrade): a run of an old build after that unpacks it again."""
    import shutil
    import time

    now = time.time() if now is None else now
    try:
        names = os.listdir(app)
    except OSError:
        return
    for name in names:
        if not name.startswith("pyz-") or name == keep:
            continue
        path = os.path.join(app, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and info.st_mtime < now - UNUSED_DAYS * DAY:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_leftovers(app, prefix):
    """Temporary copies left by a run that was killed while unpacking."""
    import shutil

    try:
        names = os.listdir(app)
    except OSError:
        return
    for name in names:
        head = "." + prefix + "."
        if not (name.startswith(head) and name.endswith(".tmp")):
            continue
        pid = name[len(head):-len(".tmp")]
        if not pid.isdigit():
            continue
        try:
            if int(pid) != os.getpid():  # ours: left by an earlier process with this pid
                os.kill(int(pid), 0)
            continue  # still unpacking
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(os.path.join(app, name), ignore_errors=True)


# -- start --------------------------------------------------------------------


def archive_path():
    archive = getattr(globals().get("__loader__"), "archive", None)
    return archive or os.path.dirname(os.path.abspath(__file__))


def run():
    install_signal_handlers()
    if sys.version_info < (3, 9):
        sys.stderr.write("igny8-agent needs Python 3.9 or newer; %s is %s\n"
                         % (sys.executable or "python3", sys.version.split()[0]))
        sys.exit(1)
    archive = archive_path()
    directory, why_not = (None, "not a zip archive") if os.path.isdir(archive) else locate(archive, BUILD_ID)
    if directory is not None:
        sys.path[:] = [directory] + [p for p in sys.path if p != archive]
    from igny8_agent import _pyz

    _pyz.ARCHIVE = os.path.abspath(archive)
    _pyz.RUN_FROM = directory
    _pyz.WHY_NOT_UNPACKED = why_not
    from igny8_agent.__main__ import main

    main()


if __name__ == "__main__":
    run()
