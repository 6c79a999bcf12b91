"""Kannel's callbacks (incoming SMS and delivery reports) and the simulated handset's inbox.

The callbacks are exempt from CSRF (Kannel posts no form) and instead must
carry the shared secret POLL_SMS_SECRET; without one configured they are off.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from poll import phones
from poll.db import begin_single_statements, begin_write, get_session, then_together
from poll.extensions import csrf
from poll.i18n import LANGUAGES, Language, pick
from poll.models import utcnow
from poll.services.access import audit
from poll.services.messaging import conversations, inbound, outbox, sms_routes
from poll.sms import routes
from poll.vocabulary import Outcome, QuestionType, SmsOutcome
from poll.web.auth import admin_required
from poll.web.params import parse_whole_number
from poll.web.questions import error_text

bp = Blueprint("sms", __name__)
PLAIN = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
MAX_TEXT = 1600


def _authorised() -> bool:
    secret = current_app.config["SMS_SECRET"]
    given = request.args.get("secret", "")
    return bool(secret) and hmac.compare_digest(given.encode(), str(secret).encode())


@bp.get("/sms/kannel/mo")
@csrf.exempt
def kannel_mo():
    """An SMS from a phone, as Kannel's sms-service get-url delivers it; the body is the reply SMS.

    The get-url puts the sender and the text in the query string, where every
    access log would keep them beside each other unless masked (poll.logs
    masks every query value under /sms/); the post-url (`kannel_mo_posted`)
    keeps them out of the URL altogether.
    """
    if not _authorised():
        return "forbidden\n", 403, PLAIN
    return _inbound(request.args.get("from", ""), _query_text(), request.args.get("id", ""), _sent_at())


@bp.post("/sms/kannel/mo")
@csrf.exempt
def kannel_mo_posted():
    """An SMS from a phone, as Kannel's sms-service post-url delivers it: the text as the body, the sender in a header.

    The post-url is `…/sms/kannel/mo?secret=S&id=%I` with `send-sender = true`:
    smsbox passes the sender in X-Kannel-From and the coding in
    X-Kannel-Coding, and the URL carries nothing personal.
    """
    if not _authorised():
        return "forbidden\n", 403, PLAIN
    raw = request.get_data(cache=False)
    text = _decode(raw, request.headers.get("X-Kannel-Coding", ""), request.mimetype_params.get("charset", ""))
    return _inbound(request.headers.get("X-Kannel-From", ""), text, request.args.get("id", ""), _sent_at())


def _sent_at() -> datetime | None:
    """When the phone sent the message, as Kannel says: `ts=%T` (Unix seconds) in the URL, or X-Kannel-Time (UTC).

    None when it does not say or says nonsense (before 2000, or a day ahead of
    this server's clock): the message is then taken as new, as it was before
    gateways said when.
    """
    stamp = request.args.get("ts", "").strip()
    header = request.headers.get("X-Kannel-Time", "").strip()
    try:
        if stamp:
            sent = datetime.fromtimestamp(int(stamp), UTC)
        elif header:
            sent = datetime.strptime(header, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return sent if _EARLIEST <= sent <= utcnow() + timedelta(days=1) else None


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _inbound(sender: str, text: str, gateway_id: str, sent_at: datetime | None = None):
    """Handle one SMS from `sender` however it came, and answer with the reply SMS."""
    # A NUL byte means nothing in an SMS, and PostgreSQL refuses to store one: it is dropped, not a 500.
    sender, text, gateway_id = (value.replace("\x00", "") for value in (sender, text, gateway_id))
    sender, gateway_id = sender.strip(), gateway_id.strip()
    if not sender or not gateway_id or len(gateway_id) > 64 or len(text) > MAX_TEXT or len(sender) > 32:
        return "bad request: from, id and text are required\n", 400, PLAIN
    reply = _answer(sender, text, gateway_id, sent_at)
    _charge_route(sender, reply)
    return _reply_sms(reply)


def _charge_route(sender: str, reply: str) -> None:
    """Count the reply Kannel is about to send in its route's speed budget (POLL_SMS_ROUTES), if routes are set."""
    try:
        configured = routes.parse(str(current_app.config["SMS_ROUTES"] or ""))
        phone = phones.from_gateway(sender)
    except ValueError:
        return  # wrong routes are the dispatcher's to refuse, an odd sender the inbound code's: the reply goes anyway
    if configured:
        session = get_session()
        begin_write(session)
        sms_routes.charge_reply(session, configured, phone, reply, now=time.time())
        session.commit()


def _answer(sender: str, text: str, gateway_id: str, sent_at: datetime | None = None) -> str:
    """Act on one SMS through the inbound service, commit, and return the reply SMS (Kannel's and the handset's)."""
    session = get_session()
    begin_write(session)
    config = current_app.config
    talk = inbound.Conversations(secret=str(config["SECRET_KEY"]), hours=float(config["SMS_SESSION_HOURS"]))
    handled = inbound.handle(session, gateway_id=gateway_id, sender=sender, text=text, now=utcnow(), talk=talk,
                             sent_at=sent_at)
    if handled.outcome == SmsOutcome.DUPLICATE or handled.is_retry:
        session.rollback()
        return handled.stored_reply or _reply(handled)
    reply = _reply(handled)
    if not inbound.remember(session, handled, gateway_id=gateway_id, sender=sender, text=text, reply=reply):
        # Another delivery of the same message won the race and did the work: this one is told what a retry
        # is told (the kept reply, or where the phone stands now), never nothing.
        session.rollback()
        begin_write(session)
        again = inbound.handle(session, gateway_id=gateway_id, sender=sender, text=text, now=utcnow(), talk=talk,
                               sent_at=sent_at)
        session.rollback()
        return again.stored_reply or _reply(again)
    session.commit()
    return reply


def _reply_sms(text: str):
    # The response body goes back to the phone as an SMS. Arabic and Kurdish
    # must go as UCS-2: X-Kannel-Coding tells smsbox (its sms-service needs
    # accept-x-kannel-headers = true).
    headers = dict(PLAIN)
    if not text.isascii():
        headers["X-Kannel-Coding"] = "2"
    return text, 200, headers


def _query_text() -> str:
    """The get-url's text, decoded from the raw query: Kannel's %a passes UCS-2 messages as raw UTF-16 bytes."""
    # Latin-1 maps each byte to one character and back, so the octets survive parsing.
    query = request.query_string.decode("latin-1")
    raw = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, encoding="latin-1")).get("text", "")
    return _decode(raw.encode("latin-1"), request.args.get("coding", ""))


