"""Reading an SMS reply: an answer code, a stop request, or something else."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from poll.questionnaire import Question
from poll.vocabulary import QuestionType

# Arabic-Indic and Persian digits to ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Letters a phone's keypad offers in several forms, folded to one: hamza on or under alef, Arabic and Persian
# yeh and kaf, teh marbuta; and the Kurdish letters often typed without their marks (ڵ ڕ ۆ ێ ە).
_LETTERS = str.maketrans("أإآٱىيكةڵڕۆێە", "ااااییکهلرویه")
STOP_WORDS = {
    "stop", "unsubscribe", "end", "quit", "cancel",
    "توقف", "ايقاف", "إيقاف", "الغاء", "إلغاء", "قف",
    "وەستان", "بوەستە", "ڕاگرتن", "هەڵوەشاندنەوە",
}
YES_WORDS = {"yes", "y", "نعم", "اي", "أي", "ئا", "بەڵێ", "بەلێ", "ئەرێ"}
NO_WORDS = {"no", "n", "لا", "کلا", "كلا", "نەخێر", "نا"}
# Words that join several answers ("1 and 2", "١ و ٢", "1 یان 2"): no answer themselves.
JOINERS = {"and", "or", "و", "او", "أو", "w", "û", "یان", "یا", "وە"}


@dataclass(frozen=True)
class Reply:
    kind: str  # "answer", "stop", "unknown", or "several" (more than one answer named: none is taken)
    code: str | None = None


def normalize(text: str) -> str:
    """Case, width, digits, spacing and letter variants folded; tatweel, vowel marks and bidi marks dropped.

    A reply is typed on whatever keypad the phone has: "اي" and "أي", "نەخێر"
    and "نهخیر" are the same word.
    """
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS).translate(_LETTERS)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Mn") and ch != "\u0640")
    return " ".join(text.casefold().split())


def _folded(words: set[str]) -> set[str]:
    return {normalize(word) for word in words}


# The words as replies are read: folded alike.
STOP_WORDS, YES_WORDS, NO_WORDS, JOINERS = (_folded(words) for words in (STOP_WORDS, YES_WORDS, NO_WORDS, JOINERS))


def read(text: str, option_codes: list[str], yes_no: dict[str, str] | None = None,
         words: Mapping[str, str] | None = None) -> Reply:
    """What a reply says, given the poll's option codes and, if the poll has them, its yes/no codes.

    `words` (from `choice_words`) names the options by more than their codes:
    their labels in every language, yes and no, their numbers. The first word
    is the answer ("3 please" is 3), unless the whole reply is a label. A reply
    naming a second, different answer or number ("1,2", "1 2", "١ و ٢", "yes 2")
    says "several": it is not the first one's answer, and no answer is taken from it.
    """
    known = dict(words or {})
    for code in option_codes:
        known.setdefault(normalize(code), code)
    for said, key in ((YES_WORDS, "yes"), (NO_WORDS, "no")):
        if yes_no and key in yes_no:
            known.update(dict.fromkeys(said, yes_no[key]))
    found = _words(text, set(known))
    if not found:
        return Reply("unknown")
    if found[0] in STOP_WORDS:
        return Reply("stop")
    whole = phrase(text)
    if whole in known:
        return Reply("answer", known[whole])
    first = known.get(found[0])
    if first is None:
        return Reply("unknown")
    if any(known.get(word, word if word.isdigit() else first) != first for word in found[1:]):
        return Reply("several")
    return Reply("answer", first)


def phrase(text: str) -> str:
    """A reply or a label as its folded words, punctuation dropped: what a label typed in full is matched on."""
    return " ".join(re.findall(r"[\w-]+", normalize(text)))


def choice_words(choices: Iterable[tuple[str, Mapping[str, str]]], *, by_position: bool) -> dict[str, str]:
    """Every reply that names one choice, folded, with the choice's code: what a feature phone can type.

    A choice is named by its number in the list (`by_position`), its code, its
    label in any language typed in full, and, for the one choice labelled yes
    (or no), every yes (or no) word of every language. A word that would name
    two choices names neither.
    """
    choices = list(choices)
    names: dict[str, str] = {}
    clashes: set[str] = set()

    def add(word: str, code: str) -> None:
        if not word or names.get(word, code) != code:
            clashes.add(word)
        names.setdefault(word, code)

    for number, (code, _labels) in enumerate(choices, start=1):
        if by_position:
            names[str(number)] = code
        else:
            add(normalize(code), code)
    for code, labels in choices:
        if by_position:
            add(normalize(code), code)
        for label in labels.values():
            add(phrase(label), code)
    for said in (YES_WORDS, NO_WORDS):
        meaning = {code for code, labels in choices
                   if {normalize(code), *(phrase(label) for label in labels.values())} & said}
        if len(meaning) == 1:
            for word in said:
                names.setdefault(word, next(iter(meaning)))
    for word in clashes:
        names.pop(word, None)
    if by_position:  # a number always means its place in the list
        names.update({str(number): code for number, (code, _labels) in enumerate(choices, start=1)})
    return names


def numbered_by_position(codes: Iterable[str]) -> bool:
    """Whether a headline's options are replied to by their place in the list: when their codes are not all numbers."""
    return not all(code.isdigit() for code in codes)


def _words(text: str, known: set[str]) -> list[str]:
    """A reply's words, folded; a word that is not `known` is split into its runs of digits and letters
    ("1و2" is 1, و, 2), and joining words ("and", "و") are left out."""
    words = []
    for word in re.findall(r"[\w-]+", normalize(text)):
        words += [word] if word in known else re.findall(r"\d+|[^\W\d_]+", word)
    return [word for word in words if word not in JOINERS]


def question_values(question: Question, text: str) -> list[str]:
    """A reply to one question of an SMS conversation, as the answer form would post it.

    Choices may be given by their number in the list (1, 2, ...) or by their
    code; a multiple choice takes several, separated by spaces, commas, slashes
    or "and" ("و") — which a single choice refuses as more than one answer, as
    the headline's reply does (`read`). A number is read with Arabic-Indic
    digits too; a text is taken as written.
    """
    if question.type == QuestionType.TEXT:
        return [text.strip()] if text.strip() else []
    if not question.takes_choices:
        return re.findall(r"[\w-]+", normalize(text))
    names = choice_words(((choice.code, choice.label) for choice in question.choices), by_position=True)
    whole = phrase(text)
    if whole in names:
        return [names[whole]]
    return [names.get(word, word) for word in _words(text, set(names))]
