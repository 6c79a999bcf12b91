"""Poll definitions from XLSForms (.xlsx, .xls): pyxform reads the workbook, this module maps it to a questionnaire.

XLSForm is the spreadsheet format survey teams already write forms in (ODK,
KoboToolbox). pyxform parses the sheets as it would for ODK and refuses what
it would refuse; whatever a poll cannot honour is refused here rather than
dropped. Every refusal names the sheet and the row as a spreadsheet shows it
(the header is row 1). Nothing here touches the database.

How a form becomes a definition (`questionnaire.questions_of` checks the rest):

- survey `type`: `select_one LIST` and `select_multiple LIST` (choices: the
  LIST's rows of the choices sheet, `name` the code), `integer`, `text`.
  A `select_one governorate` (from a list named `governorate`) is the poll's
  governorate question: the list holds the 18 codes (IQ-BG, ...) and the poll
  shows its own names for them. `begin group`/`end group` are opened: a
  group's `relevant` is joined to each of its questions' with `and`, its label
  is dropped. Every other type is refused, and so are the columns
  choice_filter, default, calculation, read_only and trigger; columns that
  only change the look (appearance, media, messages) are ignored.
- `label::Arabic (ar)`, `label::Kurdish (ku)` or `label::Sorani (ckb)`,
  `label::English (en)`: the code in parentheses (or a bare code) names the
  language. A plain `label` is in the form's `default_language`, else
  English. The same for `hint`.
- `required`: yes/true/1 or no/false/0; blank is not required, as in XLSForm.
- `relevant`: `${q} = 'x'` becomes `q == 'x'`, `!=` stays, `selected(${q}, 'x')`
  becomes `'x' in q`, with `not(...)`, `and`, `or`, parentheses, texts and
  whole numbers; anything else is refused.
- `constraint`, on integers only, a range `. >= MIN and . <= MAX` (either
  order) that becomes min and max; an integer without one is refused.
- `poll::role` (headline or profile) and `poll::maps_to` (governorate, sex,
  age_band). With no headline named, the first select_one without a role is it.
- settings: `form_id` (pyxform uses the file's name without one), lower-cased,
  is the slug; `default_language` such as `Arabic (ar)`; `poll::anonymous`
  (yes/no) and `poll::sms_sender`.

A workbook is measured before pyxform reads it, which holds every cell in
memory: at most MAX_BYTES on disk, MAX_UNPACKED_BYTES unpacked, and MAX_ROWS
rows in the survey and choices sheets (a poll's form has dozens).
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import xlrd
from pyxform import aliases
from pyxform.errors import PyXFormError
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import DefinitionData, get_xlsform

from poll import conditions, iraq, questionnaire
from poll.errors import Invalid

# polls.SLUG, repeated because importing polls would load the database models (a test keeps the two equal).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# pyxform's names for the types it reads (select_one, select_multiple and their aliases), in the poll's words.
TYPES = {"select one": "select_one", "select all that apply": "select_multiple", "integer": "integer", "text": "text"}
CHOICE_TYPES = ("select_one", "select_multiple")
GOVERNORATE_LIST = "governorate"
# A plain `label` is in the settings' default_language; without one pyxform files it under "default", read as this.
PLAIN_LANGUAGE = "en"
# Languages as forms name them: ISO 639-1 and -3 codes, English names and the languages' own names.
_LANGUAGE_CODES = {
    "ar": "ar", "ara": "ar", "arb": "ar", "arabic": "ar", "العربية": "ar", "عربي": "ar", "عربى": "ar",
    "ku": "ku", "kur": "ku", "ckb": "ku", "kurdish": "ku", "sorani": "ku", "kurdish sorani": "ku",
    "sorani kurdish": "ku", "central kurdish": "ku", "کوردی": "ku", "كوردي": "ku", "کوردیی ناوەندی": "ku",
    "سۆرانی": "ku",
    "en": "en", "eng": "en", "english": "en",
}
_LANGUAGE_IN_PARENTHESES = re.compile(r"\(\s*([A-Za-z_-]+)\s*\)\s*$")
# Types ODK fills in by itself (the device, the clock): a poll records none of them, so they are skipped.
METADATA_TYPES = {"start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber", "username",
                  "email", "audit", "start-geopoint", "background-audio", "imei"}
OTHER_LABELS = {"ar": "أخرى", "ku": "هی تر", "en": "Other"}
SPECIFY_LABELS = {"ar": "يُرجى التحديد", "ku": "تکایە ڕوونی بکەرەوە", "en": "Please specify"}
_SPECIFY_RELEVANT = re.compile(r"selected\(\.\./(?P<name>[\w.]+), 'other'\)")
# pyxform's yes/no words, and XPath's 1 and 0.
_YES_NO = {**aliases.yes_no, "1": True, "0": False}
SETTINGS_ROW = "settings sheet, row 2"  # the settings' one row of values
# The most a workbook may be: on disk, unpacked (an .xlsx is a zip of XML) and in rows of a sheet.
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ROWS = 5_000
MEASURED_SHEETS = ("survey", "choices")
_BOUND = re.compile(r"\(?\s*\.\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*\)?")
RANGE_EXAMPLE = ". >= 18 and . <= 100"
_XPATH = re.compile(
    r"""\s*(?:
        selected\(\s*\$\{(?P<multiple>[^}]*)\}\s*,\s*(?P<code>'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?)\s*\)
      | count-selected\(\s*\$\{(?P<counted>[^}]*)\}\s*\)
      | \$\{(?P<name>[^}]*)\}
      | (?P<value>'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?(?![\d.]))
      | (?P<operator>!=|<=|>=|=|<|>|\(|\))
      | (?P<word>and|or|not)\b
    )""",
    re.VERBOSE,
)
# pyxform's "[row : 5] On the 'choices' sheet, ..."; a row without a sheet is the survey's.
_PYXFORM_PLACE = re.compile(r"\[row : (\d+)\]\s*(?:On the '(\w+)' sheet, )?")
# questionnaire's "question 3 (sex), choice 2 ..." or "question 'support': ..."
_QUESTION_PLACE = re.compile(r"question (\d+)(?: \([\w.]+\))?(?:, choice (\d+))?|question '([\w.]+)'")


def read(path: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """The poll definition in the XLSForm at `path`; raises Invalid naming the sheet and row of every problem.

    What the form holds that a poll leaves out on purpose (ODK's metadata,
    notes, labels in other languages) is said in `warnings`, one line each.
    """
    warnings = warnings if warnings is not None else []
    workbook = _workbook(path)
    for rows, header in ((workbook.survey, workbook.survey_header), (workbook.choices, workbook.choices_header)):
        _number_rows(rows or [], header or [])
    try:
        form = workbook_to_json(workbook, fallback_form_name=path.stem, warnings=[])
    except PyXFormError as exc:
        raise Invalid(_pyxform_message(path, exc)) from None
    problems: list[str] = []
    dropped: dict[str, None] = {}  # languages left out, in the order met
    try:
        definition = _settings(form, workbook)
    except Invalid as exc:
        problems.append(str(exc))
        definition = {}
    questions, places = [], []
    notes: list[dict[str, Any]] = []  # notes met since the last question: shown with the next one
    for element, around in _questions(form["children"], workbook, warnings, notes=notes):
        if "choices" not in element and element.get("itemset") in form.get("choices", {}):
            element = {**element, "choices": form["choices"][element["itemset"]]}  # pyxform's way with randomize
        try:
            question, choice_rows = _question(element, around, workbook, dropped)
            _with_notes(question, notes, dropped, warnings)
        except Invalid as exc:
            problems.append(str(exc))
            continue
        finally:
            notes.clear()
        questions.append(question)
        places.append((_row(element), choice_rows))
    for note in notes:
        warnings.append(f"{_where(note)}: the note {note['name']!r} is skipped: no question follows it to show it with")
    if dropped:
        warnings.append(f"labels in {', '.join(dropped)} are left out: a poll speaks Arabic (ar), Kurdish (ku) "
                        "and English (en)")
    if not any(question.get("role") == "headline" for question in questions):
        first = next((q for q in questions if q["type"] == "select_one" and "role" not in q and q["required"]
                      and "relevant" not in q), None)
        if first is not None:
            first["role"] = "headline"
        elif not problems:
            problems.append("survey sheet: a poll leads with a required select_one asked of everyone, and this form "
                            "has none: add a column poll::role and write headline in the row of the question to lead "
                            "with (with required = yes and no relevant)")
    if problems:
        raise Invalid("; ".join(problems))
    if "default_language" not in definition:
        # A form without one opens in a language every headline text is in: Arabic if it has Arabic, else English.
        headline = next(question for question in questions if question.get("role") == "headline")
        definition["default_language"] = next(code for code in ("ar", "en", "ku") if code in headline["label"]
                                              or code == "ku")
    definition["questions"] = questions
    try:
        questionnaire.questions_of(definition)
    except Invalid as exc:
        raise Invalid(_located(str(exc), questions, places)) from None
    return definition


def _workbook(path: Path) -> DefinitionData:
    """The workbook's sheets as pyxform reads them: a dict per row, blank rows kept so that row numbers hold."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise Invalid(f"cannot read poll definition {path}: it is larger than {MAX_BYTES // 2**20} MB, "
                          "the most a poll's workbook may be")
        _check_rows(path)
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid(f"cannot read poll definition {path}: {exc.strerror}") from None
    try:
        # The suffix decides the reader: pyxform would otherwise try CSV and Markdown too.
        return get_xlsform(data, file_type=path.suffix.lower())
    except Exception:  # pyxform, openpyxl, xlrd and XML parsers each fail in their own way on a damaged file
        raise Invalid(f"cannot read poll definition {path}: it is not an Excel workbook (.xlsx or .xls), "
                      "or a damaged one") from None