def _decode(raw: bytes, coding: str, charset: str = "") -> str:
    """A message's text from its octets: UTF-16 for UCS-2 (coding 2), else UTF-8.

    With "&coding=%c" in the get-url (or X-Kannel-Coding on a post), coding 2
    says so; without it, NUL bytes in an even-length text give UCS-2 away (no
    UTF-8 text of a reply has them).
    """
    is_ucs2 = coding == "2" or charset.lower().replace("-", "") in ("utf16be", "ucs2")
    if is_ucs2 or (not coding and b"\x00" in raw and len(raw) % 2 == 0):
        try:
            return raw.decode("utf-16-be")
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", "replace")


# The reply SMS to each outcome; %(codes)s lists the poll's answer codes.
REPLIES = {
    Outcome.RECORDED: _l("Thank you. Your answer has been recorded."),
    Outcome.ALREADY_ANSWERED: _l("Your answer is already recorded."),
    Outcome.CLOSED: _l("This poll is closed."),
    Outcome.NOT_OPEN: _l("This poll is not open yet."),
    Outcome.INVALID_OPTION: _l("Please reply with one of: %(codes)s"),
    Outcome.UNKNOWN_LINK: _l("There is no poll for this number to answer."),
    Outcome.RATE_LIMITED: _l("Too many attempts."),
    SmsOutcome.UNREADABLE: _l("Please reply with one of: %(codes)s"),
    SmsOutcome.STOPPED: _l("You will get no more messages from us."),
    SmsOutcome.NO_POLL: _l("There is no poll for this number to answer."),
    SmsOutcome.UNKNOWN_NUMBER: _l("There is no poll for this number to answer."),
    SmsOutcome.DUPLICATE: _l("Your answer is already recorded."),
    SmsOutcome.QUESTION_ANSWERED: "",
    SmsOutcome.QUESTION_UNREADABLE: "",
    SmsOutcome.COMPLETED: _l("Thank you. Your answers have been recorded."),
    SmsOutcome.STEP_ASKED: _l("Please reply with one of: %(codes)s"),
}


