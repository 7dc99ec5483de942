"""What wp-config.php's expressions touch: constants, variables, the
environment, files and the functions the reader knows (``define``,
``defined``, ``getenv``, the file tests, ``dirname`` ...). Part of
``wpconfig_eval.Walker``; the walk's state lives there.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set, Tuple

from .phplex import Tok, is_op
from .phpvalues import Unknown, Unset, php_dirname, plain, truthy, unknown_of
from .wpconfig_expr import ExprMixin, Unparsed

_SECRET_NAME = re.compile(r"PASS|KEY|SALT|SECRET|TOKEN", re.IGNORECASE)
_MAX_SECRET_FILE = 64 * 1024  # bytes read from a getenv_docker ..._FILE secret
_MAX_INCLUDED_BYTES = 4 * 1024 * 1024  # all the files one walk follows, together
_INCLUDES = ("include", "include_once", "require", "require_once")
_FILE_TESTS = ("file_exists", "is_file", "is_readable", "is_dir")
# Set by the request that loads WordPress (or by PHP itself): defined() of
# these cannot be answered from the files.
_REQUEST_CONSTANTS = frozenset(
    "WP_ADMIN WP_NETWORK_ADMIN WP_USER_ADMIN WP_BLOG_ADMIN DOING_AJAX DOING_CRON WP_CLI WP_INSTALLING "
    "WP_INSTALLING_NETWORK XMLRPC_REQUEST WP_USE_THEMES SHORTINIT WP_SETUP_CONFIG WP_REPAIRING "
    "IFRAME_REQUEST WP_LOAD_IMPORTERS DOING_AUTOSAVE".split()
)
_BUILTIN_PREFIXES = ("PHP_", "E_", "MYSQLI_", "ZEND_", "PDO", "DIRECTORY_SEPARATOR", "PATH_SEPARATOR", "M_")
_BUILTIN_VALUES = {"DIRECTORY_SEPARATOR": "/", "PATH_SEPARATOR": ":", "PHP_EOL": "\n"}


class CallsMixin(ExprMixin):
    """The walker provides ``where``, ``source``, ``make_opaque``,
    ``walk_include``, ``read_included`` and ``max_include_depth``."""

    shown: Path
    path: Path
    file: str
    dir: str
    depth: int
    area: Optional[str]
    environ: Mapping[str, str]
    constants: Dict[str, object]
    unresolved: Dict[str, str]
    undecided: Dict[str, str]
    predefined: Dict[str, object]
    vars: Dict[str, object]
    env_set: Dict[str, object]
    super_set: Dict[Tuple[str, str], object]
    opaque: Optional[str]
    env_opaque: bool
    included: Set[str]
    included_bytes: int
    risky: Set[str]
    visited: Set[int]
    namespace: str
    halted: bool

    # -- constants -----------------------------------------------------------

    def record(self, name: str, value: object, lo: int, hi: int) -> None:
        """``define(name, value)``: the first definition wins, as in PHP."""
        if self.dead or name in self.constants or name in self.unresolved or name in self.undecided:
            return
        if name in self.predefined:
            return
        if self.maybe:
            self.undecided[name] = self.maybe
        elif isinstance(value, Unknown) and value.reason:
            self.undecided[name] = value.reason
        elif isinstance(value, (Unknown, Unset)):
            self.unresolved[name] = self.source(lo, hi, redact=bool(_SECRET_NAME.search(name)))
        else:
            self.constants[name] = value

    def constant(self, name: str, tok: Tok) -> object:
        lower = name.lower()
        if lower in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[lower]
        if lower == "__dir__":
            return self.dir
        if lower == "__file__":
            return self.file
        if self.namespace and f"{self.namespace}\\{name}" in self.constants:
            return self.constants[f"{self.namespace}\\{name}"]
        if name in self.constants:
            return self.constants[name]
        if name in self.undecided:
            return Unknown(self.undecided[name])
        if name in self.predefined:
            return self.predefined[name]
        return _BUILTIN_VALUES.get(name, Unknown())

    def defined(self, name: str) -> object:
        name = name.lstrip("\\")
        if name in self.constants or name in self.unresolved or name in self.predefined:
            return True
        if name in self.undecided:
            return Unknown(self.undecided[name])
        if name in _REQUEST_CONSTANTS or name.startswith(_BUILTIN_PREFIXES) or self.opaque:
            return Unknown()
        return False

    # -- variables and the environment ----------------------------------------

    def get_var(self, name: str) -> object:
        return self.vars.get(name, Unknown())

    def set_var(self, name: str, value: object, op: Optional[str]) -> None:
        if not self.dead:
            self.vars[name] = Unknown(self.maybe) if self.maybe else value

    def env(self, name: str) -> object:
        """``getenv(name)`` in this run's environment; false when unset."""
        if name in self.env_set:
            return self.env_set[name]
        if name in self.environ:
            return self.environ[name]
        return Unknown() if self.env_opaque else Unset(False)

    def superglobal(self, name: str, key: str) -> object:
        if (name, key) in self.super_set:
            return self.super_set[(name, key)]
        if key in self.environ:
            return self.environ[key]
        # $_SERVER also holds what the web server sets (HTTP_HOST ...): not knowable here.
        return Unset(None) if name == "_ENV" and not self.env_opaque else Unknown()

    def set_superglobal(self, name: str, key: object, value: object) -> None:
        if self.dead:
            return
        if isinstance(key, str):
            self.super_set[(name, key)] = Unknown(self.maybe) if self.maybe else value
        elif name == "_ENV":
            self.env_opaque = True

    # -- calls ---------------------------------------------------------------

    def call(self, function: str, ranges: List[Tuple[int, int]], at: int) -> object:
        if function == "define":
            return self._define(ranges, at)
        if function in ("isset", "empty"):
            values = [self._value(lo, hi) for lo, hi in ranges]
            missing = next((v for v in values if isinstance(v, Unknown)), None)
            if function == "empty":
                return missing or (not truthy(values[0]) if values else Unknown())
            return missing or all(plain(v) is not None for v in values)
        values = [self._value(lo, hi) for lo, hi in ranges]
        if function in ("eval", "putenv") or function in self.risky:
            self.visited.add(at)
            if function == "putenv" and values:
                return self._putenv(plain(values[0]))
            self.make_opaque(f"{'eval()' if function == 'eval' else f'the call to {function}()'} on {self.where(at)}")
            return Unknown()
        if function == "unset":
            for lo, hi in ranges:
                if hi - lo == 1 and self.tokens[lo].kind == "var":
                    self.set_var(self.tokens[lo].value, Unknown(), None)
            return None
        args = [plain(v) for v in values]
        return unknown_of(*args) or self._known_call(function, args)

    def _known_call(self, function: str, args: List[object]) -> object:
        first = args[0] if args else None
        if function == "defined" and isinstance(first, str):
            return self.defined(first)
        if function == "constant" and isinstance(first, str):
            return self.constant(first.lstrip("\\"), None) if first.lower() not in ("true", "false", "null") else Unknown()
        if function == "getenv" and isinstance(first, str):
            return self.env(first)
        if function == "getenv_docker" and len(args) == 2 and isinstance(first, str):
            return self._getenv_docker(first, args[1])
        if function in _FILE_TESTS and len(args) == 1 and isinstance(first, str):
            return self._file_test(function, first)
        if function == "dirname" and isinstance(first, str) and len(args) in (1, 2):
            levels = args[1] if len(args) == 2 else 1
            if isinstance(levels, int) and not isinstance(levels, bool) and 1 <= levels <= 64:
                return php_dirname(first, levels)
        return Unknown()

    def _value(self, lo: int, hi: int) -> object:
        try:
            return self.expr(lo, hi)
        except Unparsed:
            return Unknown()

    def _define(self, ranges: List[Tuple[int, int]], at: int) -> object:
        self.visited.add(at)
        values = [self._value(lo, hi) for lo, hi in ranges]
        if len(values) < 2 or self.dead:
            return Unknown()
        name = plain(values[0])
        if isinstance(name, Unknown):
            self.make_opaque(f"the define() with a computed name on {self.where(at)}")
        elif isinstance(name, str):
            self.record(name, values[1], *ranges[1])
        return Unknown()

    def _putenv(self, setting: object) -> object:
        if self.dead:
            return Unknown()
        if not isinstance(setting, str):
            self.env_opaque = True
            return Unknown()
        key, equals, value = setting.partition("=")
        self.env_set[key] = Unknown(self.maybe) if self.maybe else (value if equals else Unset(False))
        return True

    def _getenv_docker(self, name: str, default: object) -> object:
        """The official Docker image's helper: ``<name>_FILE``'s contents, ``<name>``, else the default."""
        secret_file = self.env(name + "_FILE")
        if isinstance(secret_file, Unknown):
            return secret_file
        if secret_file not in (False, "", "0") and not isinstance(secret_file, Unset):
            if not os.path.isfile(str(secret_file)):  # a regular file only: a FIFO would block
                return Unknown()
            try:
                with open(str(secret_file), "rb") as handle:
                    data = handle.read(_MAX_SECRET_FILE + 1)
            except OSError:
                return Unknown()
            if len(data) > _MAX_SECRET_FILE:
                return Unknown()
            return data.decode("utf-8", "replace").rstrip("\r\n")
        value = self.env(name)
        return default if isinstance(value, Unset) else value

    # -- files -----------------------------------------------------------------

    def _inside(self, path: str) -> Optional[str]:
        """The real path of ``path`` if it lies under the walk's area, else None."""
        if not path.startswith("/") or self.area is None:
            return None
        real = os.path.realpath(path)
        return real if real == self.area or real.startswith(self.area.rstrip("/") + "/") else None

    def _file_test(self, function: str, path: str) -> object:
        real = self._inside(path)
        if real is None:
            return Unknown()
        try:
            info = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return Unknown()
        if function == "is_file":
            return stat.S_ISREG(info.st_mode)
        if function == "is_dir":
            return stat.S_ISDIR(info.st_mode)
        if function == "is_readable":
            return True if os.access(real, os.R_OK) else Unknown()
        return True

    def include(self, kind: str, path: object, at: int, lo: int, hi: int) -> None:
        self.visited.add(at)
        if self.dead:
            return
        shown = self.source(lo, hi)
        where = self.where(at)
        path = plain(path)
        if not isinstance(path, str):
            if re.search(r"wp-settings\.php['\"]\)?$", shown):
                self._wordpress_loads()
            else:
                self.make_opaque(f"the file included on {where} (`{shown}`)")
            return
        if os.path.basename(path) == "wp-settings.php":
            self._wordpress_loads()
            return
        if not path.startswith("/") and not path.startswith(("./", "../")):
            path = os.path.join(self.dir, path)
        real = self._inside(path)
        if real is None:
            self.make_opaque(f"{path}, included on {where}")
            return
        try:
            info = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return  # include warns and goes on; require stops the site: nothing defined either way
        except OSError:
            self.make_opaque(f"{path}, included on {where}")
            return
        if real in self.included:
            return  # a second run of a file defines nothing new: the first definition wins
        unfollowed = (not stat.S_ISREG(info.st_mode) or not os.access(real, os.R_OK)
                      or self.depth + 1 > self.max_include_depth()
                      or self.included_bytes + info.st_size > _MAX_INCLUDED_BYTES)
        if unfollowed:
            self.make_opaque(f"{path}, included on {where}")
            return
        self.included.add(real)
        self.included_bytes += info.st_size
        self.walk_include(self.read_included(Path(path)), Path(path), real)

    def _wordpress_loads(self) -> None:
        """``require wp-settings.php``: WordPress connects now; later statements are too late."""
        if not self.dead and not self.maybe:
            self.halted = self.dead = True

    # -- the safety net --------------------------------------------------------

    def sweep(self, lo: int, hi: int) -> None:
        """After evaluating tokens[lo:hi]: ``define()`` calls the evaluator did
        not reach (inside unknown calls, closures, arrays) may or may not run;
        includes and ``eval`` not handled are opaque; method calls and ``new``
        (a .env loader) make unset environment variables unknown."""
        tokens = self.tokens
        for k in range(lo, hi):
            tok = tokens[k]
            if tok.kind != "name" or k in self.visited:
                continue
            prev = tokens[k - 1] if k else None
            call = k + 1 < hi and is_op(tokens[k + 1], "(")
            word = tok.value.lstrip("\\").lower()
            if is_op(prev, "->", "?->", "::"):
                if call and "define" in word:  # Config::define('DB_NAME', ...) and the like
                    self.make_opaque(f"the call to {tok.value}() on {self.where(k)}")
                elif call or "dotenv" in word:  # may load a .env file into the environment
                    self.env_opaque = True
                continue
            if word == "define" and call:
                self.visited.add(k)
                self._define_somewhere(k)
            elif word in _INCLUDES or (call and (word in ("eval", "putenv") or word in self.risky)):
                self.make_opaque(f"`{tok.value}` on {self.where(k)}")
            elif word == "new" or "dotenv" in word:
                self.env_opaque = True

    def _define_somewhere(self, k: int) -> None:
        close = self.partner[k + 1]
        ranges = self.args(k + 2, close)
        if len(ranges) < 2:
            return
        name = plain(self.under(True, lambda: self._value(*ranges[0])))
        if isinstance(name, str):
            self.under(f"the expression on {self.where(k)}", lambda: self.record(name, Unknown(), *ranges[1]))
        else:
            self.make_opaque(f"the define() with a computed name on {self.where(k)}")
