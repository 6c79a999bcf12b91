"""The answer table as SPSS (.sav) and Stata (.dta) files, with variable and value labels, through pyreadstat.

Statistical packages want numbers with labels rather than codes: a choice
column holds each code's place in its list (1, 2, ...) labelled with the
choice's text, "other" (categories hidden together in an anonymous poll)
is -1, and an unanswered or withheld cell is missing. Labels are in one of
the poll's languages (each file holds one set); the file label says which.
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
OTHER_VALUE = -1
STATA_LABEL_LIMIT = 80  # characters of a Stata variable label
DTA_NOTE_LABEL = {"ar": "معمَّم لحماية المجيبين؛ الوزن: متوسط مجموعة الصف المعروضة",
                  "ku": "بۆ پاراستنی وەڵامدەران گشتاندراوە؛ کێش: تێکڕای گرووپی پیشاندراوی ڕیزەکە",
                  "en": "Generalised to protect respondents; weight: mean of the row's shown group"}


def variable_name(name: str) -> str:
    """`name` as SPSS and Stata accept it: letters, digits and _, not starting with a digit, at most 32 long."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ("v_" + cleaned if not cleaned[:1].isalpha() else cleaned)[:32]


def write(columns: list[Column], rows: Iterable[tuple], fmt: str, language: str, title: str,
          note: list[str] | None = None) -> bytes:
    """The file's bytes: `rows` (as `answer_table.rows` gives them) in `fmt` ("sav" or "dta"), labelled in `language`,
    with `note` (what was generalised and why) as the .sav file's document."""
    import pandas as pd  # loaded only for these files
    import pyreadstat

    places = {column.name: {code: place for place, (code, _label) in enumerate(column.codes, start=1)}
              for column in columns if column.kind == "choice"}
    data: dict[str, list] = {column.name: [] for column in columns}
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            data[column.name].append(_cell(column, value, places.get(column.name)))
    names = [variable_name(column.name) for column in columns]
    frame = pd.DataFrame({name: data[column.name] for name, column in zip(names, columns, strict=True)})
    for name, column in zip(names, columns, strict=True):
        frame[name] = frame[name].astype(object if column.kind == "text" else float)
    labels = [_text(column.label, language) for column in columns]
    value_labels = {
        name: {place: _text(label, language) for place, (_code, label) in enumerate(column.codes, start=1)}
        | {OTHER_VALUE: _text(OTHER_LABELS, language)}
        for name, column in zip(names, columns, strict=True) if column.kind == "choice"
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"answers.{fmt}"
        if fmt == "sav":
            pyreadstat.write_sav(frame, str(path), column_labels=labels, variable_value_labels=value_labels,
                                 file_label=title, note=_document(note) or None)
        else:  # pyreadstat writes no notes into a .dta: its file label says the gist
            if note:
                title = _text(DTA_NOTE_LABEL, language)
            pyreadstat.write_dta(frame, str(path), column_labels=[label[:STATA_LABEL_LIMIT] for label in labels],
                                 variable_value_labels=value_labels, file_label=title[:STATA_LABEL_LIMIT], version=15)
        return path.read_bytes()


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
        return OTHER_VALUE if value == OTHER else places.get(str(value), np.nan)
    if column.kind == "text":
        return str(value)
    return np.nan if value == "-" else float(value)  # "prefer not to say" is missing as a number


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
