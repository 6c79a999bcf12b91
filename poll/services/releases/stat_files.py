"""The answer table as SPSS (.sav) and Stata (.dta) files, with variable and value labels, through pyreadstat.

Statistical packages want numbers with labels rather than codes: a choice
column whose codes are all whole numbers (1, 2, 98, 99) holds the codes
themselves, so the files agree with the CSV; one with other codes (M, F)
holds each code's place in its list (1, 2, ...), and the file's document
says which code each number stands for. Each value is labelled with the
choice's text; "other" (categories hidden together in an anonymous poll)
is -1. A cell left empty says why, as a labelled user-missing code that
analyses leave out: not asked (its condition did not hold), skipped (asked,
left blank), withheld (generalised away to protect respondents) and prefer
not to say; SPSS declares them user-missing (-97, -98, -99, -96, or below
a number's range where those are answers), Stata holds them as extended
missing values (.a, .b, .c, .d). When answered is a date, or a date and
hour, it is one in both files. The SPSS file is weighted by `weight` (the
case weight, declared in the file's header; pyreadstat cannot set it, so it
is written there after); a Stata file cannot carry one, and its users weight
by it themselves. Labels are in one of
the poll's languages (each file holds one set); the file label says which.
Variable names are made legal for both packages and never collide (a
question named `weight` or `in` gets a suffix); the document lists each
column's name, its full label and its codes.
"""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import numpy as np

from poll.questionnaire import PREFER_NOT
from poll.services.releases.answer_table import OTHER, OTHER_LABELS, Blank, Column
from poll.stats.disclosure import WITHHELD

FORMATS = ("sav", "dta")
# Words SPSS or Stata reserve, compared without case: a column is never named one of them.
RESERVED = {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with", "_all", "_b", "byte",
            "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_pi", "_pred", "_rc", "_skip",
            "strl", "using"}
MEASURES = {"choice": "nominal", "flag": "nominal", "number": "scale", "text": "nominal", "time": "scale"}
OTHER_VALUE = -1
# Why a cell is empty: SPSS's user-missing code and Stata's extended missing letter for each reason, and its label.
MISSING_REASONS = ("not-asked", "skipped", "withheld", "prefer-not")
MISSING_CODES = {"not-asked": -97, "skipped": -98, "withheld": -99, "prefer-not": -96}
MISSING_LETTERS = {"not-asked": "a", "skipped": "b", "withheld": "c", "prefer-not": "d"}
MISSING_LABELS = {
    "not-asked": {"ar": "لم يُسأل (شرط السؤال لم يتحقق)", "ku": "نەپرسراوە (مەرجی پرسیارەکە نەهاتەدی)",
                  "en": "Not asked (its condition did not hold)"},
    "skipped": {"ar": "تُرك دون إجابة", "ku": "بێ وەڵام جێهێڵدراوە", "en": "Skipped (asked, left blank)"},
    "withheld": {"ar": "محجوب لحماية المجيبين", "ku": "بۆ پاراستنی وەڵامدەران شاردراوەتەوە",
                 "en": "Withheld to protect respondents"},
    "prefer-not": {"ar": "يفضّل عدم الإجابة", "ku": "باشترە وەڵام نەداتەوە", "en": "Prefer not to say"},
}
FLAG_LABELS = {"ar": {0: "لا", 1: "نعم"}, "ku": {0: "نەخێر", 1: "بەڵێ"}, "en": {0: "No", 1: "Yes"}}
MISSING_NOTE = {
    "ar": "القيم المفقودة: {codes}. في ملف Stata: ‎.a لم يُسأل، ‎.b تُرك، ‎.c محجوب، ‎.d يفضّل عدم الإجابة.",
    "ku": "بەها ونبووەکان: {codes}. لە پەڕگەی Stata: ‎.a نەپرسراوە، ‎.b جێهێڵدراوە، ‎.c شاردراوەتەوە، "
          "‎.d باشترە وەڵام نەداتەوە.",
    "en": "Missing values: {codes}. In a Stata file: .a not asked, .b skipped, .c withheld, .d prefer not to say.",
}
WEIGHT_NOTE = {
    "ar": "الحالات موزونة بالمتغير {name} (وزن الحالة في الملف). في Stata: ‎[pweight={name}].",
    "ku": "حاڵەتەکان بە گۆڕاوی {name} کێشدراون (کێشی حاڵەت لە پەڕگەکەدا). لە Stata: ‎[pweight={name}].",
    "en": "Cases are weighted by {name} (the file's case weight). In Stata: [pweight={name}].",
}
STATA_LABEL_LIMIT = 80  # characters of a Stata variable label
DTA_NOTE_LABEL = {"ar": "معمَّم لحماية المجيبين؛ الوزن: متوسط مجموعة الصف المعروضة",
                  "ku": "بۆ پاراستنی وەڵامدەران گشتاندراوە؛ کێش: تێکڕای گرووپی پیشاندراوی ڕیزەکە",
                  "en": "Generalised to protect respondents; weight: mean of the row's shown group"}


