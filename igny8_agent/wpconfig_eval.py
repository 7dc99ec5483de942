"""Walking wp-config.php's statements as PHP would run them, without PHP.

The file is checked (``phpsyntax``), then its statements are walked in
order. ``if``/``elseif``/``else`` (braces or ``:`` ... ``endif;``) are
decided where the condition can be evaluated (``wpconfig_expr``); a branch
that cannot be decided is walked in "maybe" mode, where a ``define()`` or an
assignment only records *that* it depends on the branch. Branches PHP skips
are walked dead (syntax only). ``include``/``require`` of a file under the
WordPress root's parent is followed (4 deep, 1 MiB, regular files only);
``wp-settings.php`` ends the walk: WordPress is loading. Something that may
define constants the walk cannot see (an include not followed, ``eval``, a
call to a function that defines some) is remembered as the walk's "opaque"
point; after one, a constant that is not defined is not known to be absent.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set, Tuple

from .errors import ConfigError, ParseError
from .phplex import Tok, is_op
from .phpsyntax import describe, tokenize
from .wpconfig_stmts import StatementsMixin

MAX_FILE_BYTES = 1024 * 1024
MAX_INCLUDE_DEPTH = 4
# What _enter() sets for each file, and the position of the expression that includes it.
_PER_FILE = ("path", "file", "dir", "depth", "tokens", "partner", "text", "returned", "tail", "namespace",
             "visited", "in_switch", "_lines", "_p", "_hi", "dead", "maybe")


def read_php_file(path: Path) -> str:
    """A PHP file's text: a regular file of at most 1 MiB, opened without
    blocking (a FIFO or a device is refused before it is read)."""

    def refuse(reason: str) -> ConfigError:
        return ConfigError(f"cannot read {path}: {reason}")

    def too_large(size: int) -> ConfigError:
        return ConfigError(f"{path} is larger than the 1 MiB limit for configuration files ({size} bytes)")

    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise refuse("it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise refuse("it is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise too_large(info.st_size)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise refuse("it is not a regular file")
            chunks, left = [], MAX_FILE_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 18))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except PermissionError:
        raise refuse("permission denied") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise too_large(len(data))
    return data.decode("utf-8", errors="replace")


class Walker(StatementsMixin):
    """One walk over wp-config.php and the files it includes."""

    def __init__(self, path: Path, environ: Mapping[str, str], *, real: str, abspath: object,
                 area: Optional[str]) -> None:
        self.shown = path  # wp-config.php, as named in messages
        self.environ = environ
        self.area = area
        self.constants: Dict[str, object] = {}
        self.unresolved: Dict[str, str] = {}
        self.undecided: Dict[str, str] = {}
        self.predefined: Dict[str, object] = {"ABSPATH": abspath}  # wp-load.php defines it first
        self.vars: Dict[str, object] = {}
        self.env_set: Dict[str, object] = {}  # putenv()
        self.super_set: Dict[Tuple[str, str], object] = {}  # $_ENV[...] = / $_SERVER[...] =
        self.opaque: Optional[str] = None
        self.env_opaque = False
        self.included: Set[str] = {real}  # real paths of the files walked
        self.included_bytes = 0
        self.risky: Set[str] = set()  # functions that may define constants or include files
        self.built = 0
        self.halted = False  # exit, or wp-settings.php: nothing after runs before WordPress connects
        self.dead, self.maybe = False, None
        self.nesting = 0
        self._p = self._hi = self._depth = 0
        self._enter(Path(path), real, 0)

    def _enter(self, path: Path, real: str, depth: int) -> None:
        self.path, self.file, self.dir, self.depth = path, real, os.path.dirname(real), depth
        self.tokens: List[Tok] = []
        self.partner: List[int] = []
        self.text = ""
        self.returned, self.tail, self.namespace = False, None, ""
        self.visited: Set[int] = set()
        self.in_switch = 0
        self._lines: Optional[List[int]] = None

    # -- files ---------------------------------------------------------------

    def walk(self, text: str) -> None:
        self.text = text
        self.tokens, self.partner = tokenize(text, self.path)
        self._collect_risky()
        end = self._block(0, ())
        if end < len(self.tokens):
            raise self.unexpected(end, "a statement")

    def walk_include(self, text: str, path: Path, real: str) -> None:
        """Walk an included file in the current mode, then resume this one."""
        keep = {name: getattr(self, name) for name in _PER_FILE}
        self._enter(path, real, self.depth + 1)
        try:
            self.walk(text)
        finally:
            for name, value in keep.items():
                setattr(self, name, value)
            self.leave((self.dead, self.maybe))

    def _collect_risky(self) -> None:
        """Functions whose bodies may define constants or include files: calling them is opaque."""
        tokens, n = self.tokens, len(self.tokens)
        declared = [k for k in range(n - 2) if tokens[k].kind == "name" and tokens[k].value.lower() == "function"]
        seen = list(accumulate((self._risky_token(tok) for tok in tokens), initial=0)) if declared else []
        for k in declared:
            j = k + 1 + is_op(tokens[k + 1], "&")
            if j >= n or tokens[j].kind != "name" or not is_op(tokens[j + 1] if j + 1 < n else None, "("):
                continue
            body = self._body_after(self.partner[j + 1] + 1, limit=64)
            if body and seen[body[1]] > seen[body[0]]:
                self.risky.add(tokens[j].value.lower())

    @staticmethod
    def _risky_token(tok: Tok) -> bool:
        if tok.kind == "var":
            return tok.value in ("GLOBALS", "table_prefix")
        return tok.kind == "name" and tok.value.lower() in (
            "define", "include", "include_once", "require", "require_once", "eval", "putenv", "global")

    def _body_after(self, i: int, limit: int = 0) -> Optional[Tuple[int, int]]:
        """The ``{...}`` after a declaration head starting at ``i`` (None if it
        ends with ';', or with ``limit``, is not within that many tokens)."""
        tokens, start = self.tokens, i
        while i < len(tokens) and not (limit and i - start > limit):
            if is_op(tokens[i], "{"):
                return i, self.partner[i]
            if is_op(tokens[i], ";"):
                return None
            i = self.partner[i] + 1 if is_op(tokens[i], "(", "[") else i + 1
        if limit:
            return None
        raise self.unexpected(i, "'{'")

    def read_included(self, path: Path) -> str:
        return read_php_file(path)

    def max_include_depth(self) -> int:
        return MAX_INCLUDE_DEPTH

    # -- messages ------------------------------------------------------------

    def line(self, i: int) -> int:
        if self._lines is None:
            self._lines = [m.start() for m in re.finditer("\n", self.text)]
        pos = self.tokens[i].start if i < len(self.tokens) else len(self.text)
        return bisect.bisect_left(self._lines, pos) + 1

    def where(self, i: int) -> str:
        return f"line {self.line(i)}" + ("" if self.path == self.shown else f" of {self.path}")

    def source(self, lo: int, hi: int, redact: bool = False) -> str:
        parts: List[str] = []
        size = 0
        for k in range(lo, hi):
            tok = self.tokens[k]
            if k > lo and tok.start > self.tokens[k - 1].end:
                parts.append(" ")
            literal = tok.kind in ("str", "num", "other")
            piece = "'***'" if redact and literal else self.text[tok.start:tok.end]
            parts.append(piece)
            size += len(piece) + 1
            if size > 200:
                break
        shown = " ".join("".join(parts).split())
        return shown if len(shown) <= 80 else shown[:77] + "..."

    def reason_for(self, lo: int, hi: int) -> str:
        return f"the condition `{self.source(lo, hi)}` on {self.where(lo)}"

    def unexpected(self, i: int, expected: str) -> ParseError:
        line = self.line(min(i, len(self.tokens) - 1)) if self.tokens else 1
        if i >= len(self.tokens):
            return ParseError(f"{self.path}: syntax error on line {line}: unexpected end of file, expected {expected}")
        return ParseError(f"{self.path}: syntax error on line {line}: unexpected {describe(self.tokens[i])},"
                          f" expected {expected}")

    # -- modes ---------------------------------------------------------------

    def leave(self, saved: Tuple[bool, Optional[str]]) -> None:
        self.dead = saved[0] or self.halted or self.returned
        self.maybe = saved[1] or self.tail

    def make_opaque(self, what: str) -> None:
        if not self.dead:
            self.opaque = self.opaque or what
            self.env_opaque = True

    def terminate(self, tok: Tok) -> None:
        """``exit``/``die``/``throw``: when sure, nothing after it runs. In a
        branch that may or may not run, it does not change what WordPress
        connects with when it does load."""
        if not self.dead and not self.maybe:
            self.halted = self.dead = True