def _check_rows(path: Path) -> None:
    """Raise Invalid if the survey or choices sheet has more than MAX_ROWS rows, reading no more than that, or if
    a sheet's header names a column twice (pyxform would only say the file is not a workbook).

    A sheet's stated dimension may lie, so rows are counted as they stream by
    (openpyxl's read-only mode), and the count stops at the limit.
    """
    too_many = f"more than {MAX_ROWS:,} rows, the most a poll's sheet may have"
    if path.suffix.lower() == ".xls":
        try:
            book = xlrd.open_workbook(str(path), on_demand=True)
        except Exception:  # xlrd fails in its own ways on a damaged file; pyxform reports it below
            return
        for name in MEASURED_SHEETS:
            if name in book.sheet_names() and book.sheet_by_name(name).nrows > MAX_ROWS + 1:
                raise Invalid(f"cannot read poll definition {path}: the {name} sheet has {too_many}")
        return
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a workbook: pyxform says so below
    if unpacked > MAX_UNPACKED_BYTES:
        raise Invalid(f"cannot read poll definition {path}: it unpacks to more than {MAX_UNPACKED_BYTES // 2**20} "
                      "MB, the most a poll's workbook may hold")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl and XML parsers each fail in their own way; pyxform reports it below
        return
    try:
        for name in ("survey", "choices", "settings"):
            if name not in book.sheetnames:
                continue
            header = [str(cell).strip() for cell in next(book[name].iter_rows(max_row=1, values_only=True), ())
                      if cell is not None and str(cell).strip()]
            twice = next((column for n, column in enumerate(header) if column in header[:n]), None)
            if twice is not None:
                raise Invalid(f"{name} sheet, row 1: the column {twice!r} is there twice; keep one of them")
        for name in MEASURED_SHEETS:
            if name not in book.sheetnames:
                continue
            sheet = book[name]
            sheet.reset_dimensions()  # count what is there, not what the file says is there
            for count, _row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if count > MAX_ROWS + 1:  # the header is a row too
                    raise Invalid(f"cannot read poll definition {path}: the {name} sheet has {too_many}")
    finally:
        book.close()


