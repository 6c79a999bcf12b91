"""Incoming SMS: answers by reply ("1", "٢", "نعم"), stop requests, and everything else.

A reply answers the newest open poll that sent this number a link, under the
same one-answer rule and into the same tallies as the web, with channel
"sms". When the poll asks more than its headline, the replies that follow
answer those questions one by one (`services.conversations`). Each gateway
message id is handled once: a retried delivery of the same message gets the
same reply and changes nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import phones, questionnaire, variants
from poll.db import insert_or_skip
from poll.models import InboundMessage, Recipient, SmsConversation
from poll.questionnaire import Question
from poll.services import answers, conversations, outbox, refusals
from poll.sms import replies
from poll.vocabulary import Channel, Outcome, SmsOutcome


@dataclass(frozen=True)
class Handled:
    """What a reply did, for the caller to word the answer SMS."""

    outcome: Outcome | SmsOutcome
    language: str
    codes: tuple[str, ...] = ()
    stored_reply: str = ""
    # A reply to an anonymous poll: neither its number nor its text may be kept, since together they are the answer.
    is_private: bool = False
    # The question the phone is asked next (an SMS conversation), and why its last reply was not taken
    # (`questionnaire` reasons: a headline's reply naming several answers is ONE_ONLY, as a later question's).
    asked: conversations.Asked | None = None
    error: str | None = None
    # The question `error` is about when none is asked next: the headline, whose reply is asked for again.
    refused: Question | None = None
    # A headline asked in two steps whose first answer stands for several codes: the second step, asked
    # before anything is recorded (its answer is a reply with the headline's code).
    then: Question | None = None
    # A retried delivery handled afresh (a second step asked, which recorded nothing): to answer, not to keep.
    is_retry: bool = False


@dataclass(frozen=True)
class Conversations:
    """What SMS conversations need: the key of their phone digests, and how long one waits for a reply."""

    secret: str
    hours: float


def previous(session: so.Session, gateway_id: str) -> InboundMessage | None:
    """The message already handled under this gateway id, if any."""
    return session.scalar(sa.select(InboundMessage).where(InboundMessage.gateway_id == gateway_id))


def handle(session: so.Session, *, gateway_id: str, sender: str, text: str, now: datetime,
           talk: Conversations) -> Handled:
    """Act on one incoming SMS; the caller then stores it with `remember` and commits once."""
    done = previous(session, gateway_id)
    if done is not None:
        if done.outcome == SmsOutcome.STEP_ASKED:
            # It recorded nothing: ask the second step again (the caller keeps none of this).
            return dataclasses.replace(_handle_new(session, sender=sender, text=text, now=now, talk=talk),
                                       is_retry=True)
        if done.phone is not None or done.reply:
            return Handled(SmsOutcome.DUPLICATE, "ar", stored_reply=done.reply)
        # A reply to an anonymous poll was not kept (it could name the answer): say again where the phone stands.
        return _again(session, sender, now=now, talk=talk)
    return _handle_new(session, sender=sender, text=text, now=now, talk=talk)


def _handle_new(session: so.Session, *, sender: str, text: str, now: datetime, talk: Conversations) -> Handled:
    # A message not handled before.
    try:
        phone = phones.from_gateway(sender)
    except ValueError:
        return Handled(SmsOutcome.UNKNOWN_NUMBER, "ar")
    reply = replies.read(text, [])
    if reply.kind == "stop":
        outbox.opt_out(session, phone)
        conversations.end(session, phone, secret=talk.secret)
        return Handled(SmsOutcome.STOPPED, _language_of(session, phone))
    conversation, ballot = _conversation(session, phone, now=now, talk=talk)
    if conversation is not None:
        step = conversations.answer(session, conversation, ballot, text, now=now, hours=talk.hours)
        return Handled(step.outcome, conversation.language, is_private=ballot.is_anonymous, asked=step.asked,
                       error=step.error)
    link = answers.latest_link(session, phone)
    if link is None:
        return Handled(SmsOutcome.NO_POLL, _language_of(session, phone))
    ballot = link.ballot
    language = link.language or ballot.default_language
    reply = replies.read(text, list(ballot.codes), ballot.yes_no or None)
    private = ballot.is_anonymous
    variant = ballot.variant(link.variant)
    if reply.kind == "several":  # "1,2": which one is meant cannot be told, so nothing is recorded
        return Handled(SmsOutcome.UNREADABLE, language, ballot.codes, is_private=private,
                       error=questionnaire.ONE_ONLY, refused=ballot.headline)
    if reply.kind != "answer" and variant is not None and variant.steps:
        # Asked in two steps: a reply may name a first step ("No"); one standing for a single code answers.
        step = _step_named(variant, text)
        if step is not None and len(step.codes) > 1:
            return Handled(SmsOutcome.STEP_ASKED, language, step.codes, is_private=private,
                           then=variant.headline(ballot.headline))
        if step is not None:
            reply = replies.Reply("answer", step.codes[0])
    if reply.kind != "answer":
        return Handled(SmsOutcome.UNREADABLE, language, ballot.codes, is_private=private)
    answer_id = secrets.randbits(63)
    outcome = answers.record_answer(session, link, reply.code, channel=Channel.SMS, now=now, answer_id=answer_id)
    if outcome is not Outcome.RECORDED:
        refusals.record(session, link.poll_id, outcome, channel=Channel.SMS, at=now)
        return Handled(outcome, language, ballot.codes, is_private=private)
    asked = conversations.start(session, ballot, answer_id=answer_id, headline=reply.code, phone=phone,
                                language=language, now=now, secret=talk.secret, hours=talk.hours)
    return Handled(outcome, language, ballot.codes, is_private=private, asked=asked)


def remember(session: so.Session, handled: Handled, *, gateway_id: str, sender: str, text: str, reply: str) -> bool:
    """Store the message under its gateway id (so a retry is answered the same); False if a concurrent request stored it first.

    A reply to an anonymous poll is kept without its number, its text and the SMS sent back (which may ask
    the question that follows one answer only); a retry of it is told where the phone stands instead.
    """
    statement = (
        insert_or_skip(session, InboundMessage, ["gateway_id"])
        .values(gateway_id=gateway_id, phone=None if handled.is_private else sender[:32],
                text=None if handled.is_private else text[:480], outcome=handled.outcome,
                reply="" if handled.is_private else reply[:480])
        .returning(InboundMessage.id)
    )
    return session.execute(statement).first() is not None


def _again(session: so.Session, sender: str, *, now: datetime, talk: Conversations) -> Handled:
    # A retried message whose reply was not kept: "already recorded", and the question being asked, if any.
    try:
        phone = phones.from_gateway(sender)
    except ValueError:
        return Handled(SmsOutcome.DUPLICATE, "ar")
    conversation, ballot = _conversation(session, phone, now=now, talk=talk)
    if conversation is None:
        return Handled(SmsOutcome.DUPLICATE, _language_of(session, phone))
    return Handled(SmsOutcome.DUPLICATE, conversation.language, asked=conversations.asking(ballot, conversation))


def _conversation(session: so.Session, phone: str, *, now: datetime,
                  talk: Conversations) -> tuple[SmsConversation | None, answers.Ballot | None]:
    # The phone's conversation going on, with the ballot it asks from; (None, None) when there is none, or
    # its poll is no longer the one the phone's latest link belongs to.
    conversation = conversations.find(session, phone, now=now, secret=talk.secret)
    if conversation is None:
        return None, None
    link = answers.latest_link(session, phone)
    if link is None or link.poll_id != conversation.poll_id:
        return None, None
    return conversation, link.ballot


def _step_named(variant: variants.Variant, text: str) -> variants.Step | None:
    # The first step a reply names by its label in any language ("No", "لا", "نەخێر"), folded as replies are.
    said = replies.normalize(text)
    return next((step for step in variant.steps if any(replies.normalize(label) == said
                                                         for label in step.label.values())), None)


def _language_of(session: so.Session, phone: str) -> str:
    language = session.scalar(
        sa.select(Recipient.language).where(Recipient.phone == phone, Recipient.language.is_not(None)).limit(1)
    )
    return language or "ar"