def variable_name(name: str) -> str:
    """`name` as SPSS and Stata accept it: letters, digits and _, not starting with a digit, at most 32 long."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ("v_" + cleaned if not cleaned[:1].isalpha() else cleaned)[:32]


def variable_names(names: Iterable[str]) -> list[str]:
    """Each of `names` made a legal SPSS and Stata name (`variable_name`), none reserved, no two alike in any case."""
    used: set[str] = set()
    made = []
    for name in names:
        base = variable_name(name)
        if base.lower() in RESERVED or re.fullmatch(r"str\d+", base.lower()):
            base = base + "_"
        candidate, number = base, 2
        while candidate.lower() in used:
            suffix = f"_{number}"
            candidate, number = base[:32 - len(suffix)] + suffix, number + 1
        used.add(candidate.lower())
        made.append(candidate)
    return made


def values_of(column: Column) -> dict[str, int]:
    """The number each of a choice column's codes is stored as: the code itself when every code is a whole number,
    else its place in the list."""
    codes = [code for code, _label in column.codes if code != PREFER_NOT]  # "prefer not to say" is missing
    reserved = {str(OTHER_VALUE), *(str(code) for code in MISSING_CODES.values())}
    if all(re.fullmatch(r"-?\d{1,9}", code) for code in codes) and not reserved & set(codes):
        return {code: int(code) for code in codes}
    return {code: place for place, code in enumerate(codes, start=1)}


def missing_values(column: Column) -> dict[str, int]:
    """The SPSS user-missing code of each reason a cell of `column` is empty: MISSING_CODES, or just below a
    number's range where its range holds them (a temperature of -97 is an answer)."""
    low, high = column.span or (0, 0)
    if column.kind == "number" and low <= max(MISSING_CODES.values()) and high >= min(MISSING_CODES.values()):
        return {reason: low - place for place, reason in enumerate(MISSING_REASONS, start=1)}
    return dict(MISSING_CODES)


def write(columns: list[Column], rows: Iterable[tuple], fmt: str, language: str, title: str,
          note: list[str] | None = None) -> bytes:
    """The file's bytes: `rows` (as `answer_table.rows` gives them) in `fmt` ("sav" or "dta"), labelled in `language`,
    with `note` (what was generalised and why) as the .sav file's document."""
    import pandas as pd  # loaded only for these files
    import pyreadstat

    # By position, since a question may share its name with a fixed column (`sex`, `weight`).
    places = [values_of(column) if column.kind == "choice" else {} for column in columns]
    missing = [({reason: MISSING_LETTERS[reason] for reason in MISSING_REASONS} if fmt == "dta"
                else missing_values(column)) if takes_missing(column) else {} for column in columns]
    data: list[list] = [[] for _column in columns]
    used: list[set] = [set() for _column in columns]  # the missing codes each column holds
    for row in rows:
        for cells, held, column, value, codes, blanks in zip(data, used, columns, row, places, missing, strict=True):
            cell = _cell(column, value, codes, blanks)
            if not isinstance(cell, float) and cell in blanks.values():
                held.add(cell)
            cells.append(cell)
    names = variable_names(column.name for column in columns)
    frame = pd.DataFrame({name: cells for name, cells in zip(names, data, strict=True)})
    for name, column, held in zip(names, columns, used, strict=True):
        frame[name] = _typed(frame[name], column, held, pd)
    labels = [_text(column.label, language) for column in columns]
    generalised = note is not None  # only an anonymous poll's rows hide categories as "other"
    value_labels = {
        name: {codes[code]: _text(label, language) for code, label in column.codes if code != PREFER_NOT}
        | ({OTHER_VALUE: _text(OTHER_LABELS, language)} if generalised else {})
        for name, column, codes in zip(names, columns, places, strict=True) if column.kind == "choice"
    }
    value_labels |= {name: dict(FLAG_LABELS.get(language, FLAG_LABELS["en"])) for name, column in zip(names, columns, strict=True)
                     if column.kind == "flag"}
    for name, column, blanks in zip(names, columns, missing, strict=True):  # each missing code it can hold, labelled
        if blanks and reasons_of(column, generalised):
            value_labels.setdefault(name, {}).update(
                {blanks[reason]: _text(MISSING_LABELS[reason], language) for reason in reasons_of(column, generalised)})
    codebook = _codebook(columns, names, places, language)
    codes = ", ".join(f"{MISSING_CODES[reason]} {_text(MISSING_LABELS[reason], language)}"
                      for reason in MISSING_REASONS)
    explained = [_text(MISSING_NOTE, language).format(codes=codes),
                 _text(WEIGHT_NOTE, language).format(name=names[-1])]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"answers.{fmt}"
        if fmt == "sav":
            measures = {name: MEASURES[column.kind] for name, column in zip(names, columns, strict=True)}
            declared = {name: list(blanks.values()) for name, blanks in zip(names, missing, strict=True) if blanks}
            pyreadstat.write_sav(frame, str(path), column_labels=labels, variable_value_labels=value_labels,
                                 file_label=title, note=_document([*(note or []), *explained, *codebook]) or None,
                                 variable_measure=measures, missing_ranges=_ranges(declared))
            _declare_weight(path)
        else:  # pyreadstat writes no notes into a .dta: its file label says the gist
            if note:
                title = _text(DTA_NOTE_LABEL, language)
            letters = {name: list(MISSING_LETTERS.values()) for name, blanks in zip(names, missing, strict=True)
                       if blanks}
            pyreadstat.write_dta(frame, str(path), column_labels=[label[:STATA_LABEL_LIMIT] for label in labels],
                                 variable_value_labels=value_labels, file_label=title[:STATA_LABEL_LIMIT], version=15,
                                 missing_user_values=letters)
        return path.read_bytes()