def _number_rows(rows: list[dict[str, str]], header: Sequence[dict[str, Any]]) -> None:
    """Give each row a `poll::row` cell with its spreadsheet row number, which pyxform carries into its JSON.

    Plain columns are put first: pyxform lets a plain `label` that comes
    after `label::Arabic (ar)` replace the translations instead of joining them.
    """
    if not rows or not header:
        return
    delimiter = "::" if any("::" in column for column in header[0]) else ":"  # the form's own style of grouping
    column = f"poll{delimiter}row"
    header[0][column] = None
    for index, row in enumerate(rows):
        if row:
            plain_first = sorted(row.items(), key=lambda cell: ":" in cell[0])  # stable: the order is kept otherwise
            rows[index] = {**dict(plain_first), column: str(index + 2)}


def _pyxform_message(path: Path, error: PyXFormError) -> str:
    text = " ".join(str(error).split())
    found = _PYXFORM_PLACE.match(text)
    if found is None:
        return f"{path.name}: {text}"
    return f"{found[2] or 'survey'} sheet, row {found[1]}: {text[found.end():]}"


def slug_of(form_id: str) -> str:
    """A poll's slug from a form_id as ODK writes it: lower case, every run of other characters a hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", form_id.lower()).strip("-")


def _settings(form: dict[str, Any], workbook: DefinitionData) -> dict[str, Any]:
    """The definition's top-level keys, from the settings sheet."""
    given = next((row for row in workbook.settings or [] if row), {})
    slug = slug_of(form["id_string"])
    if not SLUG.fullmatch(slug):
        where = SETTINGS_ROW if "form_id" in given else "the file's name (there is no settings form_id)"
        raise Invalid(f"{where}: form_id {form['id_string']!r} cannot be the poll's slug: write 2-63 letters, "
                      "digits, hyphens or underscores")
    if form.get("public_key"):
        raise Invalid(f"{SETTINGS_ROW}: public_key asks for encrypted submissions, which a poll cannot honour: its "
                      "answers are counted on the server as they come (remove the column, or collect with ODK)")
    definition: dict[str, Any] = {"slug": slug}
    if given.get("form_title"):
        code = _language_code(form["default_language"]) if form["default_language"] != "default" else None
        definition["title"] = {code or PLAIN_LANGUAGE: str(given["form_title"]).strip()[:1000]}
    if form.get("version") and given.get("version"):
        definition["version"] = str(form["version"]).strip()[:64]
    if form["default_language"] != "default":
        code = _language_code(form["default_language"])
        if code is None:
            raise Invalid(f"{SETTINGS_ROW}: default_language {form['default_language']!r} is not one of the poll's "
                          "languages: Arabic (ar), Kurdish (ku), English (en)")
        definition["default_language"] = code
    extras = dict(form.get("poll", {}))
    anonymous = extras.pop("anonymous", None)
    if anonymous is not None:
        if anonymous not in _YES_NO:
            raise Invalid(f"{SETTINGS_ROW}: poll::anonymous is yes or no, not {anonymous!r}")
        definition["anonymous"] = _YES_NO[anonymous]
    sms_sender = extras.pop("sms_sender", None)
    if sms_sender is not None:
        definition["sms_sender"] = sms_sender
    if extras:
        raise Invalid(f"{SETTINGS_ROW}: column poll::{sorted(extras)[0]} is not known "
                      "(use poll::anonymous or poll::sms_sender)")
    return definition


