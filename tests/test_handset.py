"""The simulated phone as a conversation: an admin replies from it, through the inbound code Kannel's MO reaches."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from poll.models import Answer, AuditEvent, InboundMessage, OptOut, Recipient
from tests.helpers import fresh, rows


@pytest.fixture
def handset(session, make_poll, make_links):
    """A phone invited to the article's whole form (six questions), with no strata in the audience."""
    make_links(make_poll("talk"), count=1, language="en", governorate=None, sex=None, age=None, age_band=None)
    return fresh(session).scalar(sa.select(Recipient.phone))


def send(client, phone: str, text: str, page: str | None = None) -> str:
    """Send `text` from the handset's form as the page drew it: its message id and the exchange so far."""
    page = page if page is not None else client.get(f"/phone/{phone}?lang=en").get_data(as_text=True)
    form = {"text": text, "message": re.search(r'name="message" value="([^"]+)"', page)[1],
            "said": re.findall(r'name="said" value="([^"]*)"', page),
            "heard": re.findall(r'name="heard" value="([^"]*)"', page)}
    response = client.post(f"/phone/{phone}?lang=en", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_the_phone_answers_the_whole_questionnaire_through_its_form(client, login, session, handset):
    login()
    page = send(client, handset, "2")
    assert "recorded" in page and "2/6 Sex" in page  # the headline counts; the next question follows
    for reply in ("1", "37", "5", "3", "4"):  # sex, age, governorate, employment, education
        page = send(client, handset, reply, page)
    assert "Thank you. Your answers have been recorded." in page
    # The whole exchange is on the page, both ways: six messages sent, six replies.
    assert page.count('class="bubble sent"') == 6 and "3/6" in page and "6/6" in page
    assert rows(session, Answer) == 1
    answer = fresh(session).scalar(sa.select(Answer))
    assert answer.values["age"] == 37 and answer.values["education"] == "4"
    # Audited to the operator, without the text; nothing kept beside the number says what it answered.
    events = fresh(session).execute(sa.select(AuditEvent.actor, AuditEvent.detail)
                                    .where(AuditEvent.action == "sms-rehearsed")).all()
    assert len(events) == 6 and all(actor == "admin" and detail == {} for actor, detail in events)
    assert fresh(session).scalars(sa.select(InboundMessage.phone)).all() == [None] * 6


def test_a_wrong_code_is_answered_with_how_to_reply(client, login, session, handset):
    login()
    page = send(client, handset, "9")
    assert "Please reply with one of: 1 End the mission by all means, 2 End the mission through dialogue, 3 Support" in page
    assert rows(session, Answer) == 0


def test_stop_from_the_phone_opts_it_out(client, login, session, handset):
    login()
    page = send(client, handset, "STOP")
    assert "You will get no more messages from us." in page
    assert rows(session, OptOut) == 1


def test_sending_the_same_form_twice_is_one_sms(client, login, session, handset):
    login()
    page = client.get(f"/phone/{handset}?lang=en").get_data(as_text=True)
    send(client, handset, "2", page)
    again = send(client, handset, "2", page)  # the browser sent the form again (back, then resubmit)
    assert "already recorded" in again
    assert rows(session, Answer) == 1 and rows(session, InboundMessage) == 1


@pytest.mark.parametrize("form", [{"text": ""}, {"text": "1", "message": "x"}, {"text": "x" * 1601}])
def test_an_empty_or_broken_form_is_a_400_with_the_reason(client, login, session, handset, form):
    login()
    response = client.post(f"/phone/{handset}?lang=en", data={"message": "abcdefgh12"} | form)
    assert response.status_code == 400
    assert "Write a message" in response.get_data(as_text=True)
    assert rows(session, InboundMessage) == 0


def test_only_admins_reply_and_only_with_the_simulated_gateway(client, login, app, session, handset):
    data = {"text": "1", "message": "abcdefgh12"}
    assert client.post(f"/phone/{handset}", data=data).status_code == 302  # to the login page
    login("viewer")
    assert client.post(f"/phone/{handset}", data=data).status_code == 403
    login("admin")
    app.config["SMS_GATEWAY"] = "kannel"
    assert client.post(f"/phone/{handset}", data=data).status_code == 404
    assert rows(session, InboundMessage) == 0


def test_the_reply_form_needs_its_csrf_token(client, login, app, session, handset):
    login()
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/phone/{handset}", data={"text": "1", "message": "abcdefgh12"}).status_code == 400
    assert rows(session, InboundMessage) == 0
