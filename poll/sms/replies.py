"""Reading an SMS reply: an answer code, a stop request, or something else."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from poll.questionnaire import Question
from poll.vocabulary import QuestionType

# Arabic-Indic and Persian digits to ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
STOP_WORDS = {
    "stop", "unsubscribe", "end", "quit", "cancel",
    "توقف", "ايقاف", "إيقاف", "الغاء", "إلغاء", "قف",
    "وەستان", "بوەستە", "ڕاگرتن", "هەڵوەشاندنەوە",
}
YES_WORDS = {"yes", "y", "نعم", "اي", "أي", "ئا", "بەڵێ", "بەلێ"}
NO_WORDS = {"no", "n", "لا", "کلا", "نەخێر", "نا"}
# Words that join several answers ("1 and 2", "١ و ٢", "1 یان 2"): no answer themselves.
JOINERS = {"and", "or", "و", "او", "أو", "w", "û", "یان", "یا", "وە"}


@dataclass(frozen=True)
class Reply:
    kind: str  # "answer", "stop", "unknown", or "several" (more than one answer named: none is taken)
    code: str | None = None


def normalize(text: str) -> str:
    """Case, width, digits and spacing folded; tatweel and bidi marks dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch != "\u0640")
    return " ".join(text.casefold().split())


def read(text: str, option_codes: list[str], yes_no: dict[str, str] | None = None) -> Reply:
    """What a reply says, given the poll's option codes and, if the poll has them, its yes/no codes.

    The first word is the answer ("3 please" is 3). A reply naming a second,
    different answer or number ("1,2", "1 2", "١ و ٢", "yes 2") says "several":
    it is not the first one's answer, and no answer is taken from it.
    """
    words = _words(text, set(option_codes))
    if not words:
        return Reply("unknown")
    if words[0] in STOP_WORDS:
        return Reply("stop")

    def named(word: str) -> str | None:
        if word in option_codes:
            return word
        if yes_no and word in YES_WORDS and "yes" in yes_no:
            return yes_no["yes"]
        if yes_no and word in NO_WORDS and "no" in yes_no:
            return yes_no["no"]
        return None

    first = named(words[0])
    if first is None:
        return Reply("unknown")
    if any((named(word) or (word if word.isdigit() else first)) != first for word in words[1:]):
        return Reply("several")
    return Reply("answer", first)


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
    codes = {choice.code.casefold(): choice.code for choice in question.choices}
    words = _words(text, set(codes))
    values = []
    for word in words:
        if word.isdigit() and 1 <= int(word) <= len(question.choices):
            values.append(question.choices[int(word) - 1].code)
        else:
            values.append(codes.get(word, word))
    return values
