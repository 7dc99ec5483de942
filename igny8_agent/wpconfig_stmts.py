"""The statements of a PHP file, walked in order (part of
``wpconfig_eval.Walker``): ``if``/``elseif``/``else`` in both syntaxes,
loops, ``switch``, ``try``, ``do``, ``declare``, blocks, declarations
(skipped), ``namespace``, ``const``, ``return``, and expression statements,
which ``wpconfig_expr`` evaluates. Each branch is walked in the mode its
condition gives it: as is, "maybe", or dead (syntax only).
"""

from __future__ import annotations

from typing import Optional, Tuple

from .errors import ParseError
from .phplex import Tok, is_op
from .phpsyntax import KEYWORDS
from .phpvalues import Unknown, truthy
from .wpconfig_calls import CallsMixin
from .wpconfig_expr import Unparsed

MAX_NESTING = 64  # statements inside statements (an if and its block count 2)
_ALT_END = {"if": "endif", "while": "endwhile", "for": "endfor", "foreach": "endforeach",
            "switch": "endswitch", "declare": "enddeclare"}
_MISPLACED = frozenset({"else", "elseif", "catch", "finally", "case", "default", *_ALT_END.values()})
_DECLARATIONS = frozenset({"abstract", "final", "class", "interface", "trait"})


