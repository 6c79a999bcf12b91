"""Conditions on earlier answers: when a question is relevant (`relevant = "support == '2'"`).

A small language, parsed here and never handed to `eval`:

    expression  := either ("or" either)*
    either      := negation ("and" negation)*
    negation    := "not" negation | comparison
    comparison  := "(" expression ")" | value (operator value | "in" (list | name))?
    operator    := "==" | "!=" | "<" | "<=" | ">" | ">="
    value       := name | 'text' | "text" | number | "count_selected" "(" name ")"
    list        := "[" value ("," value)* "]"

A name stands for the answer to an earlier question: an option's code for a
single choice, the codes of a multiple choice, a number, or text. Values
compare as ODK compares them in an XLSForm's XPath, so that a form means here
what it means in ODK Collect: an unanswered question is the empty text `''`
(`q == ''` holds, `q != ''` does not); a multiple choice compares as its codes
joined by spaces, in the order of its list (`m == 'a'` holds when only a was
chosen); `==` and `!=` compare numbers when either side is a number written
out, else texts; `<`, `<=`, `>`, `>=` always compare numbers, and an answer
that is not a number (or none) makes them false. `'x' in q` is XPath's
`selected(q, 'x')`; `count_selected(q)` is the number of codes chosen. A bare
name is true when it was answered. `static/form.js` evaluates the same trees
the same way in the browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"""\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'[^']*'|"[^"]*")"""
                    r"""|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""")
KEYWORDS = {"and", "or", "not", "in"}
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
COUNT = "count_selected"
_XPATH_NUMBER = re.compile(r"\s*-?(\d+(\.\d*)?|\.\d+)\s*")
MAX_LENGTH = 500


class ConditionError(ValueError):
    """A condition that cannot be read; the message says where."""


@dataclass(frozen=True)
class Condition:
    """A parsed condition: `names` it reads, `holds(answers)` to test it."""

    text: str
    tree: tuple
    names: frozenset[str]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Whether the condition holds for `answers` (name -> value; missing or None: unanswered)."""
        return bool(_evaluate(self.tree, answers))


def parse(text: str) -> Condition:
    """Parse `text`; raises ConditionError with what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters")
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    tree = parser.expression()
    if parser.position != len(tokens):
        raise ConditionError(f"unexpected {tokens[parser.position][1]!r} in {text!r}")
    return Condition(text, tree, frozenset(_names(tree)))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        found = _TOKEN.match(text, position)
        if not found or found.end() == position:
            raise ConditionError(f"cannot read {text[position:position + 10]!r} in {text!r}")
        kind = found.lastgroup
        value = found.group(kind)
        if kind == "word" and value in KEYWORDS:
            kind = "keyword"
        tokens.append((kind, value))
        position = found.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str):
        self.tokens, self.text, self.position = tokens, text, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            wanted = value or kind or "more"
            raise ConditionError(f"expected {wanted!r} in {self.text!r}")
        self.position += 1
        return token

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("keyword", "op"):
            self.position += 1
            return True
        return False

    def expression(self) -> tuple:
        tree = self.either()
        while self.accept("or"):
            tree = ("or", tree, self.either())
        return tree

    def either(self) -> tuple:
        tree = self.negation()
        while self.accept("and"):
            tree = ("and", tree, self.negation())
        return tree

    def negation(self) -> tuple:
        if self.accept("not"):
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> tuple:
        if self.accept("("):
            tree = self.expression()
            self.take(")")
            return tree
        left = self.value()
        for operator in COMPARISONS:
            if self.accept(operator):
                return (operator, left, self.value())
        if self.accept("in"):
            if self.accept("["):
                items = [self.value()]
                while self.accept(","):
                    items.append(self.value())
                self.take("]")
                return ("in", left, ("list", tuple(items)))
            return ("in", left, ("name", self.take(kind="word")[1]))
        if left[0] != "name":
            raise ConditionError(f"a value alone is not a condition in {self.text!r}")
        return ("answered", left)

    def value(self) -> tuple:
        kind, value = self.take()
        if kind == "word" and value == COUNT and self.accept("("):
            counted = ("count", self.take(kind="word")[1])
            self.take(")")
            return counted
        if kind == "word":
            return ("name", value)
        if kind == "string":
            return ("value", value[1:-1])
        if kind == "number":
            return ("value", float(value) if "." in value else int(value))
        raise ConditionError(f"expected a name or a value, not {value!r}, in {self.text!r}")


def _names(tree: tuple) -> set[str]:
    if tree[0] in ("name", "count"):
        return {tree[1]}
    if tree[0] == "value":
        return set()
    if tree[0] == "list":
        return set().union(*(_names(item) for item in tree[1]))
    return set().union(*(_names(part) for part in tree[1:] if isinstance(part, tuple)))


def _value(tree: tuple, answers: Mapping[str, Any]) -> Any:
    if tree[0] == "name":
        return answers.get(tree[1])
    if tree[0] == "count":
        chosen = answers.get(tree[1])
        return 0 if chosen is None or chosen == "" else len(_codes(chosen))
    return tree[1]


def _codes(value: Any) -> list[str]:
    # The codes of a choice answer, in order: a multiple choice's list (or a set, sorted), a single code, or XPath's
    # space-separated text.
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(str(item) for item in value)
    return _text(value).split()


def _text(value: Any) -> str:
    """An answer as XPath's string(): '' for none, a multiple choice's codes joined by spaces, 2.0 as "2"."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return " ".join(_codes(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float:
    """An answer as XPath's number(): NaN for none and for what is not written as a decimal number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = _text(value)
    return float(text) if _XPATH_NUMBER.fullmatch(text) else float("nan")


