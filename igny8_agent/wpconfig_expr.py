"""Expressions of wp-config.php, evaluated as PHP would without running it.

A precedence-climbing parser over a checked token range. Literals, earlier
constants and variables, ``.``, ``!``, unary ``-``, comparisons, ``&&``
``||`` ``and`` ``or``, ``??``, ``?:``, ternaries, ``__DIR__``/``__FILE__``,
``dirname()``, ``getenv()``, ``$_ENV``/``$_SERVER``, ``defined()`` and the
file tests have values; anything else is ``Unknown``. Side effects
(``define()``, assignments, ``include``) are handed to the statement walker
(``wpconfig_eval.Walker``), which owns the state and the mode: an operand
that PHP would skip is parsed dead, one that PHP may or may not reach is
parsed in "maybe" mode.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from .phplex import Tok
from .phpsyntax import CASTS
from .phpvalues import Unknown, Unset, loose_equal, php_string, plain, strict_equal, truthy, unknown_of


class Unparsed(Exception):
    """The range is not an expression this parser knows; its value is Unknown."""


MAX_DEPTH = 64
MAX_BUILT = 1024 * 1024  # characters all concatenations of one run may build
_ASSIGN = {"=", ".=", "??=", "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>="}
# left binding power of infix operators (PHP 8 precedence, higher binds tighter)
_INFIX = {
    "or": 1, "xor": 2, "and": 3, "?": 5, "??": 6, "||": 7, "&&": 8, "|": 9, "^": 10, "&": 11,
    "==": 12, "!=": 12, "===": 12, "!==": 12, "<>": 12, "<=>": 12, "<": 13, "<=": 13, ">": 13, ">=": 13,
    ".": 14, "<<": 15, ">>": 15, "+": 16, "-": 16, "*": 17, "/": 17, "%": 17, "instanceof": 19, "**": 21,
}


class ExprMixin:
    """The expression half of ``wpconfig_eval.Walker``, which provides the
    token list, ``partner`` (each bracket's partner index), the mode
    (``dead``, ``maybe``) and the hooks: ``leave``, ``reason_for``,
    ``get_var``/``set_var``, ``superglobal``/``set_superglobal``,
    ``constant``, ``call``, ``include`` and ``terminate``."""

    tokens: List[Tok]
    partner: List[int]
    dead: bool
    maybe: Optional[str]
    built: int

    # -- entry points --------------------------------------------------------

    def expr(self, lo: int, hi: int) -> object:
        """The value of tokens[lo:hi]; raises Unparsed if that is not one expression."""
        saved = (self._p, self._hi)
        self._p, self._hi = lo, hi
        try:
            value = self._parse(0)
            if self._p != hi:
                raise Unparsed()
            return value
        finally:
            self._p, self._hi = saved

    def args(self, lo: int, hi: int) -> List[Tuple[int, int]]:
        """Top-level comma-separated ranges in tokens[lo:hi] (empty ones dropped)."""
        out, start, i = [], lo, lo
        while i < hi:
            tok = self.tokens[i]
            if tok.kind == "op" and tok.value in ("(", "[", "{"):
                i = self.partner[i] + 1
                continue
            if tok.kind == "op" and tok.value == ",":
                out.append((start, i))
                start = i + 1
            i += 1
        out.append((start, hi))
        ranges = []
        for a, b in out:
            if b - a > 2 and self.tokens[a].kind == "name" and self._is(self.tokens[a + 1], ":"):
                a += 2  # a named argument: name: value
            if a < b:
                ranges.append((a, b))
        return ranges

    def under(self, mode: object, run: Callable[[], object]) -> object:
        """Run ``run`` dead (mode True), maybe (mode a reason) or as is (None)."""
        saved = (self.dead, self.maybe)
        if mode is True:
            self.dead = True
        elif mode:
            self.maybe = self.maybe or str(mode)
        try:
            return run()
        finally:
            self.leave(saved)

    # -- the parser ----------------------------------------------------------

    def _peek(self, offset: int = 0) -> Optional[Tok]:
        i = self._p + offset
        return self.tokens[i] if i < self._hi else None

    def _is(self, tok: Optional[Tok], *ops: str) -> bool:
        return tok is not None and tok.kind == "op" and tok.value in ops

    def _word(self, tok: Optional[Tok]) -> str:
        return tok.value.lstrip("\\").lower() if tok is not None and tok.kind == "name" else ""

    def _parse(self, rbp: int) -> object:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Unparsed()
        try:
            start = self._p
            left = self._prefix()
            while True:
                tok = self._peek()
                if tok is None:
                    return left
                op = tok.value.lower() if tok.kind == "name" else tok.value if tok.kind == "op" else None
                if op in _ASSIGN and rbp < 4:  # $a['k'] = ..., $o->p = ..., list() = ...
                    self._p += 1
                    self._parse(3)
                    left = Unknown()
                    continue
                bp = _INFIX.get(op or "", 0)
                if bp <= rbp:
                    return left
                self._p += 1
                left = self._infix(op, bp, left, start)
        finally:
            self._depth -= 1

    def _infix(self, op: str, bp: int, left: object, start: int) -> object:
        if op in ("||", "or", "&&", "and", "??"):
            return self._short_circuit(op, bp, left, start)
        if op == "?":
            return self._ternary(left, start)
        right = self._parse(bp - 1 if op == "**" else bp)
        missing = unknown_of(left, right)
        if op == "xor":
            return missing or (truthy(left) != truthy(right))
        if missing:
            return missing
        if op == ".":
            return self.concat(left, right)
        if op in ("==", "!=", "<>"):
            equal = loose_equal(left, right)
            return equal if isinstance(equal, Unknown) or op == "==" else not equal
        if op in ("===", "!=="):
            return strict_equal(left, right) == (op == "===")
        return Unknown()

    def _short_circuit(self, op: str, bp: int, left: object, start: int) -> object:
        """``||`` ``or`` ``&&`` ``and`` ``??``: the right side is dead when the left decides."""
        known = not isinstance(left, Unknown)
        if op == "??":
            skip = known and not (left is None or (isinstance(left, Unset) and left.value is None))
        else:
            skip = known and truthy(left) == (op in ("||", "or"))
        mode = True if skip else (None if known else self.reason_for(start, self._p - 1))
        right = self.under(mode, lambda: self._parse(bp - 1 if op == "??" else bp))
        if op == "??":
            return left if skip else (right if known else Unknown(left.reason))
        if skip:
            return op in ("||", "or")
        if known:
            return right if isinstance(right, Unknown) else truthy(right)
        # unknown || true is true, unknown && false is false
        if isinstance(right, Unknown) or truthy(right) == (op in ("&&", "and")):
            return unknown_of(left, right)
        return op in ("||", "or")

    def concat(self, left: object, right: object) -> object:
        """``left . right`` within the run's budget (MAX_BUILT characters)."""
        parts = [php_string(left), php_string(right)]
        if any(isinstance(p, Unknown) for p in parts):
            return unknown_of(*parts)
        self.built += len(parts[0]) + len(parts[1])
        return Unknown() if self.built > MAX_BUILT else parts[0] + parts[1]

    def _ternary(self, cond: object, start: int) -> object:
        reason = self.reason_for(start, self._p - 1) if isinstance(cond, Unknown) else None
        if self._is(self._peek(), ":"):  # ?:
            self._p += 1
            known_true = reason is None and truthy(cond)
            right = self.under(True if known_true else reason, lambda: self._parse(5))
            return cond if known_true else (right if reason is None else Unknown(cond.reason))
        first = self.under(reason or (None if truthy(cond) else True), lambda: self._parse(0))
        if not self._is(self._peek(), ":"):
            raise Unparsed()
        self._p += 1
        second = self.under(reason or (True if truthy(cond) else None), lambda: self._parse(5))
        if reason is not None:
            return Unknown(cond.reason)
        return first if truthy(cond) else second

    def _prefix(self) -> object:
        tok = self._peek()
        if tok is None:
            raise Unparsed()
        at = self._p
        if tok.kind != "op":
            self._p += 1
            if tok.kind == "var":
                return self._variable(tok)
            if tok.kind == "name":
                return self._name(tok, at)
            return self._postfix(Unknown() if tok.kind == "other" or tok.value is None else tok.value)
        value, nxt = tok.value, self._peek(1)
        if value == "(" and self._word(nxt) in CASTS and self._is(self._peek(2), ")"):
            self._p += 3
            return self._cast(self._word(nxt), self._parse(20))
        if value in ("(", "[", "{"):
            close = self.partner[at]
            inner = self.expr(at + 1, close) if value == "(" else Unknown()
            self._p = close + 1
            return self._postfix(inner)
        if value not in ("!", "-", "+", "~", "@", "&", "++", "--", "...", "$"):
            raise Unparsed()
        self._p += 1
        operand = self._parse(18 if value == "!" else 20)
        if value == "!":
            return operand if isinstance(operand, Unknown) else not truthy(operand)
        if value == "@":
            return operand
        number = plain(operand)
        if value in "-+" and isinstance(number, (int, float)) and not isinstance(number, bool):
            return -number if value == "-" else number
        return unknown_of(operand) or Unknown()

    def _cast(self, kind: str, value: object) -> object:
        if isinstance(value, Unknown):
            return value
        if kind in ("bool", "boolean"):
            return truthy(value)
        if kind in ("string", "binary"):
            return php_string(value)
        return Unknown()

    def _postfix(self, value: object) -> object:
        """Indexes, calls, ``->``, ``::`` and ``++`` after a value: all unknown."""
        while True:
            tok = self._peek()
            if self._is(tok, "[", "(", "{"):
                self._p = self.partner[self._p] + 1
            elif self._is(tok, "->", "?->", "::"):
                self._p += 1
                member = self._peek()
                if self._is(member, "{", "("):
                    self._p = self.partner[self._p] + 1
                elif self._is(member, "$"):
                    self._p += 1
                    continue
                elif member is not None and member.kind in ("name", "var"):
                    self._p += 1
                else:
                    raise Unparsed()
            elif self._is(tok, "++", "--"):
                self._p += 1
            else:
                return value
            value = Unknown()

    def _variable(self, tok: Tok) -> object:
        name, nxt = tok.value, self._peek()
        if name in ("_ENV", "_SERVER", "GLOBALS") and self._is(nxt, "["):
            close = self.partner[self._p]
            key = plain(self.expr(self._p + 1, close)) if close > self._p + 1 else Unknown()
            self._p = close + 1
            if name == "GLOBALS" and isinstance(key, str):
                return self._variable(Tok("var", key, tok.start, tok.end))
            if self._is(self._peek(), *_ASSIGN):
                return self._assign(self._peek().value, (name, key))
            if not isinstance(key, str) or name == "GLOBALS":
                return self._postfix(Unknown())
            return self._postfix(self.superglobal(name, key))
        if self._is(nxt, *_ASSIGN):
            return self._assign(nxt.value, name)
        value = self._postfix(self.get_var(name))
        if self._p > 0 and self.tokens[self._p - 1] is not tok and self._is(self._peek(), *_ASSIGN):
            self._p += 1  # $a['k'] = ... or $o->p = ...: $a is no longer known
            self._parse(3)
            self.set_var(name, Unknown(), None)
            return Unknown()
        return value

    def _assign(self, op: str, target: object) -> object:
        self._p += 1
        current = self.get_var(target) if isinstance(target, str) and op != "=" else None
        if op == "??=" and isinstance(target, str):
            skip = not isinstance(current, Unknown) and current is not None and not isinstance(current, Unset)
            value = self.under(True if skip else None, lambda: self._parse(3))
            value = current if skip else value
        else:
            value = self._parse(3)
            if op == ".=":
                value = unknown_of(current, value) or self.concat(current, value)
            elif op != "=":
                value = Unknown()
        if isinstance(target, str):
            self.set_var(target, value, op)
        else:
            self.set_superglobal(target[0], target[1], value)
        return value

    def _name(self, tok: Tok, at: int) -> object:
        word = self._word(tok)
        nxt = self._peek()
        if word in ("include", "include_once", "require", "require_once"):
            lo = self._p
            path = self._parse(3)
            self.include(word, path, at, lo, self._p)
            return Unknown()
        if word in ("exit", "die"):
            if self._is(nxt, "("):
                close = self.partner[self._p]
                if close > self._p + 1:
                    self.expr(self._p + 1, close)
                self._p = close + 1
            self.terminate(tok)
            return Unknown()
        if word in ("new", "clone", "print", "yield", "throw", "match", "fn", "function") or (
            word == "static" and self._word(nxt) in ("fn", "function")
        ):
            return self._construct(word, tok)
        if self._is(nxt, "("):
            close = self.partner[self._p]
            ranges = self.args(self._p + 1, close)
            self._p = close + 1
            return self._postfix(self.call(word, ranges, at))
        if self._is(nxt, "::") or word in ("static", "self", "parent"):
            return self._postfix(Unknown())
        return self._postfix(self.constant(tok.value.lstrip("\\"), tok))

    def _construct(self, word: str, tok: Tok) -> object:
        """``new``, closures, ``match``, ``print`` and friends: consumed, unknown."""
        if word in ("clone", "print", "yield", "throw"):
            if word == "throw":
                self.terminate(tok)
            if self._p < self._hi and not self._is(self._peek(), ")", ",", "]"):
                self._parse(3)
            return Unknown()
        if word == "new" and self._word(self._peek()) != "class":
            cur = self._peek()
            if self._is(cur, "("):
                self._p = self.partner[self._p] + 1
            elif cur is not None and cur.kind in ("name", "var"):
                self._p += 1
            else:
                raise Unparsed()
            while self._is(self._peek(), "::", "->") and self._peek(1) is not None and self._peek(1).kind in ("name", "var"):
                self._p += 2
            if self._is(self._peek(), "("):
                self._p = self.partner[self._p] + 1
            return self._postfix(Unknown())
        # a closure, an arrow function, match, or an anonymous class: up to its body
        while self._p < self._hi:
            cur = self._peek()
            if self._is(cur, "{"):
                self._p = self.partner[self._p] + 1
                return self._postfix(Unknown()) if word != "match" else Unknown()
            if self._is(cur, "=>") and word in ("fn", "static"):
                self._p += 1
                self.under(True, lambda: self._parse(3))
                return Unknown()
            self._p = self.partner[self._p] + 1 if self._is(cur, "(", "[") else self._p + 1
        raise Unparsed()
