"""The respondent's pages: a personal link shows the poll and takes one answer.

The link token is the capability to answer: it is 128 random bits, known only
to the recipient, and it is in the URL the form posts to. A forged cross-site
POST would need that token, which a third party does not have, so the answer
form carries no CSRF token and works without cookies (many phones' browsers
in SMS apps do not keep them). Every other form of the app is CSRF-protected.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy.orm as so
from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from markupsafe import Markup

from poll import questionnaire
from poll.db import begin_write, get_connection, get_session
from poll.db.direct import Driver
from poll.extensions import csrf, limiter
from poll.i18n import Language, choose_language, current_language, pick
from poll.models import utcnow
from poll.services.access import audit
from poll.services.answering import answers, refusals
from poll.vocabulary import Channel, Outcome
from poll.web import echo, previewers, throttle
from poll.web.questions import shown_questions

bp = Blueprint("respond", __name__, url_prefix="/p")

# Each outcome's page and HTTP status.
PAGES = {
    Outcome.RECORDED: ("respond/recorded.html", 201),
    Outcome.ALREADY_ANSWERED: ("respond/already.html", 409),
    Outcome.NOT_OPEN: ("respond/not_open.html", 403),
    Outcome.CLOSED: ("respond/closed.html", 410),
    Outcome.INVALID_OPTION: ("respond/form.html", 400),
}


# Set on a post that the answer lane (poll.web.lane) counted against its link's limit and handed on.
COUNTED = "poll.answer.counted"
# The URL is a secret: never send it on as a Referer, never cache the page.
PRIVATE_HEADERS = (("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"))


@bp.after_request
def _private(response):
    for name, value in PRIVATE_HEADERS:
        response.headers[name] = value
    return response


@bp.route("/<token>", methods=["GET", "POST"])
@csrf.exempt
@limiter.exempt
def answer(token: str):
    """Show the poll (GET, which records no answer, only the day a person first opened the link) or record
    the answer (POST).

    Limits: a client address may look up only so many tokens that do not exist
    (POLL_RATE_LIMIT_UNKNOWN_LINKS), since that is what guessing looks like;
    a real link is never refused by that limit, because Iraqi carriers put many
    phones behind one address. A link may take only so many posts
    (POLL_RATE_LIMIT_LINK_POSTS), whoever sends them.
    """
    posting = request.method == "POST"
    db = _connection()
    now = utcnow()
    if posting:
        link = answers.find_link(db, token)
    else:  # a person's look at the link is its first open (recorded with the look where the backend can)
        link = answers.look(db, token, now, a_persons_look=request.method == "GET" and g.operator is None
                            and not previewers.is_link_preview(request))
    if link is None:
        choose_language(request.values.get("lang"))
        allowed = throttle.allow("RATE_LIMIT_UNKNOWN_LINKS", "unknown-link", throttle.client_address())
        if request.method != "HEAD":  # HEAD records nothing, ever
            _refuse(None, Outcome.UNKNOWN_LINK if allowed else Outcome.RATE_LIMITED, now)
        abort(404 if allowed else 429)
    choose_language(request.values.get("lang"), link.language, link.ballot.default_language)
    if not posting:  # GET or HEAD: show, never record an answer
        # An anonymous poll's used link shows the same form as an unused one (answers.shown_refusal);
        # a poll that is not anonymous says the answer is in, which is not an error either.
        refusal = answers.shown_refusal(link, now)
        if g.operator is not None and request.method == "GET":
            # An operator opening a personal link holds what answers in someone's name (and, in a poll that
            # is not anonymous, learns whether it was answered): that is on record too.
            session = _session()
            audit.record(session, "link-opened-by-operator", f"link {link.link_id}", by=g.operator)
            session.commit()
        sent = echo.open_(token, request.args.get("sent"), now=now)
        if sent is not None:  # the redirect after this browser's own answer: say it is in, and echo it
            return _page(link, Outcome.RECORDED, status=200, chosen_code=sent or None)
        return _page(link, refusal, status=200 if refusal in (None, Outcome.ALREADY_ANSWERED) else None)
    # A post the answer lane counted already and handed on (another request had answered the link) is not
    # counted twice.
    counted = request.environ.get(COUNTED)
    if not counted and not throttle.allow("RATE_LIMIT_LINK_POSTS", "link-posts", link.link_id):
        _refuse(link.poll_id, Outcome.RATE_LIMITED, now)
        abort(429)
    # Every question in one post: the headline as `option`, the others by name (two values
    # for a single choice are not an answer); questions whose condition fails are ignored.
    submission = link.ballot.read(link.variant, request.form.to_dict(flat=False))
    if submission.is_complete:
        headline = submission.values.get(link.ballot.headline.name)
        # On the request's own connection the answer's writes are one transaction, committed here.
        outcome = answers.record_answer(db, link, headline, channel=Channel.WEB, now=now, values=submission.values)
    else:
        # A form that is not whole is refused the same whether the link was used or not: a bad post
        # must not tell an anonymous poll's used links from its unused ones.
        outcome = answers.poll_refusal(link, now) or Outcome.INVALID_OPTION
    if outcome is not Outcome.RECORDED or g.operator is not None:
        session = _session()
        if outcome is not Outcome.RECORDED:
            refusals.record(session, link.poll_id, outcome, channel=Channel.WEB, at=now)
        if g.operator is not None:
            # Someone logged in as an operator used a personal link: an admin trying the form, or
            # someone answering in a respondent's place. Either way it is on record, with the answer.
            audit.record(session, "link-used-by-operator", f"link {link.link_id}", by=g.operator)
        session.commit()
    if outcome is Outcome.RECORDED and _navigating():
        # POST → redirect → GET: Back and Reload then never offer to send the form again.
        code = submission.values.get(link.ballot.headline.name)
        return redirect(url_for("respond.answer", token=token, lang=current_language().code,
                                sent=echo.seal(token, str(code or ""), now=now)), 303)
    return _page(link, outcome, submission=submission)


def _connection() -> Driver:
    """Where this request reads the link and writes the answer.

    A respondent's request takes no session: its connection of its own, each
    statement (or the answer's writes, together) committing by itself. An
    operator's goes through the session, so that what the operator did is on
    record in the same transaction as the doing.
    """
    if g.operator is not None:
        return Driver.of(_session())
    return get_connection()


def _session() -> so.Session:
    """The request's session in one writing transaction: a refusal and its counter, an operator's record."""
    session = get_session()
    if not session.in_transaction():
        begin_write(session)
    return session


def _navigating() -> bool:
    """Whether a browser sent the form (it asks for HTML by name); scripts and load tests get the page at once,
    with its 201, in one round trip."""
    return any(value == "text/html" for value, _quality in request.accept_mimetypes)


def _refuse(poll_id: int | None, kind: Outcome, at: datetime) -> None:
    # A refusal and its counter belong together: one transaction.
    session = _session()
    refusals.record(session, poll_id, kind, channel=Channel.WEB, at=at)
    session.commit()


def _page(link: answers.LinkState, outcome: Outcome | None, status: int | None = None,
          submission: questionnaire.Submission | None = None, chosen_code: str | None = None):
    template, default_status = PAGES.get(outcome, ("respond/form.html", 200))
    status = status or default_status
    refused = outcome is Outcome.INVALID_OPTION and submission is not None
    # A page whose choices come in each link's own order (randomize) is the link's alone: never kept.
    if template in _KEPT and not refused and request.args.keys() <= {"lang"} and not any(
            question.randomize for question in link.ballot.questions):
        return _kept_page(link, outcome, template, submission, chosen_code), status
    return _render(link, outcome, template, submission, refused, chosen_code), status


# The pages that most requests get, the same for every link of a poll but for the token in the form's
# address: a fresh form and the thanks for an answer. Each is rendered once per process and kept with the
# poll's ballot, by language, variant, page, answer shown back and poll status, cut where the token goes.
_KEPT = {"respond/form.html", "respond/recorded.html"}
_TOKEN_MARK = "TOKEN-MARK-7d1c0e"


def _kept_page(link: answers.LinkState, outcome: Outcome | None, template: str,
               submission: questionnaire.Submission | None, chosen_code: str | None = None) -> str:
    chosen = None
    if outcome is Outcome.RECORDED:
        chosen = submission.values.get(link.ballot.headline.name) if submission else chosen_code
    page = kept_page(link, current_language(), template, chosen)
    if page is None:
        marked = dataclasses.replace(link, token=_TOKEN_MARK)
        parts = _render(marked, outcome, template, submission, chosen_code=chosen).split(_TOKEN_MARK)
        link.ballot.rendered[_page_key(link, current_language(), template, chosen)] = tuple(parts)
        page = link.token.join(parts)
    return page


def kept_page(link: answers.LinkState, language: Language, template: str, chosen: str | None = None) -> str | None:
    """`template`'s page for `link` in `language` (the thanks showing the headline answer `chosen`), if this
    process has rendered it for the link's poll already; else None."""
    parts = link.ballot.rendered.get(_page_key(link, language, template, chosen))
    return link.token.join(parts) if parts is not None else None


def _page_key(link: answers.LinkState, language: Language, template: str, chosen: str | None) -> tuple:
    return "page", language.code, link.variant, template, chosen, link.status


def _render(link: answers.LinkState, outcome: Outcome | None, template: str,
            submission: questionnaire.Submission | None, refused: bool = False, chosen_code: str | None = None) -> str:
    ballot = link.ballot
    language = current_language()
    errors = submission.errors if refused else {}
    if refused and not errors:  # every answer readable, yet no headline option of this poll
        errors = {ballot.headline.name: questionnaire.NOT_A_CHOICE}
    form_questions = ballot.form_questions(link.variant)
    questions = shown_questions(form_questions, language, request.form.to_dict(flat=False), errors,
                                order_of=link.token) if refused else None
    return render_template(
        template,
        link=link,
        question=pick(ballot.question_text(link.variant), language),
        sender=pick(ballot.sender, language) if ballot.sender else "",
        fields=_fields(link, language, questions) if template == "respond/form.html" else None,
        questions=questions,
        count=len(form_questions),
        branching=any(question.relevant or any("${" in text for text in question.label.values())
                      for question in form_questions),  # the script shows conditions and piped answers
        title=pick(ballot.title, language) if ballot.title else "",
        errors=errors,
        chosen=_chosen(link, submission, language, chosen_code) if outcome is Outcome.RECORDED else None,
        contact=pick(ballot.contact, language) if ballot.contact else "",
    )


def _chosen(link: answers.LinkState, submission: questionnaire.Submission | None, language: Language,
            code: str | None = None) -> str | None:
    # The headline answer just recorded, as the respondent saw it: shown back to them on this page only.
    ballot = link.ballot
    if submission is not None:
        code = submission.values.get(ballot.headline.name)
    label = ballot.option_label(link.variant, code) if code is not None else None
    return pick(label, language) if label is not None else None


def _fields(link: answers.LinkState, language: Language, questions: list | None) -> Markup:
    """The form's questions as HTML: with a refused post's values and errors, or else fresh (a randomized
    question's choices in the link's own order)."""
    if questions is None:
        questions = shown_questions(link.ballot.form_questions(link.variant), language, order_of=link.token)
    return Markup(render_template("respond/_questions.html", questions=questions))
