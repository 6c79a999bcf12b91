"""The bare-stack floor for the answer benchmark: Flask and sqlite3, one insert per answer, nothing else.

GET /p/<token> looks the link up and returns a tiny form; POST inserts the
answer with ON CONFLICT DO NOTHING. Same database file and pragmas as ours.
"""

import os
import sqlite3

from flask import Flask, g, request

app = Flask(__name__)
DATABASE = os.environ["FLOOR_DATABASE"]


def connection() -> sqlite3.Connection:
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
    row = db.execute("SELECT id FROM invitations WHERE token = ?", (token,)).fetchone()
    if row is None:
        return "unknown", 404
    if request.method == "GET":
        return '<form method="post"><input type="radio" name="option" value="1"><button>Send</button></form>'
    cursor = db.execute(
        "INSERT INTO floor_answers (invitation_id, option) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (row[0], request.form.get("option", "")),
    )
    return ("recorded", 201) if cursor.rowcount else ("already", 409)
