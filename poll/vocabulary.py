"""The project's words for its states and outcomes, each defined once.

The schema's CHECK constraints are written from these (`models.one_of`),
services return them, and every translation table (`web.words`, the SMS
replies) is keyed by them, so a new value cannot be stored without a
constraint that allows it, nor shown without a word for it.
"""

from __future__ import annotations

import enum


class PollStatus(enum.StrEnum):
    """What an operator has done with a poll."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Phase(enum.StrEnum):
    """Where a poll is at a moment: its status and its schedule together (`models.poll_phase`)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"  # open from a later time
    OPEN = "open"
    CLOSED = "closed"


class Channel(enum.StrEnum):
    """How an answer arrived."""

    WEB = "web"
    SMS = "sms"


class Outcome(enum.StrEnum):
    """What an attempt to answer through a link led to; every outcome but RECORDED is a refusal."""

    RECORDED = "recorded"
    ALREADY_ANSWERED = "already-answered"
    UNKNOWN_LINK = "unknown-link"
    NOT_OPEN = "not-open"
    CLOSED = "closed"
    INVALID_OPTION = "invalid-option"
    RATE_LIMITED = "rate-limited"


# The kinds a refused attempt is logged and counted under.
REFUSALS = tuple(outcome for outcome in Outcome if outcome is not Outcome.RECORDED)


class SmsOutcome(enum.StrEnum):
    """What an incoming SMS led to when it was not an attempt to answer (those are `Outcome`s)."""

    STOPPED = "stopped"  # STOP: the number is opted out
    UNKNOWN_NUMBER = "unknown-number"  # not a phone number we can read
    NO_POLL = "no-poll"  # no poll sent this number a link
    UNREADABLE = "unreadable"  # not an answer of the poll it reached
    DUPLICATE = "duplicate"  # the gateway delivered the same message again
    QUESTION_ANSWERED = "question-answered"  # an SMS conversation's question answered; the next one asked
    QUESTION_UNREADABLE = "question-unreadable"  # not an answer to the conversation's question: asked again
    COMPLETED = "completed"  # the conversation's last question answered: the response is whole
    STEP_ASKED = "step-asked"  # a two-step question's first answer, standing for several: the second asked


class MessageKind(enum.StrEnum):
    """What an outgoing SMS is for."""

    INVITATION = "invitation"  # the personal link
    REMINDER = "reminder"  # the link again, to someone who has not answered


class MessageState(enum.StrEnum):
    """Where an outgoing SMS is. States only move forward: see `FORWARD`."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The states each state may follow: a delivery report may arrive before the
# dispatcher has recorded the send, and a late "accepted" report never takes
# a delivered message back. FAILED may be queued again only by an operator
# (`poll sms retry`), which is not a move of the dispatcher's.
FORWARD: dict[MessageState, tuple[MessageState, ...]] = {
    MessageState.SENDING: (MessageState.QUEUED, MessageState.SENDING),
    MessageState.QUEUED: (MessageState.SENDING,),
    MessageState.SENT: (MessageState.QUEUED, MessageState.SENDING),
    MessageState.DELIVERED: (MessageState.QUEUED, MessageState.SENDING, MessageState.SENT),
    MessageState.FAILED: (MessageState.QUEUED, MessageState.SENDING, MessageState.SENT),
    MessageState.CANCELLED: (MessageState.QUEUED,),
}


class Role(enum.StrEnum):
    """What an operator may do: an admin manages polls, operators and links; a viewer only looks."""

    ADMIN = "admin"
    VIEWER = "viewer"


class SessionKind(enum.StrEnum):
    """How an operator is signed in."""

    BROWSER = "browser"
    API = "api"


class QuestionType(enum.StrEnum):
    """What a question takes (`poll.questionnaire`)."""

    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    INTEGER = "integer"
    GOVERNORATE = "governorate"  # one of the 18 governorates
    TEXT = "text"


class QuestionRole(enum.StrEnum):
    """What a question is for, beyond being asked."""

    HEADLINE = "headline"  # the one an SMS reply answers and the public page leads with
    PROFILE = "profile"  # who the respondent is: governorate, sex, age, employment...


class JobState(enum.StrEnum):
    """Where a background job is (`services.simulations.jobs`): queued, then running, then one of the three ends."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