def _questions(children: list[dict[str, Any]], workbook: DefinitionData, warnings: list[str],
               around: tuple[str, ...] = (), *, notes: list[dict[str, Any]]) -> Iterator[tuple[dict, tuple[str, ...]]]:
    """The questions in `children` in order, groups opened, each with the conditions of the groups around it.

    What pyxform adds by itself (the `meta` group and its instanceID) has no
    spreadsheet row and is skipped; so are ODK's metadata (start, end,
    deviceid...), with a warning. A note is added to `notes`, to be shown
    as text with the question after it; a note asked only under a condition
    of its own, or showing an answer (`${name}`), is skipped with a warning,
    since the question's text is shown whenever the question is. The
    "specify other" question that `or_other` adds is kept, worded in the
    poll's languages.
    """
    for element in children:
        if element["type"] == "group":
            relevant = element.get("bind", {}).get("relevant")
            inner = (*around, _condition(relevant, _where(element))) if relevant else around
            yield from _questions(element.get("children", []), workbook, warnings, inner, notes=notes)
        elif element["type"] in METADATA_TYPES:
            warnings.append(f"survey sheet, row {_row_named(workbook, element['name'])}: {element['type']} is "
                            "metadata a phone records in ODK; a poll records none, so it is skipped")
        elif element["type"] == "note" and _row(element) is not None:
            label = element.get("label")
            texts = label.values() if isinstance(label, dict) else [label or ""]
            if element.get("bind", {}).get("relevant") or around:
                warnings.append(f"{_where(element)}: the note {element['name']!r} is skipped: it is shown under a "
                                "condition, and a poll shows a note with the question after it, always")
            elif any("${" in str(text) for text in texts):
                warnings.append(f"{_where(element)}: the note {element['name']!r} is skipped: a note that shows an "
                                "answer (${...}) cannot be shown as fixed text")
            else:
                notes.append(element)
        elif _row(element) is not None:
            yield element, around
        elif (specify := _SPECIFY_RELEVANT.fullmatch(element.get("bind", {}).get("relevant", ""))) is not None:
            yield {**element, "label": dict(SPECIFY_LABELS), "bind": {"relevant": f"selected(${{{specify['name']}}}, "
                                                                                  "'other')"},
                   "poll": {"row": str(_row_named(workbook, specify["name"]))}}, around