class StatementsMixin(CallsMixin):
    """Each method takes the index of a statement's first token and returns
    the index after the statement."""

    def _block(self, i: int, stops: Tuple[str, ...]) -> int:
        tokens, n = self.tokens, len(self.tokens)
        while i < n:
            tok = tokens[i]
            if is_op(tok, "}") or (stops and tok.kind == "name" and tok.value.lower() in stops):
                return i
            i = self._statement(i)
        return i

    def _statement(self, i: int) -> int:
        tok = self.tokens[i]
        if tok.kind == "op" and tok.value == ";":
            return i + 1
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise ParseError(f"{self.path}: statements nested more than {MAX_NESTING} deep on line {self.line(i)}")
            return self._dispatch(i, tok)
        finally:
            self.nesting -= 1

    def _dispatch(self, i: int, tok: Tok) -> int:
        nxt = self.tokens[i + 1] if i + 1 < len(self.tokens) else None
        if tok.kind == "op" and tok.value == "{":
            end = self.partner[i]
            stopped = self._block(i + 1, ())
            if stopped != end:
                raise self.unexpected(stopped, "'}'")
            return end + 1
        word = tok.value.lower() if tok.kind == "name" else ""
        if word in ("if", "while", "for", "foreach", "switch", "declare"):
            if not is_op(nxt, "("):
                raise self.unexpected(i + 1, f"'(' after `{tok.value}`")
            return self._if(i) if word == "if" else self._compound(i, word)
        if word == "do":
            return self._do(i)
        if word == "try":
            return self._try(i)
        if word in ("case", "default") and self.in_switch:
            return self._label(i)
        if word in _MISPLACED:
            raise self.unexpected(i, "a statement")
        if word == "function" and nxt is not None and (nxt.kind == "name" or is_op(nxt, "&")) and not (
                is_op(nxt, "&") and is_op(self.tokens[i + 2] if i + 2 < len(self.tokens) else None, "(")):
            body = self._body_after(i + 1)
            return body[1] + 1 if body else self._end(i) + 1
        if word in _DECLARATIONS or (word in ("enum", "readonly") and nxt is not None and nxt.kind == "name"):
            body = self._body_after(i + 1)
            return body[1] + 1 if body else self._end(i) + 1
        if word == "namespace" and not is_op(nxt, "("):
            return self._namespace(i)
        if word == "use":
            return self._end(i) + 1
        if word == "const":
            return self._const(i)
        if word == "return":
            return self._return(i)
        if word == "__halt_compiler":
            return len(self.tokens)  # the lexer stopped after it: the rest of the file is data
        if tok.kind == "name" and is_op(nxt, ":") and word not in KEYWORDS:
            return i + 2  # a goto label
        end = self._end(i)
        self.run(i, end)
        return end + 1

    def _end(self, i: int) -> int:
        """The ``;`` that ends the statement starting at ``i``."""
        tokens = self.tokens
        while i < len(tokens):
            tok = tokens[i]
            if tok.kind == "op":
                if tok.value == ";":
                    return i
                if tok.value in ("(", "[", "{"):
                    i = self.partner[i] + 1
                    continue
                if tok.value in (")", "]", "}"):
                    break
            i += 1
        raise self.unexpected(i, "';'")

    def run(self, lo: int, hi: int) -> object:
        """Evaluate tokens[lo:hi] for its value and side effects."""
        if lo >= hi:
            return Unknown()
        try:
            value = self.expr(lo, hi)
        except Unparsed:
            value = Unknown()
        if not self.dead:
            self.sweep(lo, hi)
        return value

    def _head(self, i: int) -> Tuple[int, int, int]:
        """For ``word (`` at ``i``: (condition start, end, index after ``)``)."""
        if not is_op(self.tokens[i + 1] if i + 1 < len(self.tokens) else None, "("):
            raise self.unexpected(i + 1, f"'(' after `{self.tokens[i].value}`")
        close = self.partner[i + 1]
        return i + 2, close, close + 1

    def _decide(self, lo: int, hi: int, taken: bool, unsure: Optional[str]) -> Tuple[object, bool, Optional[str]]:
        """(mode for the branch, a branch is surely taken, why earlier ones are unsure)."""
        if self.dead or taken:
            self.under(True, lambda: self.run(lo, hi))
            return True, taken, unsure
        value = self.under(unsure, lambda: self.run(lo, hi))
        if isinstance(value, Unknown):
            unsure = unsure or self.reason_for(lo, hi)
            return unsure, taken, unsure
        if truthy(value):
            return unsure, True, unsure
        return True, taken, unsure

    def _if(self, i: int) -> int:
        lo, hi, j = self._head(i)
        alt = is_op(self.tokens[j] if j < len(self.tokens) else None, ":")
        taken, unsure = False, None
        while True:
            mode, taken, unsure = self._decide(lo, hi, taken, unsure)
            j = self._body(j, alt, mode, ("elseif", "else", "endif"))
            word = self._word_at(j)
            if word == "elseif":
                lo, hi, j = self._head(j)
                continue
            if word == "else" and not (alt and self._word_at(j + 1) == "if"):
                mode = True if taken else unsure
                j = self._body(j + 1, alt, mode, ("endif",))
            return self._alt_end(j, "endif") if alt else j

    def _body(self, j: int, alt: bool, mode: object, stops: Tuple[str, ...]) -> int:
        if alt:
            if not is_op(self.tokens[j] if j < len(self.tokens) else None, ":"):
                raise self.unexpected(j, "':'")
            return self.under(mode, lambda: self._block(j + 1, stops))
        if j >= len(self.tokens):
            raise self.unexpected(j, "a statement")
        return self.under(mode, lambda: self._statement(j))

    def _word_at(self, j: int) -> str:
        tok = self.tokens[j] if j < len(self.tokens) else None
        return tok.value.lower() if tok is not None and tok.kind == "name" else ""

    def _alt_end(self, j: int, word: str) -> int:
        if self._word_at(j) != word:
            raise self.unexpected(j, f"`{word}`")
        if not is_op(self.tokens[j + 1] if j + 1 < len(self.tokens) else None, ";"):
            raise self.unexpected(j + 1, "';'")
        return j + 2

    def _compound(self, i: int, word: str) -> int:
        """while / for / foreach / switch / declare: a body that runs any number of times."""
        lo, hi, j = self._head(i)
        mode: object = f"the {word}{'' if word == 'switch' else ' loop'} on {self.where(i)}"
        if word == "declare":
            mode = None
            if is_op(self.tokens[j] if j < len(self.tokens) else None, ";"):
                return j + 1
        elif word == "while":
            value = self.run(lo, hi)
            mode = True if not isinstance(value, Unknown) and not truthy(value) else mode
        elif word == "foreach":
            self.run(lo, hi)
            for k in range(lo, hi):
                if self.tokens[k].kind == "var" and not self.dead:
                    self.vars[self.tokens[k].value] = Unknown(self.maybe)
        else:
            self.under(mode if word == "for" else None, lambda: self.run(lo, hi))
        alt = is_op(self.tokens[j] if j < len(self.tokens) else None, ":")
        self.in_switch += word == "switch"
        try:
            if word == "switch" and not alt:
                if not is_op(self.tokens[j] if j < len(self.tokens) else None, "{"):
                    raise self.unexpected(j, "'{'")
                end = self.partner[j]
                if self.under(mode, lambda: self._block(j + 1, ())) != end:
                    raise self.unexpected(end, "'}'")
                return end + 1
            j = self._body(j, alt, mode, (_ALT_END[word],))
        finally:
            self.in_switch -= word == "switch"
        return self._alt_end(j, _ALT_END[word]) if alt else j

    def _label(self, i: int) -> int:
        """``case expr:`` / ``default:`` inside a switch."""
        j, questions = i + 1, 0
        while j < len(self.tokens):
            tok = self.tokens[j]
            if is_op(tok, "(", "[", "{"):
                j = self.partner[j]
            elif is_op(tok, "?"):
                questions += 1
            elif is_op(tok, ":") and not questions:
                return j + 1
            elif is_op(tok, ":"):
                questions -= 1
            elif is_op(tok, ";"):
                return j + 1
            j += 1
        raise self.unexpected(j, "':'")

    def _do(self, i: int) -> int:
        j = self._statement(i + 1) if i + 1 < len(self.tokens) else i + 1
        if self._word_at(j) != "while":
            raise self.unexpected(j, "`while`")
        lo, hi, j = self._head(j)
        self.run(lo, hi)
        if not is_op(self.tokens[j] if j < len(self.tokens) else None, ";"):
            raise self.unexpected(j, "';'")
        return j + 1

    def _try(self, i: int) -> int:
        j = self._braces(i + 1, None)
        while self._word_at(j) == "catch":
            _lo, _hi, k = self._head(j)
            j = self._braces(k, f"the catch block on {self.where(j)}")
        if self._word_at(j) == "finally":
            j = self._braces(j + 1, None)
        return j

    def _braces(self, j: int, mode: object) -> int:
        if not is_op(self.tokens[j] if j < len(self.tokens) else None, "{"):
            raise self.unexpected(j, "'{'")
        end = self.partner[j]
        if self.under(mode, lambda: self._block(j + 1, ())) != end:
            raise self.unexpected(end, "'}'")
        return end + 1

    def _namespace(self, i: int) -> int:
        j = i + 1
        name = ""
        if j < len(self.tokens) and self.tokens[j].kind == "name":
            name = self.tokens[j].value.lstrip("\\")
            j += 1
        if is_op(self.tokens[j] if j < len(self.tokens) else None, "{"):
            saved, self.namespace = self.namespace, name
            try:
                return self._braces(j, None)
            finally:
                self.namespace = saved
        self.namespace = name
        return self._end(i) + 1

    def _const(self, i: int) -> int:
        end = self._end(i)
        for lo, hi in self.args(i + 1, end):
            if hi - lo >= 3 and self.tokens[lo].kind == "name" and is_op(self.tokens[lo + 1], "="):
                name = self.tokens[lo].value
                value = self.run(lo + 2, hi)
                self.record((self.namespace + "\\" + name) if self.namespace else name, value, lo + 2, hi)
        return end + 1

    def _return(self, i: int) -> int:
        end = self._end(i)
        self.run(i + 1, end)
        if self.dead or self.depth == 0:
            self.terminate(self.tokens[i])
        elif self.maybe:
            self.tail = self.tail or self.maybe
        else:
            self.returned = self.dead = True
        return end + 1
