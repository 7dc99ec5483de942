"""A bounded static scan of the PHP that registers types outside plugins: the
mu-plugins folder and the active theme (child, then parent).

Only files that mention ``register_post_type`` / ``register_taxonomy`` (or a
CPT UI switch filter) are tokenized, with the same lexer as wp-config.php;
nothing is executed. A call counts when its slug and arguments can be read
statically: literals, ``array()`` / ``[]``, translation calls with literal
strings (``__()``, ``_x()``, ``esc_html__()`` ...), local variables assigned
before the call, and the parameters of a helper function filled in from each
call of that helper. ``if`` blocks (and early ``return``) around a call are
decided where they can be: ``get_theme_mod()`` reads the active theme's mods;
a condition that cannot be decided is assumed true.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from igny8_agent.errors import ParseError
from igny8_agent.phpeval import UNKNOWN, Evaluator, and_, not_
from igny8_agent.phplex import OPENERS, Lexer, Tok, is_op, split_args
from igny8_agent.sitefiles import SiteFiles, ThemeDirs, read_file, top_level_files, walk_files

MAX_SCAN_SECONDS = 2.0
_REGISTER = {"register_post_type": "post_types", "register_taxonomy": "taxonomies"}
_MARKERS = (b"register_post_type", b"register_taxonomy", b"cptui_disable")




@dataclass
class Registration:
    kind: str
    slug: str
    args: object  # dict (values may be UNKNOWN), or UNKNOWN
    source: str
    where: str  # file:line


@dataclass
class CodeScan:
    registrations: List[Registration] = field(default_factory=list)
    filters: Dict[str, List[object]] = field(default_factory=dict)  # hook -> "__return_true" or {compared strings}
    notes: List[str] = field(default_factory=list)

    def filter_returns_true(self, hook: str) -> bool:
        return any(cb == "__return_true" for cb in self.filters.get(hook, ()))

    def slugs_matched_by(self, hook: str) -> Set[str]:
        out: Set[str] = set()
        for cb in self.filters.get(hook, ()):
            if isinstance(cb, set):
                out |= cb
        return out


def scan_code(files: Optional[SiteFiles], themes: Optional[ThemeDirs], theme_mods: dict,
              warnings: List[str]) -> CodeScan:
    if files is None:
        return CodeScan()
    groups: List[Tuple[str, List[Path]]] = [("mu-plugin", top_level_files(files.mu_plugin_dir, ".php"))]
    for directory in themes.in_load_order() if themes else []:
        groups.append(("theme", list(walk_files(directory, ".php"))))
    if files.cache_dir is None:
        return _scan(groups, theme_mods, warnings)
    from igny8_agent import scancache

    key = scancache.fingerprint(groups, theme_mods)
    cached = scancache.load(files.cache_dir, key)
    if cached is not None:
        return cached
    scan = _scan(groups, theme_mods, warnings)
    scancache.store(files.cache_dir, key, scan)
    return scan


def _scan(groups: List[Tuple[str, List[Path]]], theme_mods: dict, warnings: List[str]) -> CodeScan:
    scan = CodeScan()
    deadline = time.monotonic() + MAX_SCAN_SECONDS
    units = _read_units(groups, _MARKERS, deadline, scan, warnings)
    # Helpers that register with their parameters may be called from files
    # that never name register_post_type(): read those files too.
    helpers = {fn.name.encode() for unit in units for fn in unit.helpers()}
    if helpers:
        seen = {unit.path for unit in units}
        others = [(source, [p for p in paths if p not in seen]) for source, paths in groups]
        units += _read_units(others, tuple(helpers), deadline, scan, warnings)
    env = Evaluator(theme_mods)
    for unit in units:
        unit.collect(scan, env, units)
    return scan


def _read_units(groups, markers, deadline: float, scan: CodeScan, warnings: List[str]) -> List["_Unit"]:
    units: List[_Unit] = []
    for source, paths in groups:
        for path in paths:
            if time.monotonic() > deadline:
                warnings.append("the theme scan stopped at its time limit; some types may be missing")
                return units
            data = read_file(path)
            if data is None or not any(m in data for m in markers):
                continue
            try:
                units.append(_Unit(path, source, data.decode("utf-8", "replace")))
            except ParseError as exc:
                scan.notes.append(f"skipped {path}: {exc}")
    return units


@dataclass
class _Function:
    name: str
    params: List[Tuple[str, Optional[List[Tok]]]]  # (variable, default expression)
    body: Tuple[int, int]  # token range inside the braces


class _Unit:
    """One tokenized file: its functions, closures and brace structure."""

    def __init__(self, path: Path, source: str, text: str) -> None:
        self.path, self.source, self.text = path, source, text
        self.tokens = Lexer(text, path).run()
        self.match = _match_brackets(self.tokens)
        self.functions: Dict[str, _Function] = {}
        self.scopes: List[Tuple[int, int, Optional[_Function]]] = []  # every function body
        self._find_functions()

    def where(self, i: int) -> str:
        return f"{self.path.name}:{self.text.count(chr(10), 0, self.tokens[i].start) + 1}"

    def _find_functions(self) -> None:
        toks = self.tokens
        for i, tok in enumerate(toks):
            if tok.kind != "name" or tok.value.lower() != "function":
                continue
            j, name = i + 1, None
            if j < len(toks) and is_op(toks[j], "&"):
                j += 1
            if j < len(toks) and toks[j].kind == "name":
                name, j = toks[j].value.lower(), j + 1
            if j >= len(toks) or not is_op(toks[j], "(") or j not in self.match:
                continue
            params = _params(toks, j, self.match[j])
            k = self.match[j] + 1
            while k < len(toks) and not is_op(toks[k], "{", ";"):
                k = self.match.get(k, k) + 1  # skip `use (...)` and a return type
            if k >= len(toks) or not is_op(toks[k], "{") or k not in self.match:
                continue
            fn = _Function(name or "", params, (k + 1, self.match[k]))
            self.scopes.append((k + 1, self.match[k], fn if name else None))
            if name and not is_op(toks[i - 1] if i else None, "->", "::"):
                self.functions.setdefault(name, fn)

    def scope_of(self, i: int) -> Tuple[int, int, Optional[_Function]]:
        best = (0, len(self.tokens), None)
        for start, end, fn in self.scopes:
            if start <= i < end and start >= best[0]:
                best = (start, end, fn)
        return best

    def calls(self, names) -> List[Tuple[str, int]]:
        out = []
        for i, tok in enumerate(self.tokens):
            if tok.kind == "name" and i + 1 < len(self.tokens) and is_op(self.tokens[i + 1], "("):
                name = tok.value.lstrip("\\").lower()
                prev = self.tokens[i - 1] if i else None
                if name in names and not is_op(prev, "->", "::") and not (
                    prev is not None and prev.kind == "name" and prev.value.lower() == "function"
                ):
                    out.append((name, i))
        return out

    def helpers(self) -> List[_Function]:
        """Functions that register types with their own parameters."""
        out = []
        for _name, i in self.calls(set(_REGISTER)):
            split = split_args(self.tokens, i + 1, bodies=True)
            fn = self.scope_of(i)[2]
            if split is not None and fn is not None and fn.name and _uses_params(split[0], fn):
                out.append(fn)
        return out

    def collect(self, scan: CodeScan, env: "Evaluator", units: List["_Unit"]) -> None:
        for name, i in self.calls(set(_REGISTER) | {"add_filter"}):
            split = split_args(self.tokens, i + 1, bodies=True)
            if split is None:
                continue
            args = split[0]
            start, end, fn = self.scope_of(i)
            if name == "add_filter":
                self._filter(scan, env, args, start, i)
                continue
            if fn is not None and _uses_params(args, fn):
                for caller, call_index in _callers(fn.name, units):
                    bindings = caller.bind(fn, call_index, env)
                    if bindings is not None:
                        self._register(scan, env, name, args, start, i, bindings, caller.where(call_index))
            elif fn is None or _referenced(fn.name, units):
                self._register(scan, env, name, args, start, i, {}, self.where(i))

    def bind(self, fn: _Function, i: int, env: "Evaluator") -> Optional[Dict[str, object]]:
        """The helper's parameters at the call at ``i``, or None if that
        call sits under a condition known to be false."""
        split = split_args(self.tokens, i + 1, bodies=True)
        if split is None:
            return None
        start, _end, _fn = self.scope_of(i)
        local = self.locals(start, i, env, {})
        if self.condition(start, i, env, local) is False:
            return None
        values: Dict[str, object] = {}
        for n, (var, default) in enumerate(fn.params):
            if n < len(split[0]):
                values[var] = env.value(split[0][n], local)
            else:
                values[var] = env.value(default, {}) if default else UNKNOWN
        return values

    def locals(self, start: int, i: int, env: "Evaluator", bindings: Dict[str, object]) -> Dict[str, object]:
        """Variables assigned in the scope before token ``i``."""
        values = dict(bindings)
        toks, j = self.tokens, start
        while j < i:
            tok = toks[j]
            if tok.kind == "var" and j + 1 < i and is_op(toks[j + 1], "=") and not is_op(toks[j - 1], "->", "::"):
                end = _statement_end(toks, j + 2, self.match)
                if end <= i:
                    values[tok.value] = env.value(toks[j + 2:end], values)
                    j = end
                    continue
            j = self.match[j] + 1 if is_op(tok, "{") and j in self.match and _closure_body(toks, j) else j + 1
        return values

    def condition(self, start: int, i: int, env: "Evaluator", local: Dict[str, object]) -> object:
        """Whether the code at ``i`` runs: False, True or UNKNOWN, from the
        ``if`` blocks around it and early ``return``s before it."""
        toks, result, j = self.tokens, True, start
        while j < i:
            tok = toks[j]
            if tok.kind == "name" and tok.value.lower() == "if" and j + 1 < i and is_op(toks[j + 1], "("):
                chain, j_end = self._if_chain(j)
                earlier: List[object] = []
                for cond, (b0, b1) in chain:
                    if b0 <= i < b1:
                        for c in earlier:
                            result = and_(result, not_(c))
                        return and_(result, env.truth(cond, local) if cond is not None else True) and (
                            self.condition(b0, i, env, local))
                    earlier.append(env.truth(cond, local) if cond is not None else True)
                if len(chain) == 1 and _only_returns(toks, *chain[0][1]):
                    result = and_(result, not_(earlier[0]))
                j = max(j_end, j + 1)
                continue
            if is_op(tok, "{") and self.match.get(j, i) < i:
                j = self.match[j] + 1  # a block before the call (a loop, a closure): not on its path
                continue
            j += 1
        return result

    def _if_chain(self, j: int):
        toks, chain = self.tokens, []
        while True:
            close = self.match.get(j + 1)
            if close is None:
                return chain, j + 1
            cond = toks[j + 2:close]
            block = self._block(close + 1)
            chain.append((cond, block))
            k = block[1] + (1 if block[1] < len(toks) and is_op(toks[block[1]], "}") else 0)
            if k < len(toks) and toks[k].kind == "name" and toks[k].value.lower() == "elseif":
                j = k
                continue
            if k < len(toks) and toks[k].kind == "name" and toks[k].value.lower() == "else":
                if k + 1 < len(toks) and toks[k + 1].kind == "name" and toks[k + 1].value.lower() == "if":
                    j = k + 1
                    continue
                block = self._block(k + 1)
                chain.append((None, block))
                return chain, block[1]
            return chain, k

    def _block(self, k: int) -> Tuple[int, int]:
        if k < len(self.tokens) and is_op(self.tokens[k], "{") and k in self.match:
            return k + 1, self.match[k]
        return k, _statement_end(self.tokens, k, self.match) + 1

    def _register(self, scan, env, name, args, start, i, bindings, where) -> None:
        local = self.locals(start, i, env, bindings)
        if self.condition(start, i, env, local) is False or not args:
            return
        slug = env.value(args[0], local)
        if not isinstance(slug, str):
            scan.notes.append(f"{where}: {name}() with a slug that cannot be read statically")
            return
        spec = args[2] if name == "register_taxonomy" and len(args) > 2 else (args[1] if name == "register_post_type" and len(args) > 1 else None)
        value = env.value(spec, local) if spec else {}
        scan.registrations.append(Registration(_REGISTER[name], slug, value, self.source, where))

    def _filter(self, scan, env, args, start, i) -> None:
        if len(args) < 2:
            return
        hook = env.value(args[0], {})
        if not isinstance(hook, str):
            return
        callback = args[1]
        if len(callback) == 1 and callback[0].kind == "str":
            if callback[0].value == "__return_true":
                scan.filters.setdefault(hook, []).append("__return_true")
            return
        compared = {t.value for k, t in enumerate(callback) if t.kind == "str" and t.value and (
            is_op(callback[k - 1] if k else None, "===", "==") or is_op(callback[k + 1] if k + 1 < len(callback) else None, "===", "=="))}
        scan.filters.setdefault(hook, []).append(compared)


def _match_brackets(toks: List[Tok]) -> Dict[int, int]:
    match: Dict[int, int] = {}
    stack: List[int] = []
    for i, tok in enumerate(toks):
        if tok.kind != "op":
            continue
        if tok.value in OPENERS:
            stack.append(i)
        elif tok.value in (")", "]", "}") and stack:
            match[stack.pop()] = i
    return match


def _params(toks: List[Tok], open_i: int, close_i: int) -> List[Tuple[str, Optional[List[Tok]]]]:
    split = split_args(toks, open_i, bodies=True)
    params = []
    for arg in split[0] if split else []:
        var = next((t for t in arg if t.kind == "var"), None)
        if var is None:
            continue
        k = arg.index(var)
        default = arg[k + 2:] if k + 1 < len(arg) and is_op(arg[k + 1], "=") else None
        params.append((var.value, default))
    return params


def _statement_end(toks: List[Tok], j: int, match: Dict[int, int]) -> int:
    while j < len(toks) and not is_op(toks[j], ";"):
        j = match.get(j, j) + 1
    return j


def _closure_body(toks: List[Tok], j: int) -> bool:
    """Whether the ``{`` at ``j`` opens a function body (its variables are its own)."""
    k = j - 1
    while k >= 0 and not is_op(toks[k], ")"):
        k -= 1
        if j - k > 8:
            return False
    return k >= 0 and any(t.kind == "name" and t.value.lower() in ("function", "use") for t in toks[max(0, k - 40):k])


def _only_returns(toks: List[Tok], b0: int, b1: int) -> bool:
    return b1 > b0 and toks[b0].kind == "name" and toks[b0].value.lower() == "return"


def _uses_params(args: List[List[Tok]], fn: _Function) -> bool:
    names = {p for p, _ in fn.params}
    return any(t.kind == "var" and t.value in names for arg in args for t in arg)


def _callers(name: str, units: List[_Unit]):
    for unit in units:
        for _n, i in unit.calls({name}):
            yield unit, i


def _referenced(name: str, units: List[_Unit]) -> bool:
    """A named function runs only if something calls it or hooks it by name."""
    for unit in units:
        for i, tok in enumerate(unit.tokens):
            if tok.kind == "str" and isinstance(tok.value, str) and tok.value.lower().lstrip("\\") == name:
                return True
            if tok.kind == "name" and tok.value.lower().lstrip("\\") == name and i + 1 < len(unit.tokens) \
                    and is_op(unit.tokens[i + 1], "(") and not (i and unit.tokens[i - 1].kind == "name"
                                                             and unit.tokens[i - 1].value.lower() == "function"):
                return True
    return False
