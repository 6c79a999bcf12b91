"""What each column of the answers export means: a codebook (HTML or CSV), and SPSS and Stata syntax that label the
CSV export as the .sav and .dta files are labelled.

Researchers who take the CSV (LimeSurvey's and Kobo's users among them)
expect both: the codebook maps a question to its column, its full label, its
codes and its missing codes; the syntax reads the CSV into SPSS (or GNU
PSPP) or Stata and gives it the names, labels, stored numbers, missing codes,
measure levels and case weight that `stat_files` writes into its files. No
answer is read here: the codebook is the form's, so it tells nothing of who
answered what. The CSV cannot tell a question not asked from one skipped
(both are empty there), so the syntax leaves them system-missing; "other"
and withheld cells get their codes.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from markupsafe import escape

from poll.models import Poll
from poll.questionnaire import PREFER_NOT
from poll.services.releases import answer_table, stat_files
from poll.services.releases.exports import DELIMITERS
from poll.stats.disclosure import WITHHELD

FORMATS = ("html", "csv")
SYNTAX = ("sps", "do")
KIND_NAMES = {"choice": "single choice (coded)", "flag": "chosen or not (0/1)", "number": "number",
              "text": "text", "time": "date and time (UTC)"}
CODEBOOK_FIELDS = ["variable", "csv_column", "type", "measure", "label", "code", "stored_as", "value_label"]
SPSS_LABEL_BYTES = 255  # SPSS keeps this much of a variable label; the codebook and the .sav's document keep all
SPSS_VALUE_LABEL_BYTES = 120
STATA_LABEL_LIMIT = stat_files.STATA_LABEL_LIMIT


@dataclass(frozen=True)
class Variable:
    """One column as the research files hold it: its name there and in the CSV, its label, codes and blanks."""

    name: str  # legal in SPSS and Stata
    header: str  # the CSV's header
    column: answer_table.Column
    label: str
    stored: dict[str, int]  # a choice's form code -> the number the files store
    value_labels: dict[str, str]  # a choice's form code -> its label
    missing: dict[str, int]  # why empty -> SPSS's user-missing code, for the reasons this column can be empty
    language: str

    @property
    def measure(self) -> str:
        return stat_files.MEASURES[self.column.kind]


def variables(poll: Poll, language: str) -> list[Variable]:
    """The export's columns for `poll`, as the research files name, label and code them, labelled in `language`."""
    columns = answer_table.columns_of(poll)
    generalised = poll.is_anonymous
    made = []
    for name, header, column in zip(stat_files.variable_names(c.name for c in columns),
                                    answer_table.header(columns), columns, strict=True):
        codes = stat_files.values_of(column) if column.kind == "choice" else {}
        labels = {code: _text(label, language) for code, label in column.codes if code != PREFER_NOT}
        if generalised and column.kind == "choice" and not column.always_shown and answer_table.OTHER not in codes:
            codes[answer_table.OTHER] = stat_files.OTHER_VALUE
            labels[answer_table.OTHER] = _text(answer_table.OTHER_LABELS, language)
        missing = {}
        if stat_files.takes_missing(column):
            numbers = stat_files.missing_values(column)
            missing = {reason: numbers[reason] for reason in stat_files.reasons_of(column, generalised)}
        made.append(Variable(name, header, column, _text(column.label, language), codes, labels, missing, language))
    return made


def codebook(poll: Poll, fmt: str, language: str) -> str:
    """The codebook of `poll`'s answers export in `fmt` ("html" or "csv"), labelled in `language`."""
    found = variables(poll, language)
    if fmt == "csv":
        return _codebook_csv(found, language)
    return _codebook_html(poll, found, language)


def _missing_rows(variable: Variable, language: str) -> list[tuple[str, int, str]]:
    return [("", code, _text(stat_files.MISSING_LABELS[reason], language)) for reason, code in variable.missing.items()]


def _codebook_csv(found: list[Variable], language: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CODEBOOK_FIELDS)
    for v in found:
        writer.writerow([v.name, v.header, v.column.kind, v.measure, v.label, "", "", ""])
        for code, stored in v.stored.items():
            writer.writerow([v.name, v.header, v.column.kind, v.measure, "", code, stored, v.value_labels[code]])
        for _code, stored, label in _missing_rows(v, language):
            writer.writerow([v.name, v.header, v.column.kind, v.measure, "", "", stored, label])
    return buffer.getvalue()