def _with_notes(question: dict[str, Any], notes: list[dict[str, Any]], dropped: dict[str, None],
                warnings: list[str]) -> None:
    # The notes before `question` become the start of its hint, in each language the question is in.
    for note in reversed(notes):
        texts = _texts(note.get("label"), _where(note), dropped)
        hint = question.get("hint", {})
        joined = {code: " ".join(part for part in (texts.get(code) or next(iter(texts.values()), None), hint.get(code))
                                 if part)
                  for code in question["label"]}
        if not texts or any(len(text) > 1000 for text in joined.values()):
            warnings.append(f"{_where(note)}: the note {note['name']!r} is skipped: it has no text in Arabic, "
                            "Kurdish or English, or is too long to show with the question after it")
            continue
        question["hint"] = {code: text for code, text in joined.items() if text}


def _row_named(workbook: DefinitionData, name: str) -> int | None:
    # The spreadsheet row of the survey row called `name` (for what pyxform gives without its row).
    return next((index + 2 for index, row in enumerate(workbook.survey or []) if row and row.get("name") == name),
                None)


def _question(element: dict[str, Any], around: tuple[str, ...], workbook: DefinitionData,
              dropped: dict[str, None]) -> tuple[dict, list[int]]:
    """One question of the definition, and the rows of its choices."""
    where = _where(element)
    parameters = dict(element.get("parameters") or {})
    randomize = str(parameters.pop("randomize", "false")).strip().lower()
    if parameters:
        name = sorted(parameters)[0]
        raise Invalid(f"{where}: parameters {name}={parameters[name]} is not supported: "
                      + ("a poll draws each link's order of the choices from the link itself, so that a reload keeps "
                         "it (remove seed and keep randomize=true)" if name == "seed"
                         else "only randomize is (remove the parameter)"))
    if randomize not in ("true", "false", "yes", "no"):
        raise Invalid(f"{where}: parameters randomize={randomize} is true or false")
    kind = _kind(element, where, workbook)
    bind = element.get("bind", {})
    label = _texts(element.get("label"), where, dropped)
    if not label:
        raise Invalid(f"{where}: the question has no label in Arabic, Kurdish or English (columns such as "
                      "label::English (en))")
    question: dict[str, Any] = {"name": element["name"], "type": kind, "label": label,
                                "required": _required(bind.get("required"), where), **_poll_columns(element, where)}
    if randomize in ("true", "yes"):
        question["randomize"] = True
    if element.get("hint"):
        question["hint"] = _texts(element["hint"], where, dropped)
        if not question["hint"]:
            del question["hint"]
    asked_when = list(around)
    if bind.get("relevant"):
        asked_when.append(_condition(bind["relevant"], where))
    if len(asked_when) == 1:
        question["relevant"] = asked_when[0]
    elif asked_when:
        question["relevant"] = " and ".join(f"({part})" for part in asked_when)
    if kind == "integer":
        question["min"], question["max"] = _range(bind.get("constraint"), where)
    elif "constraint" in bind:
        raise Invalid(f"{where}: a constraint is only read on an integer question, as a range such as {RANGE_EXAMPLE}")
    if kind == "select_one" and element.get("list_name") == GOVERNORATE_LIST:
        _check_governorates(element["choices"], where)
        question["type"] = "governorate"
    elif kind in CHOICE_TYPES:
        question["choices"] = [{"code": choice["name"], "label": _choice_label(choice, dropped)}
                               for choice in element["choices"]]
        return question, [_row(choice) for choice in element["choices"]]
    return question, []


