"""SMS conversations: after a reply answers the headline, the other questions by SMS, one a message.

The headline's reply counts at once, as a response of its own (partial until
the rest arrive). Then each relevant question is asked in turn; the phone
answers with a choice's number (or several, for a multiple choice), its
label in any language, a number, or a text; `0` skips an optional question; STOP ends it all. When
the last question is answered the response gets every answer, its strata
from the profile answers where the audience had none, and the tallies
follow, in one transaction. The conversation is then deleted: it held the
response's id beside a keyed digest of the phone (never the number), and
only while it lasted (POLL_SMS_SESSION_HOURS).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import iraq, questionnaire
from poll.models import Answer, SmsConversation
from poll.questionnaire import Question
from poll.services.answering import tallies
from poll.services.answering.answers import Ballot, tally_values
from poll.sms import replies
from poll.vocabulary import QuestionType, SmsOutcome

SKIP = "0"


@dataclass(frozen=True)
class Asked:
    """A question the phone is asked next: its place in the questionnaire, and how many there are."""

    question: Question
    number: int
    total: int


@dataclass(frozen=True)
class Step:
    """What one reply in a conversation did."""

    outcome: SmsOutcome
    asked: Asked | None = None  # the question asked now (again, after an unreadable reply)
    error: str | None = None  # why the reply was not taken (`questionnaire` reasons)


def phone_digest(phone: str, secret: str) -> str:
    """A keyed digest of `phone`: finds the phone's conversation without keeping its number."""
    return hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()


def start(session: so.Session, ballot: Ballot, *, answer_id: int, headline: str, phone: str, language: str,
          now: datetime, secret: str, hours: float) -> Asked | None:
    """Begin asking the questions after the headline answered `headline`; None if there are none to ask.

    A conversation this phone had with another poll ends here: its response stays as far as it went.
    """
    values = {ballot.headline.name: headline}
    asked = _next(ballot, values, after=ballot.headline.name)
    if asked is None:
        return None
    digest = phone_digest(phone, secret)
    session.execute(sa.delete(SmsConversation).where(SmsConversation.phone_digest == digest))
    session.add(SmsConversation(
        phone_digest=digest, poll_id=ballot.poll_id, answer_id=answer_id, language=language,
        asking=asked.question.name, values=values, expires_at=now + timedelta(hours=hours), asked_at=now,
    ))
    session.flush()
    return asked


def find(session: so.Session, phone: str, *, now: datetime, secret: str) -> SmsConversation | None:
    """The phone's conversation, if one is going on; conversations past their time are deleted first."""
    session.execute(sa.delete(SmsConversation).where(SmsConversation.expires_at <= now))
    return session.scalar(
        sa.select(SmsConversation).where(SmsConversation.phone_digest == phone_digest(phone, secret))
        .with_for_update()
    )


def end(session: so.Session, phone: str, *, secret: str) -> None:
    """End the phone's conversation (STOP): what it answered so far stays in its response."""
    session.execute(sa.delete(SmsConversation).where(SmsConversation.phone_digest == phone_digest(phone, secret)))


def answer(session: so.Session, conversation: SmsConversation, ballot: Ballot, text: str, *, now: datetime,
           hours: float, sent_at: datetime | None = None) -> Step:
    """Take `text` as the answer to the question being asked, then ask the next or complete the response.

    A reply the phone sent (`sent_at`, the gateway's time) before the question
    was asked cannot answer it: it is a resend of an earlier answer (a phone
    that heard nothing during an outage sends its answer again), and the
    question is asked again instead. Times are compared to the second, the
    gateway's resolution.
    """
    question = next(q for q in ballot.questions if q.name == conversation.asking)
    if is_resend(conversation, sent_at):
        return Step(SmsOutcome.DUPLICATE, _asked(ballot, question))
    value, error = _read(question, text)
    if error:
        return Step(SmsOutcome.QUESTION_UNREADABLE, _asked(ballot, question), error)
    values = dict(conversation.values)
    if value is not None:
        values[question.name] = sorted(value) if question.type == QuestionType.SELECT_MULTIPLE else value
    conversation.values = values
    asked = _next(ballot, _as_answers(ballot, values), after=question.name)
    if asked is not None:
        conversation.asking = asked.question.name
        conversation.expires_at = now + timedelta(hours=hours)
        conversation.asked_at = now
        session.flush()
        return Step(SmsOutcome.QUESTION_ANSWERED, asked)
    _complete(session, conversation, ballot, values)
    return Step(SmsOutcome.COMPLETED)


def is_resend(conversation: SmsConversation, sent_at: datetime | None) -> bool:
    """Whether a reply sent at `sent_at` was sent before the conversation's question was asked (so answers an earlier one)."""
    if sent_at is None or conversation.asked_at is None:
        return False
    return sent_at < conversation.asked_at.replace(microsecond=0)


def asking(ballot: Ballot, conversation: SmsConversation) -> Asked:
    """The question `conversation` is waiting for an answer to."""
    return _asked(ballot, next(q for q in ballot.questions if q.name == conversation.asking))


def _read(question: Question, text: str) -> tuple[Any, str | None]:
    # `0` skips an optional question; otherwise the reply's words, numbers standing for choices.
    if replies.normalize(text) == SKIP and not question.required:
        return None, None
    return questionnaire.read_value(question, replies.question_values(question, text))


def _as_answers(ballot: Ballot, values: dict[str, Any]) -> dict[str, Any]:
    # Stored values as conditions read them: a multiple choice as a set.
    multiple = {q.name for q in ballot.questions if q.type == QuestionType.SELECT_MULTIPLE}
    return {name: frozenset(value) if name in multiple else value for name, value in values.items()}


def _next(ballot: Ballot, answers: dict[str, Any], *, after: str) -> Asked | None:
    names = [q.name for q in ballot.questions]
    for question in ballot.questions[names.index(after) + 1:]:
        if question.is_relevant(answers):
            return _asked(ballot, question)
    return None


def _asked(ballot: Ballot, question: Question) -> Asked:
    return Asked(question, ballot.questions.index(question) + 1, len(ballot.questions))


def _complete(session: so.Session, conversation: SmsConversation, ballot: Ballot, values: dict[str, Any]) -> None:
    # The response gets every answer and its strata; the tallies follow; the conversation goes.
    response = session.get(Answer, conversation.answer_id, with_for_update=True)
    session.delete(conversation)
    if response is None:  # the poll's answers were cleared meanwhile
        session.flush()
        return
    stored = questionnaire.stored(ballot.follow_ups, _as_answers(ballot, values))
    before = (response.governorate, response.sex, response.age_band)
    answered = {q.maps_to: q.stratum(stored.get(q.name)) for q in ballot.follow_ups if q.maps_to}
    after = tuple(given or answered.get(stratum) for given, stratum in zip(before, iraq.STRATA, strict=True))
    response.values = stored
    tallies.bump(session, response.poll_id, {"partial": -1})  # the response is whole now
    response.governorate, response.sex, response.age_band = after
    if after != before:
        tallies.move_answer(session, response.poll_id, response.option_id, response.channel, before, after)
    tallies.count_values(session, response.poll_id,
                         [(question_id, response.option_id, value) for question_id, value in tally_values(ballot, stored)])
    session.flush()