def _is_number(tree: tuple) -> bool:
    return tree[0] == "count" or (tree[0] == "value" and isinstance(tree[1], (int, float)))


def _equal(left_tree: tuple, right_tree: tuple, answers: Mapping[str, Any]) -> bool:
    left, right = _value(left_tree, answers), _value(right_tree, answers)
    if _is_number(left_tree) or _is_number(right_tree):
        return _number(left) == _number(right)  # NaN equals nothing
    return _text(left) == _text(right)


_ORDER = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _evaluate(tree: tuple, answers: Mapping[str, Any]) -> bool:
    kind = tree[0]
    if kind == "or":
        return _evaluate(tree[1], answers) or _evaluate(tree[2], answers)
    if kind == "and":
        return _evaluate(tree[1], answers) and _evaluate(tree[2], answers)
    if kind == "not":
        return not _evaluate(tree[1], answers)
    if kind == "answered":
        return _text(_value(tree[1], answers)) != ""
    if kind == "==":
        return _equal(tree[1], tree[2], answers)
    if kind == "!=":
        return not _equal(tree[1], tree[2], answers)
    if kind in _ORDER:
        return _ORDER[kind](_number(_value(tree[1], answers)), _number(_value(tree[2], answers)))
    if kind == "in":
        if tree[2][0] == "list":
            return any(_equal(tree[1], option, answers) for option in tree[2][1])
        item = _text(_value(tree[1], answers))
        return item != "" and item in _codes(_value(tree[2], answers))
    raise ConditionError(f"cannot evaluate {kind!r}")


def values_allowing(condition: Condition, name: str, values: Iterable[str],
                    within: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """The answers to question `name` (one of `values`) under which `condition` may hold.

    Never too few: a part of the condition this cannot read allows every
    value, so a question said to be asked only after some answers is never
    asked after others. `within` gives, for other questions, the values of
    `name` under which they can have been answered at all: a condition that
    needs one of them answered (`how_end == '1'`, `'t' in drinks`) holds
    only where it can have been.
    """
    every = frozenset(str(value) for value in values)
    may_hold, _may_fail = _allowing(condition.tree, name, every, within or {})
    return may_hold


def _allowing(tree: tuple, name: str, every: frozenset[str],
              within: Mapping[str, frozenset[str]]) -> tuple[frozenset[str], frozenset[str]]:
    # The values of `name` under which `tree` may be true, and under which it may be false.
    kind = tree[0]
    if kind in ("or", "and"):
        (hold_left, fail_left), (hold_right, fail_right) = (_allowing(part, name, every, within) for part in tree[1:])
        if kind == "or":
            return hold_left | hold_right, fail_left & fail_right
        return hold_left & hold_right, fail_left | fail_right
    if kind == "not":
        may_hold, may_fail = _allowing(tree[1], name, every, within)
        return may_fail, may_hold
    # A comparison holds only where every question it reads was answered, unless it can hold on a blank ('').
    needed = [part[1] for part in _operands(tree) if part[0] == "name" and part[1] != name]
    answered = every.intersection(*(within.get(other, every) for other in needed))
    if kind == "answered":
        return answered, every
    if _holds_on_blank(tree):
        answered = every
    fixed = _fixed(tree, name, every)
    if fixed is None:
        return (every if kind == "!=" else answered), every
    if kind == "!=":
        return every - fixed, every & fixed
    return answered & fixed, every - fixed


def _operands(tree: tuple) -> list[tuple]:
    if tree[0] == "in" and tree[2][0] == "list":
        return [tree[1], *tree[2][1]]
    return [("name", part[1]) if part[0] == "count" else part for part in tree[1:]]


def _holds_on_blank(tree: tuple) -> bool:
    # Whether a comparison may hold where a question it reads was not answered: `!=`, a comparison with '',
    # or a count (none chosen is 0).
    operands = [*_operands(tree), *tree[1:]]
    return tree[0] == "!=" or any(part == ("value", "") or part[0] == "count" for part in operands)


def _fixed(tree: tuple, name: str, every: frozenset[str]) -> frozenset[str] | None:
    # The values of `name` equal to what it is compared with, where the comparison is `name` against values written
    # out (a number written out equals the codes that read as that number).
    kind = tree[0]
    if kind in ("==", "!="):
        left, right = tree[1], tree[2]
        if left[0] == "value" and right == ("name", name):
            left, right = right, left
        if left == ("name", name) and right[0] == "value":
            return _equal_to(right, every)
    if kind == "in" and tree[1] == ("name", name) and tree[2][0] == "list" \
            and all(item[0] == "value" for item in tree[2][1]):
        return frozenset().union(*(_equal_to(item, every) for item in tree[2][1]))
    return None


def _equal_to(value: tuple, every: frozenset[str]) -> frozenset[str]:
    if _is_number(value):
        return frozenset(code for code in every if _number(code) == value[1])
    return frozenset({_text(value[1])})


def render(tree: tuple) -> str:
    """A parsed condition (or part of one) written back as text."""
    kind = tree[0]
    if kind == "name":
        return tree[1]
    if kind == "count":
        return f"{COUNT}({tree[1]})"
    if kind == "value":
        return repr(tree[1]) if isinstance(tree[1], str) else _text(tree[1])
    if kind == "list":
        return "[" + ", ".join(render(item) for item in tree[1]) + "]"
    if kind == "answered":
        return render(tree[1])
    if kind == "not":
        return f"not ({render(tree[1])})"
    return f"({render(tree[1])} {kind} {render(tree[2])})"