def _choice_label(choice: dict[str, Any], dropped: dict[str, None]) -> dict[str, str]:
    # A choice's label; the "other" that or_other adds (no row of its own, "Other" in every language) in the poll's.
    if _row(choice) is None and choice["name"] == "other":
        return dict(OTHER_LABELS)
    where = _where(choice, "choices")
    label = _texts(choice.get("label"), where, dropped)
    if not label:
        raise Invalid(f"{where}: the choice {choice['name']!r} has no label in Arabic, Kurdish or English (an image "
                      "alone cannot be read out by SMS)")
    return label


def _kind(element: dict[str, Any], where: str, workbook: DefinitionData) -> str:
    """The question's type in the poll's words; refused if a poll cannot ask it as the form means it."""
    kind = TYPES.get(element["type"])
    if kind is None or (kind in CHOICE_TYPES and "choices" not in element):  # no choices: select_one_from_file
        written = workbook.survey[_row(element) - 2].get("type", element["type"])
        raise Invalid(f'{where}: type "{written}" is not supported (use select_one, select_multiple, integer or text)')
    refused = _refused_column(element)
    if refused is not None:
        raise Invalid(f"{where}: the column {refused} is not supported (a poll shows every choice, computes nothing)")
    return kind


def _poll_columns(element: dict[str, Any], where: str) -> dict[str, str]:
    """A survey row's poll::role and poll::maps_to; any other poll:: column is refused rather than ignored."""
    columns = {key: value for key, value in element["poll"].items() if key != "row"}
    unknown = sorted(set(columns) - {"role", "maps_to"})
    if unknown:
        raise Invalid(f"{where}: column poll::{unknown[0]} is not known (use poll::role or poll::maps_to)")
    return columns


def _refused_column(element: dict[str, Any]) -> str | None:
    """The first column given that filters choices, pre-fills or computes an answer: a poll cannot honour those."""
    bind = element.get("bind", {})
    given = {"choice_filter": element.get("choice_filter"), "default": element.get("default"),
             "trigger": element.get("trigger"), "calculation": bind.get("calculate"), "read_only": bind.get("readonly")}
    return next((column for column, value in given.items() if value), None)


def _row(element: dict[str, Any]) -> int | None:
    row = element.get("poll", {}).get("row")
    return None if row is None else int(row)


def _where(element: dict[str, Any], sheet: str = "survey") -> str:
    return f"{sheet} sheet, row {_row(element)}"


def _texts(value: str | dict[str, str] | None, where: str, dropped: dict[str, None]) -> dict[str, str]:
    """A label or hint per poll language, from pyxform's text (one language) or dict (by language name); the names
    of other languages, left out, are added to `dropped`."""
    if value is None:
        return {}
    by_name = value if isinstance(value, dict) else {"default": value}
    texts = {}
    for name, text in by_name.items():
        code = PLAIN_LANGUAGE if name == "default" else _language_code(name)
        if code is None:
            dropped[name] = None
            continue
        if not isinstance(text, str) or not text.strip():
            continue
        if code in texts:
            raise Invalid(f"{where}: two texts in the language {code!r} (a plain column counts as "
                          "default_language, else English)")
        texts[code] = text
    return texts


def _language_code(name: str) -> str | None:
    """"ar", "ku" or "en" for an XLSForm language such as "Arabic (ar)", "Sorani (ckb)" or "en"; None if not ours."""
    found = _LANGUAGE_IN_PARENTHESES.search(name)
    if found is not None:
        code = found[1].lower().replace("_", "-").split("-")[0]
        return _LANGUAGE_CODES.get(code) or _LANGUAGE_CODES.get(name[:found.start()].strip().lower())
    written = name.strip().lower()
    return _LANGUAGE_CODES.get(written) or _LANGUAGE_CODES.get(written.replace("_", "-").split("-")[0])


def _required(value: str | None, where: str) -> bool:
    if value is None:
        return False
    if value not in _YES_NO:
        raise Invalid(f"{where}: required is yes or no, not {value!r}")
    return _YES_NO[value]