def _codebook_html(poll: Poll, found: list[Variable], language: str) -> str:
    direction = "ltr" if language == "en" else "rtl"
    parts = [f'<!doctype html>\n<html lang="{escape(language)}" dir="{direction}">\n<head><meta charset="utf-8">'
             f"<title>{escape(poll.slug)}: codebook</title>\n<style>body{{font-family:sans-serif;max-width:60em;"
             "margin:auto}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}"
             "code{direction:ltr;unicode-bidi:embed}</style></head>\n<body>\n"
             f"<h1>{escape(poll.slug)}</h1>\n"
             "<p>Each column of the answers export: its name in the SPSS and Stata files and in the CSV, its full "
             "label, and the number stored for each code. Missing codes say why a cell is empty; SPSS declares them "
             "user-missing, Stata holds them as .a (not asked), .b (skipped), .c (withheld) and .d (prefer not "
             "to say). The SPSS file is weighted by <code>weight</code>.</p>\n"]
    for v in found:
        parts.append(f'<h2 id="{escape(v.name)}"><code>{escape(v.name)}</code></h2>\n<p>{escape(v.label)}</p>\n'
                     f"<p>CSV column <code>{escape(v.header)}</code> · {escape(KIND_NAMES[v.column.kind])} · "
                     f"{escape(v.measure)}</p>\n")
        rows = [(code, stored, v.value_labels[code]) for code, stored in v.stored.items()] + _missing_rows(v, language)
        if rows:
            parts.append("<table><tr><th>code</th><th>stored as</th><th>label</th></tr>\n")
            parts += [f"<tr><td><code>{escape(code)}</code></td><td><code>{stored}</code></td>"
                      f"<td>{escape(label)}</td></tr>\n" for code, stored, label in rows]
            parts.append("</table>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def csv_name(poll: Poll) -> str:
    """The name the web gives the answers CSV, which the syntax files read."""
    return f"{poll.slug}-answers.csv"


def syntax(poll: Poll, fmt: str, language: str, delimiter: str = ",") -> str:
    """SPSS (`fmt` "sps") or Stata ("do") syntax that reads `poll`'s answers CSV, separated by `delimiter`, and
    labels it in `language`."""
    found = variables(poll, language)
    return (_spss if fmt == "sps" else _stata)(poll, found, DELIMITERS[delimiter])


def _recoded(v: Variable) -> dict[str, int]:
    # The CSV's texts of a coded column and the number each becomes: the codes, "other", withheld (*), and
    # "prefer not to say" (-).
    recoded = dict(v.stored)
    if v.column.kind == "flag":
        recoded |= {"0": 0, "1": 1}
    if "withheld" in v.missing:
        recoded[WITHHELD] = v.missing["withheld"]
    if "prefer-not" in v.missing:
        recoded[PREFER_NOT] = v.missing["prefer-not"]
    return recoded


def _scratch_names(found: list[Variable]) -> list[str]:
    # A name per column to read it into, none like a final name.
    taken = {v.name.lower() for v in found}
    names = []
    for place in range(1, len(found) + 1):
        name = f"csv_{place}"
        while name.lower() in taken:
            name += "_"
        taken.add(name.lower())
        names.append(name)
    return names


def _spss_text(text: str, limit: int) -> str:
    cut = text.encode()[:limit].decode(errors="ignore")
    return "'" + " ".join(cut.split()).replace("'", "''") + "'"


def _spss(poll: Poll, found: list[Variable], delimiter: str) -> str:
    scratch = _scratch_names(found)
    as_read = [v.name if v.column.kind in ("text", "time") else s for v, s in zip(found, scratch, strict=True)]
    delimiters = r"\t" if delimiter == "\t" else delimiter
    lines = [f"* Labels the answers of poll {poll.slug} as exported by 'poll export {poll.slug} --format csv'.",
             f"* Save the CSV as {csv_name(poll)} beside this file, or change its name below.",
             "* Empty cells are system-missing: the CSV does not tell a question not asked from one skipped.",
             "GET DATA /TYPE=TXT", f"  /FILE={_spss_text(csv_name(poll), 1000)}", "  /ENCODING='UTF-8'",
             "  /ARRANGEMENT=DELIMITED", "  /FIRSTCASE=2", f"  /DELIMITERS='{delimiters}'", "  /QUALIFIER='\"'",
             "  /VARIABLES="]
    lines += [f"    {name} A{4000 if v.column.kind == 'text' and v.column.asked else 64}"
              for v, name in zip(found, as_read, strict=True)]
    lines[-1] += "."
    for v, name in zip(found, as_read, strict=True):
        if name == v.name:
            continue
        pairs = " ".join(f"({_spss_text(code, 64)}={number})" for code, number in _recoded(v).items())
        convert = " (CONVERT)" if v.column.kind == "number" else ""
        lines.append(f"RECODE {name} {pairs}{convert} INTO {v.name}.".replace("  ", " "))
        lines.append(f"FORMATS {v.name} ({'F10.4' if v.column.kind == 'number' else 'F8.0'}).")
    lines.append("ADD FILES FILE=* /KEEP=" + " ".join(v.name for v in found) + ".")
    lines.append("VARIABLE LABELS")
    lines += [f"  {'/' if place else ''}{v.name} {_spss_text(v.label, SPSS_LABEL_BYTES)}"
              for place, v in enumerate(found)]
    lines[-1] += "."
    labelled = [v for v in found if v.stored or v.missing or v.column.kind == "flag"]
    if labelled:
        lines.append("VALUE LABELS")
        for place, v in enumerate(labelled):
            pairs = [(v.stored[code], text) for code, text in v.value_labels.items()]
            pairs += _flag_labels(v)
            pairs += [(code, label) for _c, code, label in _missing_rows(v, v.language)]
            lines.append(f"  {'/' if place else ''}{v.name} " + " ".join(f"{number} {_spss_text(text, SPSS_VALUE_LABEL_BYTES)}"
                                                      for number, text in pairs))
        lines[-1] += "."
    for v in found:
        if v.missing:
            lines.append(f"MISSING VALUES {v.name} ({min(v.missing.values())} THRU {max(v.missing.values())}).")
    for level in ("nominal", "scale"):
        names = [v.name for v in found if v.measure == level and v.column.kind != "time"]
        if names:
            lines.append(f"VARIABLE LEVEL {' '.join(names)} ({level.upper()}).")
    lines += [f"WEIGHT BY {found[-1].name}.", "EXECUTE.", ""]
    return "\n".join(lines)


def _flag_labels(v: Variable) -> list[tuple[int, str]]:
    if v.column.kind != "flag":
        return []
    return list(stat_files.FLAG_LABELS.get(v.language, stat_files.FLAG_LABELS["en"]).items())


def _stata_text(text: str, limit: int | None = None) -> str:
    # A compound-quoted Stata string in which no macro expands.
    text = " ".join(text.split())[:limit]
    return '`"' + re.sub(r"([$`\\])", r"\\\1", text).replace("\"'", "\" '") + "\"'"


def _stata(poll: Poll, found: list[Variable], delimiter: str) -> str:
    delimiters = "tab" if delimiter == "\t" else f'"{delimiter}"'
    lines = [f"* Labels the answers of poll {poll.slug} as exported by 'poll export {poll.slug} --format csv'.",
             f"* Save the CSV as {csv_name(poll)} beside this file, or change its name below.",
             "* Empty cells are system-missing (.): the CSV does not tell a question not asked from one skipped.",
             f'import delimited using "{csv_name(poll)}", delimiters({delimiters}) varnames(nonames) rowrange(2) '
             'stringcols(_all) encoding("utf-8") bindquote(strict) clear']
    for place, v in enumerate(found, start=1):
        read = f"v{place}"
        if v.column.kind in ("text", "time"):
            lines.append(f"rename {read} {v.name}")
        elif v.column.kind == "number":
            lines.append(f"generate double {v.name} = real({read})")
        else:
            lines.append(f"generate double {v.name} = .")
        letters = {number: "." + stat_files.MISSING_LETTERS[reason] for reason, number in v.missing.items()}
        for code, number in (_recoded(v).items() if v.column.kind not in ("text", "time") else ()):
            value = letters.get(number, str(number))
            lines.append(f"replace {v.name} = {value} if {read} == {_stata_text(code)}")
        if v.column.kind not in ("text", "time"):
            lines.append(f"drop {read}")
        lines.append(f"label variable {v.name} {_stata_text(v.label, STATA_LABEL_LIMIT)}")
        pairs = [(str(v.stored[code]), text) for code, text in v.value_labels.items()]
        pairs += [(str(number), text) for number, text in _flag_labels(v)]
        pairs += [("." + stat_files.MISSING_LETTERS[reason], _text(stat_files.MISSING_LABELS[reason], v.language))
                  for reason in v.missing]
        if pairs:
            label = f"lbl_{place}"
            lines.append(f"label define {label} " + " ".join(f"{number} {_stata_text(text)}" for number, text in pairs)
                         + ", replace")
            lines.append(f"label values {v.name} {label}")
    lines += ["order " + " ".join(v.name for v in found), "compress",
              f"* Weighted analyses: add [pweight={found[-1].name}] (its label says what it is).", ""]
    return "\n".join(lines)


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
