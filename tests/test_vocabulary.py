"""Each word of the domain is defined once: the schema refuses values outside it, and every value has its words."""

import pytest
import sqlalchemy as sa

from poll.models import Refusal, utcnow
from poll.vocabulary import FORWARD, REFUSALS, MessageState, Outcome, SmsOutcome
from poll.web import words
from poll.web.sms import REPLIES


def test_every_refusal_kind_has_its_words():
    assert set(words.REFUSAL) == set(REFUSALS)
    assert Outcome.RECORDED not in REFUSALS


def test_every_outcome_of_an_sms_has_a_reply():
    assert set(REPLIES) == {*Outcome, *SmsOutcome}


def test_every_message_state_has_a_word_and_a_way_in():
    assert set(words.MESSAGE_STATE) == set(MessageState)
    assert set(FORWARD) == set(MessageState)


@pytest.mark.parametrize("kind", ["recorded", "made-up", ""])
def test_the_schema_refuses_a_refusal_kind_outside_the_vocabulary(session, kind):
    session.add(Refusal(poll_id=None, kind=kind, channel="web", occurred_at=utcnow()))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_the_schema_takes_every_refusal_kind(session):
    session.add_all(Refusal(poll_id=None, kind=kind, channel="sms", occurred_at=utcnow()) for kind in REFUSALS)
    session.flush()
    assert session.scalar(sa.select(sa.func.count()).select_from(Refusal)) == len(REFUSALS)