def _reply(handled: inbound.Handled) -> str:
    language = LANGUAGES.get(handled.language, LANGUAGES["ar"])
    with force_locale(language.locale):
        if handled.opted_out:
            return _("You have opted out: we will ask this number nothing more.")
        if handled.polls:
            return _which_poll_sms(handled.polls, language)
        # How to answer: each reply key with its label, in the message's language ("1 Yes, 2 No").
        listed = _list_separator(language).join(f"{key} {pick(label, language)}" for key, label in handled.listed)
        said = str(REPLIES[handled.outcome]) % {"codes": listed or ", ".join(handled.codes)}
        if handled.letter:
            # The phone named this poll by its letter: its question, and an answer to come after the letter.
            how = _("Reply %(letter)s followed by the number of your answer, e.g. %(letter)s 1.",
                    letter=handled.letter)
            lines = [error_text(handled.refused, handled.error)] if handled.refused and handled.error else []
            lines += [pick(handled.question, language)] if handled.question else []
            lines += [f"{key} {pick(label, language)}" for key, label in handled.listed]
            return "\n".join([*lines, how])
        if handled.then is not None:
            return _second_step_sms(handled.then, language, said)
        if handled.asked is None:
            # A headline's reply refused for a reason (several answers named): the reason, then how to answer.
            refused = handled.refused
            return "\n".join((error_text(refused, handled.error), said)) if refused and handled.error else said
        if handled.error == inbound.FINISH_FIRST:
            said = _("Please answer this poll's questions first.")
        elif handled.error:
            said = error_text(handled.asked.question, handled.error)
        return "\n".join(part for part in (said, _question_sms(handled.asked, language)) if part)


def _list_separator(language: Language) -> str:
    return "، " if language.direction == "rtl" else ", "


def _which_poll_sms(polls: tuple[tuple[str, dict[str, str]], ...], language: Language) -> str:
    """The question a number in several open polls is asked: which one its reply answers, each by its letter."""
    lines = [_("This number has %(count)s polls open. Reply with the poll's letter and your answer, e.g. A 1:",
               count=len(polls))]
    lines += [f"{letter} {_shortened(pick(title, language))}" for letter, title in polls]
    return "\n".join(lines)


def _shortened(text: str, limit: int = 60) -> str:
    # A poll's title or question in a list of polls: enough to know it by, in as few segments as may be.
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _question_sms(asked: conversations.Asked, language: Language) -> str:
    """One question as an SMS: its number of all, its text, its numbered choices, and how to answer."""
    question = asked.question
    lines = [f"{asked.number}/{asked.total} {pick(question.label, language)}"]
    lines += [f"{number} {pick(choice.label, language)}" for number, choice in enumerate(question.choices, start=1)]
    if question.takes_choices and question.type == QuestionType.SELECT_MULTIPLE:
        how = _("Reply with the numbers of your answers, e.g. 1 3.")
    elif question.takes_choices:
        how = _("Reply with the number of your answer.")
    elif question.type == QuestionType.INTEGER:
        how = _("Reply with a number from %(low)s to %(high)s.", low=question.minimum, high=question.maximum)
    else:
        how = _("Reply with your answer.")
    if not question.required:
        how = " ".join((how, _("Reply 0 to skip this question.")))
    lines.append(how)
    return "\n".join(lines)


