"""Conditions on earlier answers: when a question is relevant (`relevant = "support == '2'"`).

A small language, parsed here and never handed to `eval`:

    expression  := either ("or" either)*
    either      := negation ("and" negation)*
    negation    := "not" negation | comparison
    comparison  := "(" expression ")" | value (("==" | "!=") value | "in" (list | name))?
    value       := name | 'text' | "text" | number
    list        := "[" value ("," value)* "]"

A name stands for the answer to an earlier question: an option's code for a
single choice, the set of codes for a multiple choice, a whole number, or
text. An unanswered question is `None`: it equals nothing, differs from
everything, and contains nothing. A bare name is true when it was answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"""\s*(?:(?P<number>-?\d+)|(?P<string>'[^']*'|"[^"]*")|(?P<op>==|!=|\(|\)|\[|\]|,)"""
                    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*))""")
KEYWORDS = {"and", "or", "not", "in"}
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
        for operator in ("==", "!="):
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
        if kind == "word":
            return ("name", value)
        if kind == "string":
            return ("value", value[1:-1])
        if kind == "number":
            return ("value", int(value))
        raise ConditionError(f"expected a name or a value, not {value!r}, in {self.text!r}")


def _names(tree: tuple) -> set[str]:
    if tree[0] == "name":
        return {tree[1]}
    if tree[0] == "value":
        return set()
    if tree[0] == "list":
        return set().union(*(_names(item) for item in tree[1]))
    return set().union(*(_names(part) for part in tree[1:] if isinstance(part, tuple)))


def _value(tree: tuple, answers: Mapping[str, Any]) -> Any:
    if tree[0] == "name":
        return answers.get(tree[1])
    return tree[1]


def _same(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    # An option's code is text; a number written in a condition may stand for it.
    return left == right or str(left) == str(right)


def _evaluate(tree: tuple, answers: Mapping[str, Any]) -> bool:
    kind = tree[0]
    if kind == "or":
        return _evaluate(tree[1], answers) or _evaluate(tree[2], answers)
    if kind == "and":
        return _evaluate(tree[1], answers) and _evaluate(tree[2], answers)
    if kind == "not":
        return not _evaluate(tree[1], answers)
    if kind == "answered":
        value = _value(tree[1], answers)
        return value is not None and value != "" and value != frozenset()
    if kind == "==":
        return _same(_value(tree[1], answers), _value(tree[2], answers))
    if kind == "!=":
        return not _same(_value(tree[1], answers), _value(tree[2], answers))
    if kind == "in":
        item = _value(tree[1], answers)
        if item is None:
            return False
        if tree[2][0] == "list":
            return any(_same(item, _value(option, answers)) for option in tree[2][1])
        collection = answers.get(tree[2][1])
        if collection is None:
            return False
        if isinstance(collection, (set, frozenset, list, tuple)):
            return any(_same(item, member) for member in collection)
        return _same(item, collection)
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
    # A comparison holds only where every question it reads was answered (an unanswered one is None).
    needed = [part[1] for part in _operands(tree) if part[0] == "name" and part[1] != name]
    answered = every.intersection(*(within.get(other, every) for other in needed))
    if kind == "answered":
        return answered, every
    fixed = _fixed(tree, name)
    if fixed is None:
        return (every if kind == "!=" else answered), every
    if kind == "!=":
        return every - fixed, every & fixed
    return answered & fixed, every - fixed


def _operands(tree: tuple) -> list[tuple]:
    if tree[0] == "in" and tree[2][0] == "list":
        return [tree[1], *tree[2][1]]
    return list(tree[1:])


def _fixed(tree: tuple, name: str) -> frozenset[str] | None:
    # The values `name` is compared with, where the comparison is `name` against values written out.
    kind = tree[0]
    if kind in ("==", "!="):
        left, right = tree[1], tree[2]
        if left[0] == "value" and right == ("name", name):
            left, right = right, left
        if left == ("name", name) and right[0] == "value":
            return frozenset({str(right[1])})
    if kind == "in" and tree[1] == ("name", name) and tree[2][0] == "list" \
            and all(item[0] == "value" for item in tree[2][1]):
        return frozenset(str(item[1]) for item in tree[2][1])
    return None


def render(tree: tuple) -> str:
    """A parsed condition (or part of one) written back as text."""
    kind = tree[0]
    if kind == "name":
        return tree[1]
    if kind == "value":
        return repr(tree[1]) if isinstance(tree[1], str) else str(tree[1])
    if kind == "list":
        return "[" + ", ".join(render(item) for item in tree[1]) + "]"
    if kind == "answered":
        return render(tree[1])
    if kind == "not":
        return f"not ({render(tree[1])})"
    return f"({render(tree[1])} {kind} {render(tree[2])})"
