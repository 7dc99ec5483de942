"""Values of the PHP expressions found around registration calls: literals,
``array()`` / ``[]``, translation calls (``__()``, ``_x()`` ...),
``get_theme_mod()`` against the active theme's mods, bound variables, and
the operators ``! . && || and or == === != !== ?? ?:``. Anything else is
:data:`UNKNOWN`, which spreads through operators except where the answer is
known anyway (``false && ?`` is false).
"""

from __future__ import annotations

from typing import Dict, List, Optional

from igny8_agent.phplex import Tok, is_op, split_args

_TRANSLATE = {"__", "_x", "esc_html__", "esc_attr__", "esc_html_x", "esc_attr_x", "translate", "_nx_noop", "_n_noop"}


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


def not_(value: object) -> object:
    return UNKNOWN if value is UNKNOWN else not value


def and_(a: object, b: object) -> object:
    if a is False or b is False:
        return False
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    return True


class Evaluator:
    """Values of PHP expressions made of literals, arrays, known calls and
    bound variables; anything else is UNKNOWN."""

    def __init__(self, theme_mods: dict) -> None:
        self.theme_mods = theme_mods

    def value(self, toks: Optional[List[Tok]], env: Dict[str, object]) -> object:
        if not toks:
            return UNKNOWN
        try:
            value, pos = self._ternary(toks, 0, env, 0)
        except (IndexError, _Stop):
            return UNKNOWN
        return value if pos == len(toks) else UNKNOWN

    def truth(self, toks: List[Tok], env: Dict[str, object]) -> object:
        value = self.value(toks, env)
        return UNKNOWN if value is UNKNOWN else php_truth(value)

    def _ternary(self, t, pos, env, depth):
        cond, pos = self._binary(t, pos, env, depth, 0)
        if pos < len(t) and is_op(t[pos], "?"):
            if pos + 1 < len(t) and is_op(t[pos + 1], ":"):
                other, pos = self._ternary(t, pos + 2, env, depth + 1)
                return (cond if cond is not UNKNOWN and php_truth(cond) else other) if cond is not UNKNOWN else UNKNOWN, pos
            yes, pos = self._ternary(t, pos + 1, env, depth + 1)
            if pos >= len(t) or not is_op(t[pos], ":"):
                raise _Stop()
            no, pos = self._ternary(t, pos + 1, env, depth + 1)
            return (UNKNOWN if cond is UNKNOWN else (yes if php_truth(cond) else no)), pos
        return cond, pos

    _LEVELS = (("??",), ("||", "or"), ("&&", "and"), ("===", "!==", "==", "!="), (".",))

    def _binary(self, t, pos, env, depth, level):
        if level == len(self._LEVELS):
            return self._unary(t, pos, env, depth)
        left, pos = self._binary(t, pos, env, depth, level + 1)
        ops = self._LEVELS[level]
        while pos < len(t) and (is_op(t[pos], *ops) or (t[pos].kind == "name" and t[pos].value.lower() in ops)):
            op = t[pos].value.lower()
            right, pos = self._binary(t, pos + 1, env, depth + 1, level + 1)
            left = _apply(op, left, right)
        return left, pos

    def _unary(self, t, pos, env, depth):
        if depth > 64:
            raise _Stop()
        if is_op(t[pos], "!"):
            value, pos = self._unary(t, pos + 1, env, depth + 1)
            return (UNKNOWN if value is UNKNOWN else not php_truth(value)), pos
        if is_op(t[pos], "-") and t[pos + 1].kind == "num" and t[pos + 1].value is not None:
            return -t[pos + 1].value, pos + 2
        return self._primary(t, pos, env, depth)

    def _primary(self, t, pos, env, depth):
        tok = t[pos]
        if tok.kind in ("str", "num"):
            return (UNKNOWN if tok.value is None else tok.value), pos + 1
        if tok.kind == "var":
            if pos + 1 < len(t) and is_op(t[pos + 1], "[", "->", "::"):
                raise _Stop()
            return env.get(tok.value, UNKNOWN), pos + 1
        if is_op(tok, "("):
            split = split_args(t, pos, bodies=True)
            if split is None or len(split[0]) != 1:
                raise _Stop()
            return self.value(split[0][0], env), split[1]
        if is_op(tok, "["):
            return self._array(t, pos, "]", env)
        if tok.kind == "name":
            word = tok.value.lstrip("\\").lower()
            if word in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[word], pos + 1
            if word == "array" and pos + 1 < len(t) and is_op(t[pos + 1], "("):
                return self._array(t, pos + 1, ")", env)
            if pos + 1 < len(t) and is_op(t[pos + 1], "("):
                split = split_args(t, pos + 1, bodies=True)
                if split is None:
                    raise _Stop()
                return self._call(word, split[0], env), split[1]
        raise _Stop()

    def _array(self, t, pos, closer, env):
        split = split_args(t, pos, bodies=True) if closer == ")" else _split_brackets(t, pos)
        if split is None:
            raise _Stop()
        out: Dict[object, object] = {}
        index = 0
        for item in split[0]:
            arrow = next((k for k, x in enumerate(item) if is_op(x, "=>") and _depth0(item, k)), None)
            if arrow is None:
                out[index] = self.value(item, env)
                index += 1
            else:
                key = self.value(item[:arrow], env)
                if isinstance(key, (str, int)):
                    out[key] = self.value(item[arrow + 1:], env)
        return out, split[1]

    def _call(self, name: str, args: List[List[Tok]], env) -> object:
        if name in _TRANSLATE and args:
            return self.value(args[0], env)
        if name == "get_theme_mod" and args:
            mod = self.value(args[0], env)
            if isinstance(mod, str) and mod in self.theme_mods:
                return self.theme_mods[mod]
            return self.value(args[1], env) if len(args) > 1 else False
        return UNKNOWN


