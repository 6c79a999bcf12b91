"""The audit trail page: every operator reads it, narrowed by poll, operator and action with plain GET forms;
its rows export as CSV (itself audited); details read as words, and no phone number shows whole."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from poll.models import AuditEvent, Operator
from poll.services.access import audit
from tests.helpers import fresh

PHONE = "+9647701234567"


@pytest.fixture
def trail(session, make_poll):
    """Events of two polls by two operators and the command line, and a phone viewed."""
    make_poll("north")
    make_poll("south")
    session.commit()
    amal = session.scalar(sa.select(Operator).where(Operator.name == "amal")) or Operator(name="amal", role="admin",
                                                                                          password_hash="x")
    session.add(amal)
    session.flush()
    audit.record(session, "links-issued", "north", by=amal, detail={"issued": 1200})
    audit.record(session, "poll-opened", "north", by=amal)
    audit.record(session, "links-issued", "south", detail={"via": "cli", "issued": 30})
    audit.record(session, "phone-viewed", PHONE, by=amal, detail={"messages": 2})
    audit.record(session, "job-started", "simulation 7", by=amal, detail={"poll": "south", "seed": 4})
    session.commit()


def subjects(html: str) -> list[str]:
    return [subject for subject in ("north", "south", "simulation 7", "+964 7•• ••• •567") if f"<bdi>{subject}" in html]


def test_the_trail_narrows_by_poll_operator_and_action(client, trail, login):
    login("admin", name="reader")
    page = client.get("/admin/audit?lang=en&poll=north").get_data(as_text=True)
    assert subjects(page) == ["north"]
    page = client.get("/admin/audit?lang=en&poll=south").get_data(as_text=True)
    assert subjects(page) == ["south", "simulation 7"]  # the job started for it too
    page = client.get("/admin/audit?lang=en&action=links-issued").get_data(as_text=True)
    assert subjects(page) == ["north", "south"]
    page = client.get("/admin/audit?lang=en&operator=amal&action=links-issued").get_data(as_text=True)
    assert subjects(page) == ["north"]
    page = client.get("/admin/audit?lang=en&operator=nobody").get_data(as_text=True)
    assert subjects(page) == [] and "No action matches these filters." in page


def test_the_filters_are_a_get_form_that_keeps_the_choice(client, trail, login):
    login("viewer")
    page = client.get("/admin/audit?lang=en&poll=north&operator=amal&action=poll-opened").get_data(as_text=True)
    assert '<form method="get"' in page
    for name, value in (("poll", "north"), ("operator", "amal"), ("action", "poll-opened")):
        assert f'name="{name}"' in page
        assert f'<option value="{value}" selected>' in page
    assert '<option value="poll-opened" selected>poll opened</option>' in page


def test_details_read_as_words_and_phones_are_masked(client, trail, login):
    login("admin")
    page = client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "links issued: <bdi>1,200</bdi>" in page
    assert "messages: <bdi>2</bdi>" in page
    assert "{" not in page.split("<h1>")[1] and "issued=" not in page
    assert "the command line" in page  # who issued south's links
    assert PHONE not in page and PHONE[1:] not in page
    assert "+964 7•• ••• •567" in page


def test_a_viewer_reads_the_trail_and_sees_no_button(client, trail, login):
    login("viewer")
    response = client.get("/admin/audit?lang=en")
    assert response.status_code == 200
    assert 'method="post" action="/admin' not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/admin/audit", "/admin/audit.csv"])
def test_the_trail_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_the_export_holds_the_filtered_rows_and_is_audited(client, session, trail, login):
    login("viewer", name="vera")
    response = client.get("/admin/audit.csv?lang=en&action=links-issued")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(row["subject"], row["operator"], row["action"]) for row in rows] == [
        ("south", "the command line", "links-issued"), ("north", "amal", "links-issued")]
    assert rows[0]["details"] == "links issued: 30" and rows[1]["details"] == "links issued: 1,200"
    [event] = fresh(session).scalars(sa.select(AuditEvent).where(AuditEvent.action == "audit-exported"))
    assert event.actor == "vera" and event.detail == {"action": "links-issued", "rows": 2}


def test_the_export_masks_phone_numbers(client, trail, login):
    login("admin")
    body = client.get("/admin/audit.csv?action=phone-viewed").get_data(as_text=True)
    assert PHONE not in body and PHONE[1:] not in body and "+964 7•• ••• •567" in body


@pytest.mark.parametrize("query", ["poll=" + "x" * 129, "action=" + "z" * 300, "operator=" + "y" * 200])
def test_filters_too_long_to_be_names_are_refused(client, login, query):
    login("admin")
    for url in ("/admin/audit", "/admin/audit.csv"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, url
