"""Answering through a personal link: exactly one answer per link, kept apart from the link."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import insert_or_skip
from poll.models import Answer, Invitation, Option, Poll, Receipt, Recipient
from poll.services.invitations import is_well_formed


class Outcome(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already-answered"
    UNKNOWN_LINK = "unknown-link"
    NOT_OPEN = "not-open"
    CLOSED = "closed"
    INVALID_OPTION = "invalid-option"


def find_link(session: so.Session, token: str) -> Invitation | None:
    """The invitation whose token is `token`, with its poll, options and recipient; None if none."""
    if not is_well_formed(token):
        return None
    return session.scalar(
        sa.select(Invitation)
        .where(Invitation.token == token)
        .options(
            so.joinedload(Invitation.poll).selectinload(Poll.options),
            so.joinedload(Invitation.recipient),
        )
    )


def availability(invitation: Invitation, now: datetime) -> Outcome | None:
    """Why `invitation` cannot take an answer at `now`, or None if it can."""
    phase = invitation.poll.phase(now)
    if phase in ("draft", "scheduled"):
        return Outcome.NOT_OPEN
    if phase == "closed":
        return Outcome.CLOSED
    if invitation.answered_at is not None:
        return Outcome.ALREADY_ANSWERED
    return None


def option_for(poll: Poll, code: str | None) -> Option | None:
    """The option of `poll` whose reply code is `code`."""
    return next((option for option in poll.options if option.code == code), None)


def record_answer(
    session: so.Session, invitation: Invitation, code: str | None, *, channel: str, now: datetime
) -> Outcome:
    """Record the answer `code` given through `invitation`, once.

    The receipt insert is the guard: of any number of concurrent answers for
    one link, exactly one inserts its receipt and writes an answer; the others
    see ALREADY_ANSWERED and write nothing.
    """
    refusal = availability(invitation, now)
    if refusal is not None:
        return refusal
    option = option_for(invitation.poll, code)
    if option is None:
        return Outcome.INVALID_OPTION
    if not _take_receipt(session, invitation):
        return Outcome.ALREADY_ANSWERED
    session.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(answered_at=now, opened_at=sa.func.coalesce(Invitation.opened_at, now))
    )
    session.add(_answer(invitation, option, channel, now))
    session.flush()
    return Outcome.RECORDED


def _take_receipt(session: so.Session, invitation: Invitation) -> bool:
    # One row inserted means this answer is the link's first; none means another got there first.
    statement = (
        insert_or_skip(session, Receipt, ["invitation_id"])
        .values(invitation_id=invitation.id)
        .returning(Receipt.invitation_id)
    )
    return session.execute(statement).first() is not None


def _answer(invitation: Invitation, option: Option, channel: str, now: datetime) -> Answer:
    recipient: Recipient = invitation.recipient
    poll: Poll = invitation.poll
    return Answer(
        # Random, so that answer ids do not follow the order of invitations or answers.
        id=secrets.randbits(63),
        poll_id=poll.id,
        option_id=option.id,
        channel=channel,
        answered_hour=now.replace(minute=0, second=0, microsecond=0),
        governorate=recipient.governorate,
        sex=recipient.sex,
        age_band=recipient.age_band,
        invitation_id=None if poll.is_anonymous else invitation.id,
    )