def _second_step_sms(question, language: Language, how: str) -> str:
    """A headline's second step as an SMS: its text, its choices by their codes (what a headline reply says)."""
    lines = [pick(question.label, language)]
    lines += [f"{choice.code} {pick(choice.label, language)}" for choice in question.choices]
    return "\n".join([*lines, how])


@bp.get("/sms/kannel/dlr")
@csrf.exempt
def kannel_dlr():
    """A delivery report for one of our messages: dlr-url ...?secret=S&message=ID&status=%d&answer=%A.

    `answer`, the SMSC's own words, may say a failed message's number is unknown or unallocated.
    """
    if not _authorised():
        return "forbidden\n", 403, PLAIN
    message_id, status = (parse_whole_number(request.args.get(name)) for name in ("message", "status"))
    if message_id is None or status is None:
        return "bad request: message and status are whole numbers, and both are required\n", 400, PLAIN
    session = get_session()
    if status == 8:
        # The acknowledgement that reopens a route's window: on PostgreSQL one statement, committed by itself.
        begin_single_statements(session, writes=True)
        if outbox.acknowledge(session, message_id, now=utcnow()):
            session.commit()
            return "ok\n", 200, PLAIN
        then_together(session)
    else:
        begin_write(session)
    if not outbox.delivery_report(session, message_id, status, now=utcnow(), answer=request.args.get("answer")):
        return "no such message\n", 404, PLAIN
    session.commit()
    return "ok\n", 200, PLAIN


@bp.get("/phone/<number>")
@admin_required
def phone(number: str):
    """A simulated handset: the messages sent to `number`, with their personal links. Admins only, each view audited.

    A personal link is the capability to answer in someone's name, so seeing
    one is recorded, whoever does it.
    """
    e164 = _handset(number)
    session = get_session()
    begin_write(session)
    messages = len(outbox.messages_for(session, e164))
    audit.record(session, "phone-viewed", e164, by=g.operator, detail={"messages": messages})
    session.commit()
    return _handset_page(e164, [], None, 200)


@bp.post("/phone/<number>")
@admin_required
def phone_sends(number: str):
    """The simulated handset sends `text` as an SMS: handled by the inbound code Kannel's MO reaches, answered here.

    So an admin can rehearse the SMS questionnaire before a real send. The
    exchange so far travels in the page's own form (`said`, `heard`), not in
    the database: the inbound service keeps no reply to an anonymous poll
    beside its number, and this page keeps none either. Each message carries
    the id its form was drawn with, so sending the same form twice is one SMS.
    Audited to the operator, without the text.
    """
    e164 = _handset(number)
    said, heard = request.form.getlist("said")[-MAX_EXCHANGE:], request.form.getlist("heard")[-MAX_EXCHANGE:]
    exchange = list(zip(said, heard, strict=False))
    text = request.form.get("text", "").replace("\x00", "")
    message = request.form.get("message", "")
    if not text.strip() or len(text) > MAX_TEXT or not _MESSAGE_ID.fullmatch(message):
        return _handset_page(e164, exchange, _("Write a message of up to %(most)s characters.", most=MAX_TEXT), 400)
    reply = _answer(e164, text, f"handset-{message}")
    session = get_session()
    begin_write(session)
    audit.record(session, "sms-rehearsed", e164, by=g.operator)
    session.commit()
    return _handset_page(e164, [*exchange, (text, reply)], None, 200)


MAX_EXCHANGE = 60
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,40}")


def _handset(number: str) -> str:
    """`number` in E.164, or 404: the handset exists only with the simulated gateway."""
    if current_app.config["SMS_GATEWAY"] != "simulated":
        abort(404)
    try:
        return phones.to_e164(number)
    except ValueError:
        abort(404)


def _handset_page(e164: str, exchange: list[tuple[str, str]], error: str | None, status: int):
    session = get_session()
    messages = outbox.messages_for(session, e164)
    name = outbox.recipient_name(session, e164)
    session.commit()
    return render_template("sms/phone.html", phone=e164, masked=phones.mask(e164), messages=messages, name=name,
                           exchange=exchange, error=error, message_id=secrets.token_urlsafe(12),
                           max_text=MAX_TEXT), status
