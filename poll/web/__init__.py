"""The web layer: blueprints, error pages and the headers every response carries."""

from urllib.parse import urlencode

from flask import Flask, Response, current_app, request

from poll.i18n import current_language, pick, when
from poll.web import (
    admin,
    api,
    assets,
    auth,
    dashboard,
    errors,
    health,
    home,
    jobs,
    respond,
    results,
    sms,
    throttle,
    words,
    workspace,
)


def init_app(app: Flask) -> None:
    """Register the blueprints and the response hooks."""
    errors.init_app(app)
    app.request_class = workspace.Request
    for blueprint in (home, respond, results, dashboard, auth, admin, api, sms, health, jobs, workspace):
        app.register_blueprint(blueprint.bp)
    app.after_request(_security_headers)
    throttle.init_app(app)
    assets.init_app(app)
    app.jinja_env.globals.update(word=words.word, words=words, way=words.way, language_url=language_url)
    app.jinja_env.filters["visible"] = words.visible
    # A text given per language ({"ar": ..., "en": ...}) in the reader's language.
    app.jinja_env.filters["in_language"] = lambda texts: pick(texts, current_language())
    # A date and time as the reader's language writes it, in Iraq's time zone, to the minute.
    app.jinja_env.filters["when"] = lambda moment, with_time=True: when(moment, current_language(),
                                                                        with_time=with_time)


def language_url(code: str) -> str:
    """This page in language `code`: a query-only link, so the path is never echoed into the page.

    Echoing request.path would let `/%5Cevil.example/x` become `href="/\\evil.example/x"`,
    which browsers resolve to another site.
    """
    args = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    return "?" + urlencode([*args, ("lang", code)])


def _security_headers(response: Response) -> Response:
    # No inline script or style anywhere, so the policy can stay this strict.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages hold links, phone numbers or live figures: no cache keeps them
    # unless a view says otherwise (static files and public snapshots do).
    response.headers.setdefault("Cache-Control", "no-store")
    if response.cache_control.public and request.cookies:
        # A browser with cookies (an operator's session) may get them refreshed with the page: a shared
        # cache must not keep that page, nor hand its Set-Cookie to anyone else.
        response.cache_control.public = False
        response.cache_control.private = True
    if current_app.config["BASE_URL"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
