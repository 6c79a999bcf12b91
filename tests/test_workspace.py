"""The operator workspace in the browser: admins run a poll's life and its operators, viewers read, nobody
unnamed acts. Each step calls the same service as its `poll` command, confirmed first, and audited by name."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from poll.models import Answer, AuditEvent, Link, Operator, OperatorSession, OutboxMessage, Poll, Recipient
from poll.services.definition import polls
from tests.helpers import fresh, rows
from tests.test_xlsform import CHOICES, SETTINGS, SURVEY, form

AUDIENCE = (
    "phone,governorate,sex,age,language\n"
    "07701234567,Baghdad,F,34,ar\n"
    "+964 750 123 4567,IQ-AR,M,51,ku\n"
    "12345,Atlantis,X,7,fr\n"
    "07801234567,Basra,M,22,en\n"
)
PAGES = ["/admin/polls", "/admin/polls/new", "/admin/polls/draft", "/admin/polls/draft/preview",
         "/admin/operators"]
POSTS = ["/admin/polls/new", "/admin/polls/draft/audience", "/admin/polls/draft/invite",
         "/admin/polls/draft/preview", "/admin/operators", "/admin/operators/admin/disable"]


def csv_file(text: str = AUDIENCE, name: str = "audience.csv") -> tuple[io.BytesIO, str]:
    return io.BytesIO(text.encode("utf-8")), name


def audited(session, action: str) -> list[AuditEvent]:
    return list(fresh(session).scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.parametrize("url", PAGES)
def test_workspace_pages_need_a_login(client, make_poll, url):
    make_poll("draft", status="draft")
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", PAGES)
def test_viewers_read_every_page_and_see_no_button(client, make_poll, login, url):
    make_poll("draft", status="draft")
    login("viewer")
    response = client.get(url + "?lang=en")
    assert response.status_code == 200
    assert 'method="post" action="/admin' not in response.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", POSTS)
def test_viewers_are_refused_every_post(client, session, make_poll, login, url):
    make_poll("draft", status="draft")
    login("viewer")
    login("admin")
    client.post("/logout")
    login("viewer", name="reader")
    before = rows(session, AuditEvent)
    response = client.post(url, data={"confirm": "1", "builtin": "coalition-2024", "name": "newcomer",
                                      "password": "a long enough password", "role": "admin",
                                      "file": csv_file()}, content_type="multipart/form-data")
    assert response.status_code == 403
    assert rows(session, AuditEvent) == before


def test_every_post_needs_its_csrf_token(app, client, make_poll, login):
    make_poll("draft", status="draft")
    login()
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/admin/polls/draft/invite", data={"confirm": "1"}).status_code == 400
    page = client.get("/admin/polls/draft").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/admin/polls/draft/invite", data={"csrf_token": token}).status_code == 200


def test_polls_list_shows_title_status_counts_and_next_step(client, make_poll, make_links, login):
    poll = make_poll("live")
    make_links(poll, count=4)
    make_poll("draft", status="draft")
    login()
    page = client.get("/admin/polls?lang=en").get_data(as_text=True)
    assert "continuation of the International Coalition" in page
    assert "draft" in page and "open" in page
    assert "0.0%" in page  # four invited, none answered
    assert "Load its audience" in page  # the draft has none
    arabic = client.get("/admin/polls?lang=ar").get_data(as_text=True)
    assert "التحالف الدولي" in arabic


def test_a_builtin_poll_is_created_with_sender_and_contact_and_audited_by_name(client, session, login):
    login(name="amira")
    response = client.post("/admin/polls/new?lang=en", data={"builtin": "coalition-2024-two-step", "sms_sender": "IQPOLL",
                                                     "contact_en": "Call 5555"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/polls/coalition-2024-two-step"
    poll = fresh(session).scalar(sa.select(Poll).where(Poll.slug == "coalition-2024-two-step"))
    assert poll.status == "draft" and poll.sms_sender == "IQPOLL" and poll.contact["en"] == "Call 5555"
    [event] = audited(session, "poll-created")
    assert event.actor == "amira" and "via" not in event.detail
    assert "created as a draft" in client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)


def test_an_xlsform_upload_creates_the_poll(client, session, login, tmp_path):
    login()
    path = form(tmp_path / "tea.xlsx", survey=SURVEY, choices=CHOICES, settings=SETTINGS)
    response = client.post("/admin/polls/new", data={"file": (path.open("rb"), "tea.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert fresh(session).scalar(sa.select(Poll.sms_sender).where(Poll.slug == "tea-poll")) == "TeaPoll"


def test_a_bad_xlsform_is_refused_with_every_problem_by_sheet_and_row(client, session, login, tmp_path):
    login()
    survey = [*SURVEY, {"type": "geopoint", "name": "where", "label::English (en)": "Where?"},
              {"type": "image", "name": "photo", "label::English (en)": "A photo?"}]
    path = form(tmp_path / "bad.xlsx", survey=survey, choices=CHOICES, settings=SETTINGS)
    response = client.post("/admin/polls/new?lang=en", data={"file": (path.open("rb"), "bad.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The poll was not created" in page
    assert "<li>survey sheet, row 10: type" in page and "<li>survey sheet, row 11: type" in page
    assert rows(session, Poll) == 0


@pytest.mark.parametrize("data, reason", [
    ({}, "Choose a file"),
    ({"file": (io.BytesIO(b"slug = 'x'"), "poll.docx")}, "must be an XLSForm"),
    ({"file": (io.BytesIO(b"slug = ["), "poll.toml")}, "cannot read poll definition"),
    ({"builtin": "no-such-poll"}, "no built-in poll"),
    ({"builtin": "coalition-2024", "file": (io.BytesIO(b"x"), "p.toml")}, "not both"),
    ({"builtin": "coalition-2024", "sms_sender": "NOT A VALID SENDER ID"}, "sms_sender"),
])
def test_bad_poll_files_get_a_clear_page_not_a_500(client, session, login, data, reason):
    login()
    response = client.post("/admin/polls/new?lang=en", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert rows(session, Poll) == 0


def test_a_slug_taken_is_refused(client, make_poll, login):
    make_poll("coalition-2024")
    login()
    response = client.post("/admin/polls/new?lang=en", data={"builtin": "coalition-2024"})
    assert response.status_code == 400
    assert "exists already" in response.get_data(as_text=True)


def test_an_audience_upload_reports_every_bad_line_keeps_the_rest_and_compares_with_the_census(
        client, session, make_poll, login):
    make_poll("draft", status="draft")
    login(name="amira")
    response = client.post("/admin/polls/draft/audience?lang=en", data={"file": csv_file()},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    line = page.split("<td>4</td>")[1].split("</tr>")[0]
    assert "phone" in line and "governorate" in line and "sex" in line and "language" in line  # all its errors
    assert "Baghdad" in page and "census" in page
    assert rows(session, Recipient) == 3
    [event] = audited(session, "audience-imported")
    assert event.actor == "amira" and event.detail == {"imported": 3, "invalid": 1}


@pytest.mark.parametrize("data, reason", [
    ({}, "Choose a CSV file"),
    ({"file": csv_file("name,age\nx,3\n")}, "no phone column"),
    ({"file": (io.BytesIO(b"phone\n\xff\xfe\n"), "a.csv")}, "not UTF-8"),
])
def test_a_bad_audience_file_is_refused_whole(client, session, make_poll, login, data, reason):
    make_poll("draft", status="draft")
    login()
    response = client.post("/admin/polls/draft/audience?lang=en", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert rows(session, Recipient) == 0


def test_an_audience_larger_than_a_form_post_is_taken(client, session, make_poll, login):
    make_poll("draft", status="draft")
    login()
    big = "phone\n" + "".join(f"0770{number:07d}\n" for number in range(6_000))  # ~100 kB, over MAX_CONTENT_LENGTH
    response = client.post("/admin/polls/draft/audience", data={"file": csv_file(big)},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert rows(session, Recipient) == 6_000


def test_invite_is_confirmed_first_then_done_and_audited_by_name(client, session, make_poll, login):
    make_poll("draft", status="draft")
    login(name="amira")
    client.post("/admin/polls/draft/audience", data={"file": csv_file()}, content_type="multipart/form-data")
    confirmation = client.post("/admin/polls/draft/invite?lang=en")
    assert confirmation.status_code == 200
    page = confirmation.get_data(as_text=True)
    assert "Personal links to issue" in page and "<dd>3</dd>" in page
    assert 'name="confirm"' in page
    assert rows(session, Link) == 0 and audited(session, "links-issued") == []
    done = client.post("/admin/polls/draft/invite?lang=en", data={"confirm": "1"})
    assert done.status_code == 303 and done.headers["Location"] == "/admin/polls/draft"
    assert rows(session, Link) == 3
    [event] = audited(session, "links-issued")
    assert event.actor == "amira" and event.detail == {"issued": 3}
    assert "3 personal links issued" in client.get("/admin/polls/draft?lang=en").get_data(as_text=True)


def test_queue_confirmation_says_messages_cost_sender_and_base_url(client, session, make_poll, make_links, login):
    make_links(make_poll("live"), count=5)
    login()
    page = client.post("/admin/polls/live/queue?lang=en").get_data(as_text=True)
    assert "<dd>5</dd>" in page  # messages
    assert "USD" in page and "POLL" in page and "https://poll.example.iq" in page
    assert rows(session, OutboxMessage) == 0
    assert client.post("/admin/polls/live/queue", data={"confirm": "1"}).status_code == 303
    assert rows(session, OutboxMessage) == 5
    # Confirmed again, there is nothing left to queue, and the page says so.
    assert "<dd>0</dd>" in client.post("/admin/polls/live/queue?lang=en").get_data(as_text=True)


def test_a_drafts_sms_are_refused_with_the_reason(client, session, make_poll, make_links, login):
    make_links(make_poll("draft", status="draft"), count=2)
    login()
    for data in ({}, {"confirm": "1"}):
        response = client.post("/admin/polls/draft/queue?lang=en", data=data)
        assert response.status_code == 409
        assert "is a draft" in response.get_data(as_text=True)
    assert rows(session, OutboxMessage) == 0
    assert audited(session, "messages-queued") == []


def test_sms_without_a_sender_id_are_refused(app, client, session, make_poll, make_links, login):
    make_links(make_poll("live"), count=2)
    app.config["SMS_SENDER"] = ""
    login()
    response = client.post("/admin/polls/live/queue?lang=en", data={"confirm": "1"})
    assert response.status_code == 409
    assert "no sender ID" in response.get_data(as_text=True)
    assert rows(session, OutboxMessage) == 0


def test_open_close_remind_and_retry_from_the_browser(client, session, make_poll, make_links, login, runner):
    make_links(make_poll("draft", status="draft"), count=3)
    login(name="amira")
    assert client.post("/admin/polls/draft/open", data={"confirm": "1"}).status_code == 303
    assert fresh(session).scalar(sa.select(Poll.status).where(Poll.slug == "draft")) == "open"
    assert client.post("/admin/polls/draft/queue", data={"confirm": "1"}).status_code == 303
    assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
    reminders = client.post("/admin/polls/draft/remind?lang=en", data={"after": "0"})
    assert "<dd>3</dd>" in reminders.get_data(as_text=True)
    assert client.post("/admin/polls/draft/remind", data={"after": "0", "confirm": "1"}).status_code == 303
    assert rows(session, OutboxMessage, OutboxMessage.kind == "reminder") == 3
    assert client.post("/admin/polls/draft/retry", data={"confirm": "1"}).status_code == 303
    assert client.post("/admin/polls/draft/close", data={"confirm": "1"}).status_code == 303
    assert fresh(session).scalar(sa.select(Poll.status).where(Poll.slug == "draft")) == "closed"
    actions = {event.action: event.actor for event in fresh(session).scalars(sa.select(AuditEvent))}
    for action in ("poll-opened", "messages-queued", "reminders-queued", "messages-retried", "poll-closed"):
        assert actions[action] == "amira"


def test_unknown_steps_and_polls_are_404(client, make_poll, login):
    make_poll("live")
    login()
    assert client.post("/admin/polls/live/explode").status_code == 404
    assert client.post("/admin/polls/nowhere/invite").status_code == 404
    assert client.get("/admin/polls/nowhere").status_code == 404
    assert client.post("/admin/polls/live/remind", data={"after": "soon"}).status_code == 400


def test_the_preview_shows_the_form_in_each_language_and_every_sms(client, make_poll, login):
    make_poll("draft", status="draft")
    login("viewer")
    arabic = client.get("/admin/polls/draft/preview?lang=ar").get_data(as_text=True)
    assert 'dir="rtl"' in arabic and 'name="option"' in arabic
    english = client.get("/admin/polls/draft/preview?lang=en").get_data(as_text=True)
    assert "Dear citizen" in english
    for encoding in ("UCS-2", "GSM"):
        assert encoding in english
    assert "Reply STOP" in english and "USD" in english


def test_a_preview_submission_records_nothing(client, session, make_poll, make_links, login):
    poll = make_poll("live")
    make_links(poll, count=2)
    login()
    before = {model: rows(session, model) for model in (Answer, AuditEvent, OutboxMessage)}
    response = client.post("/admin/polls/live/preview?lang=en", data={
        "option": "1", "sex": "F", "age": "40", "governorate": "IQ-BG"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "would be recorded" in response.get_data(as_text=True)
    refused = client.post("/admin/polls/live/preview?lang=en", data={"option": "9"})
    assert refused.status_code == 400
    assert {model: rows(session, model) for model in before} == before
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Link).where(Link.answered_on.is_not(None))) == 0
    assert client.get("/api/v1/polls/live/results").get_json()["answered"] == 0


def test_operators_are_created_disabled_enabled_reset_and_deleted_by_name(client, session, login):
    login(name="amira")
    created = client.post("/admin/operators", data={"name": "samir", "password": "another long password",
                                                    "role": "viewer"})
    assert created.status_code == 303
    assert "samir" in client.get("/admin/operators").get_data(as_text=True)
    for step in ("disable", "enable"):
        assert client.post(f"/admin/operators/samir/{step}").status_code == 303
    assert client.post("/admin/operators/samir/reset-password",
                       data={"password": "short"}).status_code == 400
    assert client.post("/admin/operators/samir/reset-password",
                       data={"password": "a brand new password"}).status_code == 303
    assert client.post("/admin/operators/samir/delete").status_code == 303
    assert fresh(session).scalar(sa.select(Operator).where(Operator.name == "samir")) is None
    by = {event.action: event.actor for event in fresh(session).scalars(
        sa.select(AuditEvent).where(AuditEvent.subject == "samir"))}
    assert by == {"operator-created": "amira", "operator-disabled": "amira", "operator-enabled": "amira",
                  "password-reset": "amira", "operator-deleted": "amira"}


def test_an_api_token_is_shown_once_and_works(client, session, login):
    login(name="amira")
    page = client.post("/admin/operators/amira/token").get_data(as_text=True)
    token = page.split('class="token" dir="ltr">')[1].split("<")[0]
    assert rows(session, OperatorSession, OperatorSession.kind == "api") == 1
    assert token not in client.get("/admin/operators").get_data(as_text=True)
    assert client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post("/admin/operators/amira/revoke-tokens").status_code == 303
    [event] = audited(session, "token-issued")
    assert event.actor == "amira"


def test_the_last_admin_cannot_be_disabled_from_the_browser(client, session, login):
    login(name="amira")
    response = client.post("/admin/operators/amira/disable?lang=en")
    assert response.status_code == 400
    assert "last enabled admin" in response.get_data(as_text=True)
    assert not fresh(session).scalar(sa.select(Operator.is_disabled).where(Operator.name == "amira"))


def test_bad_operator_input_is_a_clear_page(client, login):
    login()
    response = client.post("/admin/operators?lang=en", data={"name": "x", "password": "p", "role": "king"})
    assert response.status_code == 400
    assert "operator names are" in response.get_data(as_text=True)
    assert client.post("/admin/operators/nobody/disable").status_code == 404
    assert client.post("/admin/operators/amira/fly").status_code == 404


def test_the_command_line_and_the_workspace_write_the_same_audit_entries(client, session, runner, make_poll,
                                                                         login, tmp_path):
    make_poll("draft", status="draft")
    path = tmp_path / "a.csv"
    path.write_text(AUDIENCE)
    assert runner.invoke(args=["audience", "import", "draft", str(path)]).exit_code == 0
    assert runner.invoke(args=["invite", "draft"]).exit_code == 0
    result = runner.invoke(args=["sms", "queue", "draft"])
    assert result.exit_code == 1 and "is a draft" in result.output
    [cli] = audited(session, "links-issued")
    assert cli.actor == "" and cli.detail == {"via": "cli", "issued": 3}
    assert polls.get_poll(fresh(session), "draft").status == "draft"


def test_the_preview_speaks_the_operators_language_unless_another_is_asked(client, make_poll, make_operator):
    make_poll("live")
    name, password = make_operator("kawa")
    assert client.post("/login?lang=ku", data={"name": name, "password": password}).status_code == 302
    assert 'lang="ckb"' in client.get("/admin/polls/live/preview").get_data(as_text=True)
    assert 'lang="en"' in client.get("/admin/polls/live/preview?lang=en").get_data(as_text=True)


def test_the_poll_page_links_its_downloads_each_saying_what_it_holds(client, make_poll, login):
    make_poll("live")
    login()
    page = client.get("/admin/polls/live?lang=en").get_data(as_text=True)
    for href, words in [("/api/v1/polls/live/answers.sav", "SPSS"), ("/api/v1/polls/live/answers.dta", "Stata"),
                        ("/api/v1/polls/live/answers.csv", "one row per response"),
                        ("/results/live/methodology", "Methodology statement"), ("/dashboard/live", "Dashboard")]:
        assert f'href="{href}"' in page and words in page


SPLIT = {key: value for key, value in polls.builtin_definition("coalition-2024-split-ballot").items() if key != "slug"}


def test_the_preview_shows_each_way_of_asking_of_a_split_ballot(client, make_poll, login):
    make_poll("split", status="draft", **SPLIT)
    login("viewer")
    first = client.get("/admin/polls/split/preview?lang=en").get_data(as_text=True)
    assert '<strong aria-current="page">Way 1 (as first written)</strong>' in first  # the first by default
    assert "variant=reversed" in first and "variant=two-step" in first  # plain links: no script needed
    assert 'name="variant" value="as-sent"' in first  # the form, sent, is read as the way it shows
    reversed_ = client.get("/admin/polls/split/preview?lang=en&variant=reversed").get_data(as_text=True)
    order = [reversed_.index(f'name="option" value="{code}"') for code in ("3", "2", "1")]
    assert order == sorted(order)  # the answers in the reversed order
    two_step = client.get("/admin/polls/split/preview?lang=en&variant=two-step").get_data(as_text=True)
    assert 'name="_step"' in two_step and "How should the mission end?" in two_step
    for page in (first, reversed_, two_step):  # every SMS of every way, named as readers are told of it
        for way in ("Way 1 (as first written)", "Way 2 (answers in another order)",
                    "Way 3 (other wording, asked in two steps)"):
            assert page.count(f"· {way}</td>") == 3  # in Arabic, Kurdish and English
    assert client.get("/admin/polls/split/preview?variant=nonsense").status_code == 404


def test_a_preview_of_the_two_step_way_is_read_as_that_way(client, make_poll, login):
    make_poll("split", status="draft", **SPLIT)
    login()
    profile = {"sex": "F", "age": "40", "governorate": "IQ-BG", "employment": "1", "education": "1"}
    response = client.post("/admin/polls/split/preview?lang=en", data={"variant": "two-step", "_step": "1", **profile})
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "This answer would be recorded: Support the continuation of the mission." in body  # "yes" is one answer
    assert 'name="variant" value="two-step"' in body
    # The same post read as the first way lacks its answer.
    assert client.post("/admin/polls/split/preview?lang=en", data={"_step": "1", **profile}).status_code == 400
