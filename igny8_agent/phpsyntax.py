"""A syntax check of a PHP token list, for readers that walk its statements.

Not a PHP parser: it checks what a reader would otherwise misread. Every
bracket must be closed by its own kind, a ``;`` may not stand inside ``(``
or ``[`` (except a ``for (;;)`` head), and two operands may not follow each
other without an operator — the mark of a missing ``;`` between statements
or of a quote that ends a string too early. Class bodies are only
bracket-checked; parameter lists (typed parameters) are exempt from the
operand rule. Returns, for every bracket token, the index of its partner.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from .errors import ParseError
from .phplex import Lexer, Tok, line_of

KEYWORDS = frozenset(
    "__halt_compiler abstract and array as break callable case catch class clone const continue declare "
    "default die do echo else elseif empty enddeclare endfor endforeach endif endswitch endwhile enum eval "
    "exit extends final finally fn for foreach from function global goto if implements include include_once "
    "instanceof insteadof interface isset list match namespace new or print private protected public "
    "readonly require require_once return static switch throw trait try unset use var while xor yield".split()
)
# Keywords that may follow an operand (``$a and $b``, ``$x instanceof Foo``).
INFIX = frozenset("and or xor instanceof as insteadof extends implements".split())
# Keywords after which nothing may follow without a ';'.
_ENDERS = frozenset("endif endwhile endfor endforeach endswitch enddeclare".split())
# ``(`` heads whose ``)`` is followed by a statement, not an operator.
_HEADS = frozenset("if elseif while for foreach switch declare match".split())
CASTS = frozenset("int integer bool boolean float double real string binary array object unset".split())
_CLOSER = {"(": ")", "[": "]", "{": "}"}
_OPENER = {v: k for k, v in _CLOSER.items()}


def _word(tok: Optional[Tok]) -> str:
    return tok.value.lower() if tok is not None and tok.kind == "name" else ""


def _op(tok: Optional[Tok], *values: str) -> bool:
    return tok is not None and tok.kind == "op" and tok.value in values


def describe(tok: Tok) -> str:
    """A token for an error message; string contents and unknown words are
    not shown (after a broken quote they may be a password's pieces)."""
    if tok.kind == "op":
        return f"'{tok.value}'"
    if tok.kind == "name" and (tok.value.lower() in KEYWORDS or tok.value.lower() in ("define", "defined")):
        return f"`{tok.value}`"
    return {"str": "string", "num": "number", "var": "variable", "other": "string"}.get(tok.kind, "identifier")


class SyntaxChecker:
    def __init__(self, tokens: List[Tok], text: str, path: Path) -> None:
        self.tokens, self.text, self.path = tokens, text, path

    def error(self, tok: Tok, message: str) -> ParseError:
        return ParseError(f"{self.path}: syntax error on line {line_of(self.text, tok.start)}: {message}")

    def _paren_kind(self, i: int) -> str:
        """'for', 'decl' (parameter list / catch), 'head' or 'plain' for the ``(`` at ``i``."""
        tokens = self.tokens
        word = _word(tokens[i - 1]) if i else ""
        if word == "for":
            return "for"
        if word in _HEADS:
            return "head"
        if word in ("catch", "use", "function", "fn"):
            return "decl"
        k = i - 1
        if k >= 0 and tokens[k].kind == "name":  # function NAME (
            k -= 1
        if k >= 0 and _op(tokens[k], "&"):  # function &NAME ( / function &(
            k -= 1
        if 0 <= k < i - 1 and _word(tokens[k]) in ("function", "fn") and not _op(tokens[k - 1] if k else None, "->", "::"):
            return "decl"
        return "plain"

    def run(self, partial: bool = False) -> List[int]:
        tokens, n = self.tokens, len(self.tokens)
        partner = [-1] * n
        stack: List[Tuple[int, str]] = []  # (index, kind)
        quiet = 0  # enclosing parameter lists and class bodies: no operand rule
        pending_class = False
        prev_end = False  # the previous token ended an operand
        for i in range(n):
            tok = tokens[i]
            kind = tok.kind
            if kind == "op":
                value = tok.value
                if value in _CLOSER:
                    if value == "(":
                        paren = self._paren_kind(i)
                        cast = (i + 2 < n and _op(tokens[i + 2], ")") and _word(tokens[i + 1]) in CASTS)
                        stack.append((i, "cast" if cast else paren))
                        quiet += paren == "decl" and not cast
                    elif value == "{" and pending_class:
                        stack.append((i, "class"))
                        quiet += 1
                        pending_class = False
                    else:
                        stack.append((i, value))
                    prev_end = False
                    continue
                if value in _OPENER:
                    if not stack or tokens[stack[-1][0]].value != _OPENER[value]:
                        raise self.error(tok, f"unexpected '{value}', expected {self.expected(stack)}")
                    opened, what = stack.pop()
                    partner[opened], partner[i] = i, opened
                    quiet -= what in ("decl", "class")
                    prev_end = value == "]" or (value == ")" and what == "plain")
                    continue
                if value == ";":
                    pending_class = False
                    if stack and stack[-1][1] not in ("for", "{", "class"):
                        opened = stack[-1][0]
                        if _word(tokens[opened - 1] if opened else None) == "define":
                            line = line_of(self.text, tokens[opened].start)
                            raise ParseError(f"{self.path}: define( at line {line} is not closed")
                        raise self.error(tok, f"unexpected ';', expected {self.expected(stack)}")
                prev_end = False
                continue
            word = tok.value.lower() if kind == "name" else ""
            if word in ("class", "interface", "trait", "enum") and not _op(tokens[i - 1] if i else None, "->", "?->", "::"):
                if word != "enum" or (i + 1 < n and tokens[i + 1].kind == "name"):
                    pending_class = True
            if prev_end and not quiet and word not in INFIX:
                previous = tokens[i - 1]
                binary_prefix = (_word(previous) == "b" and kind == "str" and previous.end == tok.start)
                if not binary_prefix:
                    raise self.missing(previous, tok, stack)
            prev_end = not (word in KEYWORDS and word not in _ENDERS)
        if stack and not partial:
            opened, _ = stack[-1]
            tok = tokens[opened]
            if tok.value == "(" and _word(tokens[opened - 1] if opened else None) == "define":
                raise ParseError(f"{self.path}: define( at line {line_of(self.text, tok.start)} is not closed")
            closer = _CLOSER[tok.value]
            raise self.error(tok, f"'{tok.value}' is not closed (expected '{closer}' before the end of the file)")
        return partner

    def expected(self, stack: List[Tuple[int, str]]) -> str:
        if not stack:
            return "';'"
        closer = _CLOSER[self.tokens[stack[-1][0]].value]
        return f"';' or '{closer}'" if closer == "}" else f"',' or '{closer}'"

    def missing(self, previous: Tok, tok: Tok, stack: List[Tuple[int, str]]) -> ParseError:
        expected = self.expected(stack)
        message = f"unexpected {describe(tok)}, expected {expected}"
        before = line_of(self.text, previous.end)
        if expected.startswith("';'") and before != line_of(self.text, tok.start):
            message += f" at the end of line {before}"
        return self.error(tok, message)


def check(tokens: List[Tok], text: str, path: Path, partial: bool = False) -> List[int]:
    """Raise ParseError on the first misplaced token; else each bracket's
    partner index. ``partial``: the tokens stop early (brackets may be open)."""
    return SyntaxChecker(tokens, text, path).run(partial)


def tokenize(text: str, path: Path) -> Tuple[List[Tok], List[int]]:
    """Lex and check ``text``. When the lexer fails (an unterminated string),
    an earlier misplaced token is the better report: a quote inside a string
    ends it early, and the string left open is a later one."""
    lexer = Lexer(text, path)
    try:
        tokens = lexer.run()
    except ParseError:
        check(lexer.tokens, text, path, partial=True)
        raise
    return tokens, check(tokens, text, path)
