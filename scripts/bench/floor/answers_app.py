"""The bare-stack floor for the answer benchmark: Flask and one database driver, doing the same job as ours.

The best a bare stack does for the same job, on the same server and workers:
- one connection per worker process, kept (SQLite with the pragmas ours uses,
  or psycopg in autocommit);
- GET /p/<token> looks the link up and serves the same questions as ours, in
  the poll's default language, as a static form built once per process from
  the poll's own definition (FLOOR_QUESTIONS, a JSON file);
- POST looks the link up and inserts the whole form's values as one row
  (ON CONFLICT DO NOTHING: one answer per link).
FLOOR_DATABASE is a SQLite file or a postgresql:// URL.
"""

import html
import json
import os
import sqlite3

import psycopg
from flask import Flask, request

app = Flask(__name__)
DATABASE = os.environ["FLOOR_DATABASE"]
POSTGRES = DATABASE.startswith("postgresql")
MARK = "%s" if POSTGRES else "?"
_connection = None


def connection():
    global _connection
    if _connection is None:
        if POSTGRES:
            _connection = psycopg.connect(DATABASE, autocommit=True)
        else:
            _connection = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
                _connection.execute(f"PRAGMA {pragma}")
    return _connection


def _static_form() -> str:
    # Every question of the poll with its choices, in its default language, as ours first shows them; the
    # benchmark writes the poll's definition to FLOOR_QUESTIONS.
    with open(os.environ["FLOOR_QUESTIONS"], encoding="utf-8") as file:
        definition = json.load(file)
    language, questions = definition.get("default_language", "ar"), definition["questions"]
    parts = [f'<!doctype html><html lang="{language}"><meta charset="utf-8"><form method="post">']
    for position, question in enumerate(questions):
        name = "option" if position == 0 else question["name"]
        label = question["label"].get(language) or next(iter(question["label"].values()))
        parts.append(f"<fieldset><legend>{html.escape(label)}</legend>")
        for choice in question.get("choices") or ():
            text = choice["label"].get(language) or next(iter(choice["label"].values()))
            kind = "checkbox" if question["type"] == "select_multiple" else "radio"
            parts.append(f'<label><input type="{kind}" name="{name}" value="{html.escape(choice["code"])}"> '
                         f"{html.escape(text)}</label>")
        if not question.get("choices"):
            parts.append(f'<input name="{name}" inputmode="numeric">')
        parts.append("</fieldset>")
    parts.append("<button>Send</button></form></html>")
    return "".join(parts)


FORM = None


@app.route("/healthz")
def healthz():
    # What the benchmark waits for before it starts counting, as it does for ours.
    return "ok"


@app.route("/p/<token>", methods=["GET", "POST"])
def answer(token):
    global FORM
    db = connection()
    row = db.execute(f"SELECT id FROM links WHERE token = {MARK}", (token,)).fetchone()
    if row is None:
        return "unknown", 404
    if request.method == "GET":
        if FORM is None:
            FORM = _static_form()
        return FORM
    form = request.form
    cursor = db.execute(
        "INSERT INTO floor_answers (link_id, option, sex, age, governorate, employment, education) "
        f"VALUES ({', '.join([MARK] * 7)}) ON CONFLICT DO NOTHING",
        (row[0], form.get("option", ""), form.get("sex"), int(form.get("age", 0)), form.get("governorate"),
         form.get("employment"), form.get("education")),
    )
    return ("recorded", 201) if cursor.rowcount else ("already", 409)
