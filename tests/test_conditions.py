"""Conditions mean what the same XPath means in ODK Collect, on the server and in the browser alike.

Each row of the truth table is a condition, the answers so far and whether
the question is asked. The browser's evaluator (`static/form.js`) is run
under Node on the very same parsed trees.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from poll import conditions

FORM_JS = Path(__file__).resolve().parents[1] / "poll" / "static" / "form.js"

# (condition, answers: a multiple choice as its codes in list order, expected)
TRUTH_TABLE = [
    # A blank answer is '' (ODK's "ask only if answered" idiom).
    ("q != ''", {}, False),
    ("q != ''", {"q": "yes"}, True),
    ("q == ''", {}, True),
    ("q == ''", {"q": "yes"}, False),
    ("not (q == '')", {"q": "x"}, True),
    ("q != 'a'", {}, True),
    ("q == 'a'", {}, False),
    ("q", {}, False),
    ("q", {"q": "a"}, True),
    ("m != ''", {"m": []}, False),
    ("m != ''", {"m": ["a"]}, True),
    # A multiple choice compares as its codes joined by spaces, in the list's order.
    ("m == 'a'", {"m": ["a"]}, True),
    ("m == 'a'", {"m": ["a", "b"]}, False),
    ("m == 'a b'", {"m": ["a", "b"]}, True),
    ("m != 'a'", {"m": ["a", "b"]}, True),
    # selected()
    ("'a' in m", {"m": ["a", "b"]}, True),
    ("'c' in m", {"m": ["a", "b"]}, False),
    ("'a' in m", {}, False),
    ("'a' in s", {"s": "a"}, True),
    ("'1' in m", {"m": ["10", "11"]}, False),
    ("1 in m", {"m": ["1"]}, True),
    # = is numeric when one side is a number written out, else texts compare.
    ("q == 1", {"q": "1"}, True),
    ("q == 1", {"q": "01"}, True),
    ("q == '1'", {"q": "01"}, False),
    ("q == 1", {"q": "1.0"}, True),
    ("q == 1", {}, False),
    ("q != 1", {}, True),
    ("age == 30", {"age": 30}, True),
    ("age == '30'", {"age": 30}, True),
    ("q == 2.5", {"q": "2.5"}, True),
    # Numeric comparisons; no answer, or one that is not a number, makes them false.
    ("age >= 18", {"age": 18}, True),
    ("age >= 18", {"age": 17}, False),
    ("age > 18", {"age": 18}, False),
    ("age < 18", {"age": 17}, True),
    ("age <= 18", {"age": 18}, True),
    ("age < 18", {}, False),
    ("age >= 18", {}, False),
    ("not (age >= 18)", {}, True),
    ("q > 1", {"q": "b"}, False),
    ("age >= -20 and age <= 55", {"age": -5}, True),
    ("age >= -20 and age <= 55", {"age": -21}, False),
    ("t > -0.5", {"t": 0}, True),
    ("t < 1.5", {"t": 2}, False),
    ("age > other", {"age": 5, "other": 4}, True),
    # count-selected()
    ("count_selected(m) >= 2", {"m": ["a", "b"]}, True),
    ("count_selected(m) >= 2", {"m": ["a"]}, False),
    ("count_selected(m) == 0", {}, True),
    ("count_selected(m) < 1", {}, True),
    ("count_selected(m) == 1", {"m": ["b"]}, True),
    # Lists, and and/or/not as before.
    ("q in ['a', 'b']", {"q": "b"}, True),
    ("q in ['a', 'b']", {}, False),
    ("q in ['', 'a']", {}, True),
    ("q in [1, 2]", {"q": "2"}, True),
    ("(q == 'a' or q == 'b') and age != 30", {"q": "a", "age": 31}, True),
    ("Q.name == 'x'", {"Q.name": "x"}, True),
]


@pytest.mark.parametrize(("text", "answers", "expected"), TRUTH_TABLE)
def test_the_server_reads_conditions_as_odk_does(text, answers, expected):
    assert conditions.parse(text).holds(answers) is expected


def test_a_set_of_codes_compares_as_its_codes_in_order():
    assert conditions.parse("m == 'a b'").holds({"m": frozenset({"b", "a"})})


def test_the_browser_reads_every_condition_as_the_server_does():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    cases = [{"tree": conditions.parse(text).tree, "answers": answers} for text, answers, _expected in TRUTH_TABLE]
    script = (f"const f = require({json.dumps(str(FORM_JS))});"
              "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(cases.map(c => f.holds(c.tree, c.answers))));")
    done = subprocess.run([node, "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True)
    got = json.loads(done.stdout)
    wrong = [(text, answers, expected) for (text, answers, expected), held in zip(TRUTH_TABLE, got, strict=True)
             if held is not expected]
    assert not wrong


@pytest.mark.parametrize(("relevant", "after"), [
    ("later_q != ''", {"1", "2", "3"}),
    ("later_q == ''", {"1", "2", "3"}),  # holds where it was not answered: after any answer
    ("count_selected(many) == 0", {"1", "2", "3"}),
    ("tea == 2.0", {"2"}),
    ("tea >= 2", {"1", "2", "3"}),  # read conservatively
])
def test_blank_comparisons_never_narrow_when_a_question_is_asked(relevant, after):
    every = frozenset({"1", "2", "3"})
    within = {"later_q": frozenset({"3"}), "many": frozenset({"1"})}
    assert conditions.values_allowing(conditions.parse(relevant), "tea", every, within) == after
