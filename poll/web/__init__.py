"""The web layer: blueprints, error pages and the headers every response carries."""

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from jinja2 import Undefined

from poll.i18n import current_language, pick, when
from poll.stats.proportions import shown_percentages
from poll.web import (
    admin,
    api,
    assets,
    auth,
    dashboard,
    errors,
    headers,
    health,
    home,
    jobs,
    lane,
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
    app.after_request(headers.security_headers)
    app.session_interface = _CookieSessions()
    throttle.init_app(app)
    assets.init_app(app)
    app.jinja_env.globals.update(word=words.word, words=words, way=words.way, language_url=language_url)
    app.jinja_env.filters["visible"] = words.visible
    app.jinja_env.filters["percents"] = percents
    app.jinja_env.filters["shares_of_total"] = shares_of_total
    # A text given per language ({"ar": ..., "en": ...}) in the reader's language.
    app.jinja_env.filters["in_language"] = lambda texts: pick(texts, current_language())
    # A date and time as the reader's language writes it, in Iraq's time zone, to the minute.
    app.jinja_env.filters["when"] = lambda moment, with_time=True: when(moment, current_language(),
                                                                        with_time=with_time)
    # A phone's plain look at its link and its whole answer, served ahead of Flask's request machinery.
    app.wsgi_app = lane.AnswerLane(app, app.wsgi_app)


def percents(shares: Iterable[float | None] | Mapping[str, float | None],
             decimals: int = 1) -> list[float | None] | dict[str, float | None]:
    """The shares of one set in percent as shown (to 0.1 point unless told), rounded together to sum to 100.

    A mapping (code to share) gives a mapping back, so a template can pick its figures by code.
    """
    if isinstance(shares, Mapping):
        return dict(zip(shares, shown_percentages(list(shares.values()), decimals), strict=True))
    return shown_percentages([None if isinstance(share, Undefined) else share for share in shares], decimals)


def shares_of_total(counts: Mapping[str, int]) -> dict[str, float]:
    """Counts by code as shares of their total (none when the total is 0)."""
    total = sum(counts.values())
    return {code: count / total for code, count in counts.items()} if total else {}


def language_url(code: str) -> str:
    """This page in language `code`: a query-only link, so the path is never echoed into the page.

    Echoing request.path would let `/%5Cevil.example/x` become `href="/\\evil.example/x"`,
    which browsers resolve to another site.
    """
    args = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    return "?" + urlencode([*args, ("lang", code)])


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for a request that brings no cookie.

    Building it (its key derivation set up, its serializer) was a tenth of the
    answer page's hooks, for the respondents' requests, which never bring one.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