class _Stop(Exception):
    pass


def _split_brackets(t: List[Tok], pos: int):
    depth, items, current = 0, [], []
    for i in range(pos + 1, len(t)):
        tok = t[i]
        if tok.kind == "op" and tok.value in ("(", "[", "{"):
            depth += 1
        elif tok.kind == "op" and tok.value in (")", "]", "}"):
            if depth == 0:
                if current:
                    items.append(current)
                return items, i + 1
            depth -= 1
        elif depth == 0 and is_op(tok, ","):
            items.append(current)
            current = []
            continue
        current.append(tok)
    return None


def _depth0(item: List[Tok], k: int) -> bool:
    depth = 0
    for tok in item[:k]:
        if tok.kind == "op" and tok.value in ("(", "[", "{"):
            depth += 1
        elif tok.kind == "op" and tok.value in (")", "]", "}"):
            depth -= 1
    return depth == 0


def php_truth(value: object) -> bool:
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, dict):
        return bool(value)
    return bool(value)


def _apply(op: str, a: object, b: object) -> object:
    if op in ("||", "or"):
        if (a is not UNKNOWN and php_truth(a)) or (b is not UNKNOWN and php_truth(b)):
            return True
        return UNKNOWN if UNKNOWN in (a, b) else False
    if op in ("&&", "and"):
        return and_(UNKNOWN if a is UNKNOWN else php_truth(a), UNKNOWN if b is UNKNOWN else php_truth(b))
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if op == "??":
        return b if a is None else a
    if op == ".":
        return _php_str(a) + _php_str(b) if all(isinstance(x, (str, int, bool)) or x is None for x in (a, b)) else UNKNOWN
    if op in ("===", "!=="):
        return (type(a) is type(b) and a == b) == (op == "===")
    return (_loose(a) == _loose(b)) == (op == "==")


def _php_str(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "1" if value else ""
    return str(value)


def _loose(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return bool(value)
    return value