def takes_missing(column: Column) -> bool:
    """Whether `column` holds numbers that may be left empty for a stated reason (`MISSING_REASONS`)."""
    return column.kind in ("choice", "flag", "number") and not column.always_shown


def reasons_of(column: Column, generalised: bool) -> list[str]:
    """Why a cell of `column` can be empty: a question's may be not asked or skipped, a profile question's refused,
    and in an anonymous (`generalised`) poll any cell but the answer and the weight may be withheld."""
    reasons = (["not-asked"] if column.conditional else []) + (["skipped"] if column.asked else [])
    if generalised and not column.always_shown:
        reasons.append("withheld")
    if column.prefer_not or any(code == PREFER_NOT for code, _label in column.codes):
        reasons.append("prefer-not")
    return reasons


def _ranges(declared: dict[str, list[int]]) -> dict[str, list]:
    # SPSS keeps at most three discrete missing values, or a range and one value: four codes in a row are one range.
    ranges = {}
    for name, codes in declared.items():
        low, high = min(codes), max(codes)
        ranges[name] = [{"lo": low, "hi": high}] if high - low + 1 == len(codes) else codes[:3]
    return ranges


def _declare_weight(path: Path) -> None:
    # The header's weight index names the case weight: the dictionary position of its first 8-byte slot. The
    # weight is the last column and a number, so that position is the case's size in slots (held just before it).
    header = bytearray(path.read_bytes()[:80])
    order = "<" if struct.unpack_from("<i", header, 64)[0] in (2, 3) else ">"
    slots = struct.unpack_from(order + "i", header, 68)[0]
    if slots > 0:
        with path.open("r+b") as file:
            file.seek(76)
            file.write(struct.pack(order + "i", slots))


def _typed(cells, column: Column, held: set, pd):
    # A column's type in the file: text, a date or a date and time where every filled cell is one, else numbers.
    if column.kind == "text":
        return cells.astype(object)
    if column.kind == "time":
        filled = [cell for cell in cells if cell is not None]
        if filled and all(isinstance(cell, datetime) for cell in filled):
            return pd.to_datetime(cells)
        if filled and all(isinstance(cell, date) and not isinstance(cell, datetime) for cell in filled):
            return cells.astype(object)
        return cells.map(lambda cell: "" if cell is None else str(cell)).astype(object)
    return cells.astype(object if any(isinstance(code, str) for code in held) else float)


def _codebook(columns: list[Column], names: list[str], places: list[dict[str, int]], language: str) -> list[str]:
    # Each column in sentences: its name in the file, the poll's name where it differs, its full label, and the
    # form's code each stored number stands for where they differ.
    lines = []
    for name, column, mapping in zip(names, columns, places, strict=True):
        line = f"{name}" + (f" ({column.name})" if name != column.name else "") + f": {_text(column.label, language)}"
        if any(str(value) != code for code, value in mapping.items()):
            line += " [" + ", ".join(f"{value} = {code}" for code, value in mapping.items()) + "]"
        lines.append(line)
    return lines


def _document(sentences: list[str] | None, width: int = 80) -> list[str]:
    # An SPSS document is lines of at most 80 bytes: each sentence wrapped at spaces to fit (UTF-8 counted).
    lines = []
    for sentence in sentences or []:
        line = ""
        for word in sentence.split():
            candidate = f"{line} {word}" if line else word
            if len(candidate.encode()) > width and line:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


def _cell(column: Column, value, places: dict[str, int], missing: dict[str, int | str]):
    if column.kind == "time":
        return _when(value)
    if column.kind == "text":
        return "" if value is None or value == WITHHELD else str(value)
    if isinstance(value, Blank):
        return missing[value.reason]
    if value == WITHHELD:
        return missing["withheld"]
    if value == PREFER_NOT:
        return missing["prefer-not"]
    if value is None or value == "":
        return np.nan
    if column.kind == "choice":
        # A form's own code "other" is that choice; only a code the form lacks is the generalisation's "other".
        return places[str(value)] if str(value) in places else OTHER_VALUE if value == OTHER else np.nan
    return float(value)


def _when(value) -> datetime | date | str | None:
    # "2024-01-05T13:00Z" is a date and hour, "2024-01-05" a day; a week or a field period stays text.
    text = str(value or "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z", text):
        return datetime.strptime(text, "%Y-%m-%dT%H:%MZ")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    return text or None


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
