"""The agent's own process, set up before anything else runs (``__main__``):
no core dumps (it holds the API key and the database password), standard
streams that cannot fail a run (closed at start, a full disk, a reader gone),
and signal handlers that never raise inside Python's import machinery.

Standard library only, and cheap: ``structure`` starts through here too.
"""

import os
import signal
import sys


def no_core_dumps() -> None:
    """Core limit 0 and not dumpable: a crash leaves no copy of the secrets,
    and other processes of the same user cannot ptrace or read our memory."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            zero = ctypes.c_ulong(0)
            ctypes.CDLL(None).prctl(4, zero, zero, zero, zero)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


class _Guarded:
    """A standard stream whose write errors (EPIPE, ENOSPC, EBADF ...) are
    dropped: what the agent does never depends on whether its output arrives.
    Characters its encoding cannot show are written as "?".
    After the first one the stream's fd points to /dev/null, so that the
    interpreter's own flush at exit succeeds too."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._broken = False

    def write(self, text):
        if not self._broken:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                # A terminal or pipe that cannot show a character (LANG=C,
                # PYTHONIOENCODING=ascii): "?" instead, never a traceback.
                encoding = getattr(self._stream, "encoding", None) or "ascii"
                return self._stream.write(text.encode(encoding, "replace").decode(encoding))
            except OSError:
                self._break()
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except OSError:
                self._break()

    def _break(self) -> None:
        self._broken = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def standard_streams() -> None:
    """A closed fd 0, 1 or 2 is opened on /dev/null before anything else can
    get that number (a state file written through print() ...), and
    stdout / stderr are guarded."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False))
    sys.stdout = _Guarded(sys.stdout)
    sys.stderr = _Guarded(sys.stderr)


# -- signals --------------------------------------------------------------------
#
# A handler that raises (KeyboardInterrupt, the CLI's Interrupted) while the
# interpreter runs importlib's own code - a module lock's weakref callback at
# the end of an import - has its exception "ignored": printed as a stray
# "Exception ignored in ..." message and lost. So a signal that arrives there
# is put off for a few milliseconds (SIGALRM) and handled once the interpreter
# is back in ordinary code.

_RETRY_SECONDS = 0.005
_pending = []


def _in_import_machinery(frame) -> bool:
    """Whether ``frame`` is importlib's code or runs inside an import (a
    module body, a class it defines), or inside a finalizer (``__del__``,
    which the garbage collector may run anywhere): an exception raised there
    can surface as "Exception ignored" (and be lost) or as another exception
    (RuntimeError from __set_name__) instead of the interrupt."""
    depth = 0
    while frame is not None and depth < 200:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib") or code.co_name == "__del__":
            return True
        frame, depth = frame.f_back, depth + 1
    return False


_interrupted = []  # a signal's handler has run: what breaks after it is its doing


def _guarded(handler):
    def run(signum, frame):
        if _in_import_machinery(frame):
            _pending.append(signum)
            signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
            return
        _interrupted.append(signum)
        handler(signum, frame)

    return run


def _unraisable(info) -> None:
    """An error Python cannot raise (in a finalizer, at shutdown): after an
    interrupt it is the interrupt's doing (a library's object cut off
    half-made) and says nothing; otherwise one line, never a traceback."""
    if _interrupted or isinstance(info.exc_value, (KeyboardInterrupt, SystemExit)):
        return
    where = getattr(info.object, "__qualname__", None) or type(info.object).__name__
    try:
        sys.stderr.write(f"igny8-agent: warning: an error was ignored in {where}: "
                         f"{type(info.exc_value).__name__}\n")
    except (OSError, ValueError):
        pass


def _retry(signum, frame) -> None:
    if not _pending:
        return
    if _in_import_machinery(frame):
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    first = _pending[0]
    del _pending[:]
    signal.getsignal(first)(first, frame)


_INTERRUPTED = b"igny8-agent: interrupted; nothing was done\n"


def exit_interrupted(signum, frame) -> None:
    """While the agent loads nothing has been written yet: say so and stop at
    once, without unwinding through half-done imports."""
    try:
        os.write(2, _INTERRUPTED)
    except OSError:
        pass
    os._exit(130)


def ignore_signals() -> None:
    """The command is over (its exit code decided): SIGINT and SIGTERM from
    now on change nothing and print nothing, and a signal put off above is
    dropped. The retry timer is disarmed too: the interpreter's shutdown
    restores SIGALRM's default action, which would kill the process."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    del _pending[:]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(signum, signal.SIG_IGN)


def handle_signals(handlers) -> None:
    """Install ``{signal number: handler}``, each put off while the import
    machinery runs."""
    sys.unraisablehook = _unraisable
    signal.signal(signal.SIGALRM, _retry)
    for signum, handler in handlers.items():
        signal.signal(signum, _guarded(handler))
