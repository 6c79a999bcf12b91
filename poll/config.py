"""Defaults for every setting; the environment overrides them with the POLL_ prefix.

`create_app` applies these, then `app.config.from_prefixed_env("POLL")` (so
`POLL_DATABASE_URL` sets `DATABASE_URL`), then a test mapping if one is given.
"""

DEFAULTS: dict[str, object] = {
    # None means: a SQLite file under the instance folder (see poll.db).
    "DATABASE_URL": None,
    # None means: a random key kept in the instance folder, made on first use.
    "SECRET_KEY": None,
    # Personal links are built from this, never from the request's Host header.
    "BASE_URL": "http://127.0.0.1:5000",
    "SMS_GATEWAY": "simulated",
    "KANNEL_SENDSMS_URL": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "KANNEL_USERNAME": "",
    "KANNEL_PASSWORD": "",
    "SMS_SECRET": "",
    # Respondent pages: Arabic unless the link, the recipient or the browser says otherwise.
    "DEFAULT_LANGUAGE": "ar",
    # Dates on pages are shown in Iraqi time.
    "BABEL_DEFAULT_TIMEZONE": "Asia/Baghdad",
    # An answer is a few hundred bytes; anything far larger is refused with 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Rows per statement in bulk inserts (links, audiences, simulated answers).
    "BULK_BATCH_SIZE": 20_000,
}
