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


@dataclass(frozen=True)
class Reply:
    kind: str  # "answer", "stop", "unknown"
    code: str | None = None


def normalize(text: str) -> str:
    """Case, width, digits and spacing folded; tatweel and bidi marks dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch != "\u0640")
    return " ".join(text.casefold().split())


def read(text: str, option_codes: list[str], yes_no: dict[str, str] | None = None) -> Reply:
    """What a reply says, given the poll's option codes and, if the poll has them, its yes/no codes."""
    words = re.findall(r"[\w]+", normalize(text))
    if not words:
        return Reply("unknown")
    if words[0] in STOP_WORDS:
        return Reply("stop")
    first = words[0]
    if first in option_codes:
        return Reply("answer", first)
    if yes_no:
        if first in YES_WORDS and "yes" in yes_no:
            return Reply("answer", yes_no["yes"])
        if first in NO_WORDS and "no" in yes_no:
            return Reply("answer", yes_no["no"])
    return Reply("unknown")


def question_values(question: Question, text: str) -> list[str]:
    """A reply to one question of an SMS conversation, as the answer form would post it.

    Choices may be given by their number in the list (1, 2, ...) or by their
    code; a multiple choice takes several, separated by spaces or commas.
    A number is read with Arabic-Indic digits too; a text is taken as written.
    """
    if question.type == QuestionType.TEXT:
        return [text.strip()] if text.strip() else []
    words = re.findall(r"[\w-]+", normalize(text))
    if not question.takes_choices:
        return words
    codes = {choice.code.casefold(): choice.code for choice in question.choices}
    values = []
    for word in words:
        if word.isdigit() and 1 <= int(word) <= len(question.choices):
            values.append(question.choices[int(word) - 1].code)
        else:
            values.append(codes.get(word, word))
    return values
