"""The answer table as SPSS (.sav) and Stata (.dta) files, with variable and value labels, through pyreadstat.

Statistical packages want numbers with labels rather than codes: a choice
column whose codes are all whole numbers (1, 2, 98, 99) holds the codes
themselves, so the files agree with the CSV; one with other codes (M, F)
holds each code's place in its list (1, 2, ...), and the file's document
says which code each number stands for. Each value is labelled with the
choice's text; "other" (categories hidden together in an anonymous poll)
is -1, and an unanswered or withheld cell is missing. Labels are in one of
the poll's languages (each file holds one set); the file label says which.
Variable names are made legal for both packages and never collide (a
question named `weight` or `in` gets a suffix); the document lists each
column's name, its full label and its codes.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from poll.services.answer_table import OTHER, OTHER_LABELS, Column
from poll.stats.disclosure import WITHHELD

FORMATS = ("sav", "dta")
# Words SPSS or Stata reserve, compared without case: a column is never named one of them.
RESERVED = {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with", "_all", "_b", "byte",
            "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_pi", "_pred", "_rc", "_skip",
            "strl", "using"}
MEASURES = {"choice": "nominal", "flag": "nominal", "number": "scale", "text": "nominal"}
OTHER_VALUE = -1
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
    codes = [code for code, _label in column.codes]
    if all(re.fullmatch(r"-?\d{1,9}", code) for code in codes) and str(OTHER_VALUE) not in codes:
        return {code: int(code) for code in codes}
    return {code: place for place, code in enumerate(codes, start=1)}


def write(columns: list[Column], rows: Iterable[tuple], fmt: str, language: str, title: str,
          note: list[str] | None = None) -> bytes:
    """The file's bytes: `rows` (as `answer_table.rows` gives them) in `fmt` ("sav" or "dta"), labelled in `language`,
    with `note` (what was generalised and why) as the .sav file's document."""
    import pandas as pd  # loaded only for these files
    import pyreadstat

    places = {column.name: values_of(column) for column in columns if column.kind == "choice"}
    data: list[list] = [[] for _column in columns]
    for row in rows:
        for cells, column, value in zip(data, columns, row, strict=True):
            cells.append(_cell(column, value, places.get(column.name)))
    names = variable_names(column.name for column in columns)
    frame = pd.DataFrame({name: cells for name, cells in zip(names, data, strict=True)})
    for name, column in zip(names, columns, strict=True):
        frame[name] = frame[name].astype(object if column.kind == "text" else float)
    labels = [_text(column.label, language) for column in columns]
    generalised = note is not None  # only an anonymous poll's rows hide categories as "other"
    value_labels = {
        name: {places[column.name][code]: _text(label, language) for code, label in column.codes}
        | ({OTHER_VALUE: _text(OTHER_LABELS, language)} if generalised else {})
        for name, column in zip(names, columns, strict=True) if column.kind == "choice"
    }
    flags = {"ar": {0: "لا", 1: "نعم"}, "ku": {0: "نەخێر", 1: "بەڵێ"}, "en": {0: "No", 1: "Yes"}}
    value_labels |= {name: flags.get(language, flags["en"]) for name, column in zip(names, columns, strict=True)
                     if column.kind == "flag"}
    codebook = _codebook(columns, names, places, language)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"answers.{fmt}"
        if fmt == "sav":
            measures = {name: MEASURES[column.kind] for name, column in zip(names, columns, strict=True)}
            pyreadstat.write_sav(frame, str(path), column_labels=labels, variable_value_labels=value_labels,
                                 file_label=title, note=_document([*(note or []), *codebook]) or None,
                                 variable_measure=measures)
        else:  # pyreadstat writes no notes into a .dta: its file label says the gist
            if note:
                title = _text(DTA_NOTE_LABEL, language)
            pyreadstat.write_dta(frame, str(path), column_labels=[label[:STATA_LABEL_LIMIT] for label in labels],
                                 variable_value_labels=value_labels, file_label=title[:STATA_LABEL_LIMIT], version=15)
        return path.read_bytes()


def _codebook(columns: list[Column], names: list[str], places: dict[str, dict[str, int]],
              language: str) -> list[str]:
    # Each column in sentences: its name in the file, the poll's name where it differs, its full label, and the
    # form's code each stored number stands for where they differ.
    lines = []
    for name, column in zip(names, columns, strict=True):
        line = f"{name}" + (f" ({column.name})" if name != column.name else "") + f": {_text(column.label, language)}"
        mapping = places.get(column.name, {})
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


def _cell(column: Column, value, places: dict[str, int] | None):
    if value is None or value == "" or value == WITHHELD:
        return "" if column.kind == "text" else np.nan
    if column.kind == "choice":
        return OTHER_VALUE if value == OTHER else (places or {}).get(str(value), np.nan)
    if column.kind == "text":
        return str(value)
    return np.nan if value == "-" else float(value)  # "prefer not to say" is missing as a number


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