def _condition(expression: str, where: str) -> str:
    """`expression`, an XLSForm relevant, written in the poll's condition language (see `conditions`)."""
    pieces, position = [], 0
    while expression[position:].strip():
        found = _XPATH.match(expression, position)
        if found is None:
            culprit = re.match(r"\s*([\w.:-]+\(?|\S)", expression[position:])[1]
            raise Invalid(f"{where}: relevant {expression!r}: {culprit!r} is not supported "
                          "(use ${name}, =, !=, <, <=, >, >=, selected(), count-selected(), not(), and, or)")
        if found["multiple"] is not None:
            pieces.append(f"{found['code']} in {found['multiple']}")
        elif found["counted"] is not None:
            pieces.append(f"{conditions.COUNT}({found['counted']})")
        elif found["operator"] == "=":
            pieces.append("==")
        else:
            pieces.append(found[found.lastgroup])
        position = found.end()
    text = ""  # spaced as conditions are written: "not (a == '1')"
    for piece in pieces:
        text += piece if not text or text.endswith("(") or piece == ")" else f" {piece}"
    try:
        conditions.parse(text)
    except conditions.ConditionError as exc:
        raise Invalid(f"{where}: relevant {expression!r} cannot be read: {exc}") from None
    return text


def _range(constraint: str | None, where: str) -> tuple[int, int]:
    """(min, max) of an integer's constraint: bounds such as `. >= -20 and . <= 55` or `. <= 150`, joined by `and`.

    A side left open is the widest a poll stores; `. > 2.5` is `. >= 3` for a whole number.
    """
    low, high = questionnaire.INTEGER_RANGE
    if constraint is None or not constraint.strip():
        return low, high
    parts = re.split(r"\s+and\s+", constraint.strip())
    found = [_BOUND.fullmatch(part.strip()) for part in parts]
    if not all(found) or len(found) > 2:
        raise Invalid(f"{where}: constraint {constraint!r} is not a range; an integer question takes one such as "
                      f"{RANGE_EXAMPLE}, or . <= 150")
    minimum, maximum = low, high
    for bound in found:
        if len(bound[2].lstrip("-").split(".")[0]) > len(str(high)):
            # Python refuses to read a number of thousands of digits; it is out of range anyway.
            raise Invalid(f"{where}: min and max are whole numbers from {low} to {high}")
        number = float(bound[2])
        if not low <= number <= high:
            raise Invalid(f"{where}: min and max are whole numbers from {low} to {high}")
        if bound[1] in (">=", ">"):
            minimum = max(minimum, math.floor(number) + 1 if bound[1] == ">" else math.ceil(number))
        else:
            maximum = min(maximum, math.ceil(number) - 1 if bound[1] == "<" else math.floor(number))
    return minimum, maximum


def _check_governorates(choices: list[dict[str, Any]], where: str) -> None:
    """A governorate list must hold Iraq's 18 codes, so that what ODK would record is what the poll records."""
    codes = {choice["name"] for choice in choices}
    expected = {governorate.code for governorate in iraq.governorates()}
    odd = sorted(codes ^ expected)
    if odd:
        raise Invalid(f"{where}: a select_one from the list \"{GOVERNORATE_LIST}\" is the poll's governorate question; "
                      f"its names are the 18 codes {', '.join(sorted(expected))}, and {odd[0]!r} is "
                      + ("not one of them" if odd[0] in codes else "missing"))


def _located(message: str, questions: list[dict[str, Any]], places: list[tuple[int, list[int]]]) -> str:
    """The questionnaire's refusal `message`, prefixed with the sheet and row of the question (or choice) it names."""
    found = _QUESTION_PLACE.match(message)
    if found is None:
        return f"survey sheet: {message}"
    if found[3] is not None:
        index = next(i for i, question in enumerate(questions) if question["name"] == found[3])
    else:
        index = int(found[1]) - 1
    row, choice_rows = places[index]
    if found[2] is not None and int(found[2]) <= len(choice_rows):
        return f"choices sheet, row {choice_rows[int(found[2]) - 1]}: {message}"
    return f"survey sheet, row {row}: {message}"
