"""Incoming SMS: answers by reply ("1", "٢", "نعم"), stop requests, and everything else.

A reply answers the one poll that is waiting for this number's answer, under
the same one-answer rule and into the same tallies as the web, with channel
"sms". When the poll asks more than its headline, the replies that follow
answer those questions one by one (`services.messaging.conversations`), whatever other
poll sends the number a link meanwhile. A reply is never guessed into a poll:
when the number has several open polls and one of them still waits for its
answer, it is asked which one it answers, and answers with the poll's letter
first ("A 2"). After STOP
nothing more is asked or recorded. Each gateway message id is handled once:
a retried delivery of the same message gets the same reply and changes
nothing; a message the phone sent again (a new id, sent before the question
it would answer was asked) answers nothing new.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import phones, questionnaire, variants
from poll.db import insert_or_skip
from poll.models import InboundMessage, Link, OptOut, Poll, Recipient, SmsConversation
from poll.questionnaire import Question
from poll.services.answering import answers, refusals
from poll.services.messaging import conversations, outbox
from poll.sms import replies
from poll.vocabulary import Channel, Outcome, Phase, PollStatus, SmsOutcome

# The letters that name a number's open polls in a reply ("A 2", "ب ٢"): Latin, and the first of the abjad order.
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ABJAD = "ابجد"
# Why a reply naming another poll is not taken while a conversation goes on.
FINISH_FIRST = "finish-first"
_LETTERED = re.compile(r"([a-z]|[" + _ABJAD + r"])(?:[\s.:,)\-]+|(?=\d)|$)(.*)")


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
    # How the headline is answered: each reply key ("1", or the choice's code) with its label per language.
    listed: tuple[tuple[str, dict[str, str]], ...] = ()
    # Several open polls wait for this number: each one's letter and title, for the phone to say which it answers.
    polls: tuple[tuple[str, dict[str, str]], ...] = ()
    # The letter the phone puts before its answer to the poll it named, and that poll's question.
    letter: str = ""
    question: dict[str, str] = dataclasses.field(default_factory=dict)
    # The number said STOP earlier: nothing more is asked of it or recorded from it.
    opted_out: bool = False


@dataclass(frozen=True)
class Conversations:
    """What SMS conversations need: the key of their phone digests, and how long one waits for a reply."""

    secret: str
    hours: float


def previous(session: so.Session, gateway_id: str) -> InboundMessage | None:
    """The message already handled under this gateway id, if any."""
    return session.scalar(sa.select(InboundMessage).where(InboundMessage.gateway_id == gateway_id))


def handle(session: so.Session, *, gateway_id: str, sender: str, text: str, now: datetime,
           talk: Conversations, sent_at: datetime | None = None) -> Handled:
    """Act on one incoming SMS sent by the phone at `sent_at` (if the gateway says); the caller then stores it
    with `remember` and commits once."""
    done = previous(session, gateway_id)
    if done is not None:
        if done.outcome == SmsOutcome.STEP_ASKED:
            # It recorded nothing: ask the second step again (the caller keeps none of this).
            return dataclasses.replace(_handle_new(session, sender=sender, text=text, now=now, talk=talk,
                                                   sent_at=sent_at), is_retry=True)
        if done.phone is not None or done.reply:
            return Handled(SmsOutcome.DUPLICATE, "ar", stored_reply=done.reply)
        # A reply to an anonymous poll was not kept (it could name the answer): say again where the phone stands.
        return _again(session, sender, now=now, talk=talk)
    return _handle_new(session, sender=sender, text=text, now=now, talk=talk, sent_at=sent_at)


def _handle_new(session: so.Session, *, sender: str, text: str, now: datetime, talk: Conversations,
                sent_at: datetime | None) -> Handled:
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
    if session.get(OptOut, phone) is not None:
        # Its text may well be an answer: kept beside the number, it would tell what the number thinks.
        return Handled(SmsOutcome.STOPPED, _language_of(session, phone), opted_out=True, is_private=True)
    links = _links(session, phone)
    conversation, link = _conversation(session, phone, links, now=now, talk=talk)
    lettered = _open(links, now)
    if conversation is not None and link is not None:
        # The conversation goes on, whatever other poll sent this number a link since (a letter naming it may lead).
        ballot = link.ballot
        letter, rest = _lettered(text, len(lettered))
        if letter is not None and rest and lettered[letter].poll_id != ballot.poll_id:
            # Meant for another poll: it waits until this conversation is over (or the session's hours are).
            return Handled(SmsOutcome.QUESTION_UNREADABLE, conversation.language, is_private=ballot.is_anonymous,
                           asked=conversations.asking(ballot, conversation), error=FINISH_FIRST)
        if letter is not None and rest:
            text = rest
        step = conversations.answer(session, conversation, ballot, text, now=now, hours=talk.hours, sent_at=sent_at)
        return Handled(step.outcome, conversation.language, is_private=ballot.is_anonymous, asked=step.asked,
                       error=step.error)
    if not links:
        return Handled(SmsOutcome.NO_POLL, _language_of(session, phone))
    letter, rest = _lettered(text, len(lettered))
    waiting = [link for link in lettered if link.answered_on is None]
    said_letter = ""
    if letter is not None:
        link, text, said_letter = lettered[letter], rest, LETTERS[letter]
    elif waiting and len(lettered) > 1:
        # Which poll a bare answer is meant for cannot be told, even when only one still waits for it (the
        # answer may be a resend meant for the other): nothing is recorded, and the phone is asked.
        return _which(lettered)
    else:
        link = waiting[0] if waiting else answers.latest_link(session, phone) or links[-1]
    ballot = link.ballot
    language = link.language or ballot.default_language
    listed = _listed(link)
    keys = replies.choice_words(_labelled(link), by_position=replies.numbered_by_position(ballot.codes))
    reply = replies.read(text, list(ballot.codes), ballot.yes_no or None, keys)
    private = ballot.is_anonymous
    variant = ballot.variant(link.variant)
    if reply.kind == "several":  # "1,2": which one is meant cannot be told, so nothing is recorded
        return Handled(SmsOutcome.UNREADABLE, language, ballot.codes, is_private=private,
                       error=questionnaire.ONE_ONLY, refused=ballot.headline, listed=listed, letter=said_letter,
                       question=ballot.question_text(link.variant))
    if reply.kind != "answer" and variant is not None and variant.steps:
        # Asked in two steps: a reply may name a first step ("No"); one standing for a single code answers.
        step = _step_named(variant, text)
        if step is not None and len(step.codes) > 1:
            return Handled(SmsOutcome.STEP_ASKED, language, step.codes, is_private=private,
                           then=variant.headline(ballot.headline))
        if step is not None:
            reply = replies.Reply("answer", step.codes[0])
    if reply.kind != "answer":
        # Not an answer: where the poll stands for this number (answered, closed) says more than how to answer.
        refusal = answers.availability(link, now)
        if refusal is not None:
            return Handled(refusal, language, ballot.codes, is_private=private)
        return Handled(SmsOutcome.UNREADABLE, language, ballot.codes, is_private=private, listed=listed,
                       letter=said_letter, question=ballot.question_text(link.variant))
    answer_id = secrets.randbits(63)
    outcome = answers.record_answer(session, link, reply.code, channel=Channel.SMS, now=now, answer_id=answer_id)
    if outcome is not Outcome.RECORDED:
        refusals.record(session, link.poll_id, outcome, channel=Channel.SMS, at=now)
        # A copy of this reply handled at the same moment may have won: the phone hears the question it asks.
        asked = _asking(session, phone, links, now=now, talk=talk) if outcome is Outcome.ALREADY_ANSWERED else None
        return Handled(outcome, language, ballot.codes, is_private=private, asked=asked)
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
    conversation, link = _conversation(session, phone, _links(session, phone), now=now, talk=talk)
    if conversation is None or link is None:
        return Handled(SmsOutcome.DUPLICATE, _language_of(session, phone))
    return Handled(SmsOutcome.DUPLICATE, conversation.language, asked=conversations.asking(link.ballot, conversation))


def _asking(session: so.Session, phone: str, links: list[answers.LinkState], *, now: datetime,
            talk: Conversations) -> conversations.Asked | None:
    # The question the phone's conversation going on asks now, if there is one.
    conversation, link = _conversation(session, phone, links, now=now, talk=talk)
    return conversations.asking(link.ballot, conversation) if conversation is not None and link is not None else None


def _conversation(session: so.Session, phone: str, links: list[answers.LinkState], *, now: datetime,
                  talk: Conversations) -> tuple[SmsConversation | None, answers.LinkState | None]:
    # The phone's conversation going on, with the link (of `links`) of the poll it asks for; (None, None) when
    # there is none.
    conversation = conversations.find(session, phone, now=now, secret=talk.secret)
    if conversation is None:
        return None, None
    link = next((link for link in links if link.poll_id == conversation.poll_id), None)
    return (conversation, link) if link is not None else (None, None)


def _links(session: so.Session, phone: str) -> list[answers.LinkState]:
    # Every link this number was given for a poll past its draft, oldest first: the order that letters them.
    tokens = session.scalars(
        sa.select(Link.token).join(Recipient, Recipient.id == Link.recipient_id).join(Poll, Poll.id == Link.poll_id)
        .where(Recipient.phone == phone, Poll.status != PollStatus.DRAFT).order_by(Link.id)
    ).all()
    return [link for token in tokens if (link := answers.find_link(session, token)) is not None]


def _open(links: list[answers.LinkState], now: datetime) -> list[answers.LinkState]:
    # The links whose poll takes answers now; when there are several, each is named by its letter in this order.
    return [link for link in links if link.phase(now) == Phase.OPEN]


def _lettered(text: str, polls: int) -> tuple[int | None, str]:
    """The poll a reply names by its letter first ("A 2", "b", "ب ٢"), as an index, and the rest of the reply.

    Letters are read only when the number has several open polls, and only
    those that name one of them ("n" alone is "no" to a single poll).
    """
    if polls < 2:
        return None, text
    match = _LETTERED.fullmatch(replies.normalize(text))
    if match is None:
        return None, text
    said = match.group(1)
    index = _ABJAD.index(said) if said in _ABJAD else LETTERS.index(said.upper())
    return (index, match.group(2).strip()) if index < polls else (None, text)


def _which(lettered: list[answers.LinkState]) -> Handled:
    # Several polls wait for this number's answer: each with its letter and title, in the newest link's language.
    newest = lettered[-1]
    return Handled(SmsOutcome.UNREADABLE, newest.language or newest.ballot.default_language,
                   is_private=any(link.ballot.is_anonymous for link in lettered),
                   polls=tuple((LETTERS[index], link.ballot.title or link.ballot.question_text(link.variant))
                               for index, link in enumerate(lettered)))


def _labelled(link: answers.LinkState) -> list[tuple[str, dict[str, str]]]:
    # The headline's options as this link's form shows them: code and label per language.
    ballot = link.ballot
    return [(option.code, ballot.option_label(link.variant, option.code) or option.label) for option in ballot.options]


def _listed(link: answers.LinkState) -> tuple[tuple[str, dict[str, str]], ...]:
    # How each headline option is replied to, with its label: its code, or its number when codes are not numbers.
    labelled = _labelled(link)
    if replies.numbered_by_position(code for code, _label in labelled):
        return tuple((str(number), label) for number, (_code, label) in enumerate(labelled, start=1))
    return tuple(labelled)


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
