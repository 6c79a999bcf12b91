"""Defaults for every setting; the environment overrides them with the POLL_ prefix.

`create_app` applies these, then `app.config.from_prefixed_env("POLL")` (so
`POLL_DATABASE_URL` sets `DATABASE_URL`), then a test mapping if one is given.
"""

from pathlib import Path

DEFAULTS: dict[str, object] = {
    # None means: a SQLite file under the instance folder (see poll.db).
    "DATABASE_URL": None,
    # None means: a random key kept in the instance folder, made on first use.
    "SECRET_KEY": None,
    # Personal links are built from this, never from the request's Host header. None means: the address
    # `poll init --base-url` kept in the instance folder (file base_url), else http://127.0.0.1:5000.
    "BASE_URL": None,
    "SMS_GATEWAY": "simulated",
    # The sender ID of a poll's messages when the poll names none (alphanumeric up to 11, or a number).
    "SMS_SENDER": "POLL",
    # Whom the methodology statement names for questions about a poll (POLL_CONTACT): an address or a page.
    "CONTACT": "",
    # How long an SMS conversation (the questions after the headline) waits for the next reply.
    "SMS_SESSION_HOURS": 24,
    "KANNEL_SENDSMS_URL": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "KANNEL_USERNAME": "",
    "KANNEL_PASSWORD": "",
    "SMS_SECRET": "",
    # Price of one SMS segment, for cost estimates, and its currency.
    "SMS_PRICE_PER_SEGMENT": 0.01,
    "SMS_CURRENCY": "USD",
    # Through a real gateway (kannel), links to a loopback or plain-http address are refused; true permits them,
    # for a rehearsal against a local SMSC simulator (fakesmsc) only.
    "SMS_ALLOW_LOCAL_LINKS": False,
    # Refuse to queue a message longer than this many segments. The article's poll takes 4 in Arabic and 5 in
    # Kurdish and English once it says how to answer by SMS ({options}).
    "SMS_MAX_SEGMENTS": 5,
    # Dispatcher: messages per second and per claim; how long a claim lasts
    # before another dispatcher may take it over (renewed while it sends);
    # how long a message may wait (a gateway outage) before it fails; the
    # longest pause between tries while the gateway is down.
    "SMS_RATE": 50.0,
    "SMS_BATCH": 100,
    "SMS_LEASE_SECONDS": 30,
    "SMS_GIVE_UP_HOURS": 24,
    "SMS_MAX_PAUSE_SECONDS": 60,
    # SMS routes by number prefix, each Kannel smsc-id with its cap in segments a second for all its binds, e.g.
    # "zain:78,79=240; asiacell:77=240; korek:75=120; other:*=50" (sms.routes). Empty: one route, SMS_RATE.
    "SMS_ROUTES": "",
    # With routes: at most this many of a route's messages handed to Kannel and not yet acknowledged by its SMSC.
    "SMS_WINDOW": 100,
    # Days after a poll closes when its recipients' numbers, links, outbox texts and conversation keys are
    # destroyed, by the dispatcher (a poll's own retention_days wins); None: only `poll polls purge` does it.
    "RETENTION_DAYS": 30,
    # Reminders to those who have not answered, at most this many per link.
    "SMS_MAX_REMINDERS": 1,
    # Respondent pages: Arabic unless the link, the recipient or the browser says otherwise.
    "DEFAULT_LANGUAGE": "ar",
    # Dates on pages are shown in Iraqi time.
    "BABEL_DEFAULT_TIMEZONE": "Asia/Baghdad",
    # An answer is a few hundred bytes; anything far larger is refused with 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    # None means: Secure exactly when BASE_URL is https.
    "SESSION_COOKIE_SECURE": None,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Rate limits. In-process memory suits one process; with several gunicorn
    # workers or machines use a shared store, e.g. POLL_RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0.
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": True,
    # Look-ups of links that do not exist, per client address: what token guessing
    # looks like. A real link is never refused by it: many phones share an address.
    "RATE_LIMIT_UNKNOWN_LINKS": "30 per minute",
    # Posts to one personal link, from anywhere: a person sends a form once or twice.
    "RATE_LIMIT_LINK_POSTS": "10 per minute",
    # Failed logins: per client address; per account and address; per account from
    # anywhere, which a browser that logged in to that account before is exempt
    # from (so an attacker cannot lock the owner out of their usual browser).
    "RATE_LIMIT_LOGIN_CLIENT": "30 per 5 minutes",
    "RATE_LIMIT_LOGIN_ACCOUNT": "10 per 15 minutes",
    "RATE_LIMIT_LOGIN_ACCOUNT_ANYWHERE": "100 per hour",
    # Operator browser sessions end after this long unused, and this long after login at most.
    "SESSION_IDLE_MINUTES": 30,
    "SESSION_MAX_HOURS": 12,
    # How many proxies in front of the app set X-Forwarded-For (0: trust none).
    "PROXY_COUNT": 0,
    # Public results are snapshots refreshed at most this often (and only when no answer can be isolated).
    "PUBLIC_REFRESH_MINUTES": 15,
    # Rows per statement in bulk inserts (links, audiences, simulated answers).
    "BULK_BATCH_SIZE": 20_000,
    # Background jobs (poll.runners.jobs): huey's queue in a SQLite file (None: jobs.sqlite3 in the instance folder),
    # or in Redis when REDIS_URL is set (redis://host:6379/0), for `poll worker` processes on several machines.
    # JOBS_IMMEDIATE runs each job in the request that starts it (tests).
    "JOBS_FILE": None,
    "REDIS_URL": "",
    "JOBS_IMMEDIATE": False,
    # Consumer threads `poll serve` starts beside itself (0: none; run `poll worker` instead).
    "JOBS_SERVE_WORKERS": 1,
    # A running job whose consumer gave no sign of life for this long is taken for lost with its server: it is
    # marked failed and what it wrote is cleared (when a consumer starts, and when the jobs pages are read).
    "JOBS_STALE_MINUTES": 10,
    # The largest file the workspace takes (an XLSForm, an audience CSV); larger audiences go by `poll audience import`.
    "UPLOAD_MAX_BYTES": 64 * 1024 * 1024,
}


# Where links point when no address is configured: this machine, as `poll serve` and scripts/run serve it.
LOCAL_BASE_URL = "http://127.0.0.1:5000"


def instance_base_url(instance: Path) -> str | None:
    """The public address kept with this installation (`poll init --base-url`), or None.

    Kept in the instance folder, as the secret key is, so every terminal and
    service of one installation builds the same links; POLL_BASE_URL wins.
    """
    path = instance / "base_url"
    return path.read_text().strip() or None if path.exists() else None


def store_base_url(instance: Path, url: str) -> None:
    """Keep `url` as this installation's public address (see `instance_base_url`)."""
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "base_url").write_text(url.rstrip("/") + "\n")
