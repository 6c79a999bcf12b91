"""The bare-stack floor for the answer benchmark: Flask and one database driver, one insert per answer.

GET /p/<token> looks the link up and returns a tiny form; POST inserts the
answers to the article's whole form as one row with ON CONFLICT DO NOTHING. FLOOR_DATABASE is a SQLite file (sqlite3,
a connection per request, the pragmas ours uses) or a postgresql:// URL
(psycopg, one connection per worker process, autocommit).
"""

import os
import sqlite3

import psycopg
from flask import Flask, g, request

app = Flask(__name__)
DATABASE = os.environ["FLOOR_DATABASE"]
POSTGRES = DATABASE.startswith("postgresql")
MARK = "%s" if POSTGRES else "?"
_postgres_connection = None


def connection():
    global _postgres_connection
    if POSTGRES:
        if _postgres_connection is None:
            _postgres_connection = psycopg.connect(DATABASE, autocommit=True)
        return _postgres_connection
    if "db" not in g:
        g.db = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
        g.db.execute("PRAGMA busy_timeout=30000")
        g.db.execute("PRAGMA synchronous=NORMAL")
    return g.db


@app.teardown_appcontext
def close(_exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()


@app.route("/p/<token>", methods=["GET", "POST"])
def answer(token):
    db = connection()
    row = db.execute(f"SELECT id FROM links WHERE token = {MARK}", (token,)).fetchone()
    if row is None:
        return "unknown", 404
    if request.method == "GET":
        return '<form method="post"><input type="radio" name="option" value="1"><button>Send</button></form>'
    form = request.form
    cursor = db.execute(
        "INSERT INTO floor_answers (link_id, option, sex, age, governorate, employment, education) "
        f"VALUES ({', '.join([MARK] * 7)}) ON CONFLICT DO NOTHING",
        (row[0], form.get("option", ""), form.get("sex"), int(form.get("age", 0)), form.get("governorate"),
         form.get("employment"), form.get("education")),
    )
    return ("recorded", 201) if cursor.rowcount else ("already", 409)
