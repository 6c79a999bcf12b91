"""The answer page /p/<token>: every outcome, its page, its status, and the database after."""

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from poll.models import Answer, Link, PollCounter, Receipt, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.web import echo
from tests.helpers import fresh, rows, statements_run

# The article's whole form, every question answered.
WHOLE_FORM = {"option": "2", "sex": "F", "age": "34", "governorate": "IQ-BA", "employment": "4", "education": "3"}


def test_get_shows_the_question_in_arabic_right_to_left(client, make_poll, make_links):
    token = make_links(make_poll())[0]
    response = client.get(f"/p/{token}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'dir="rtl"' in body and 'lang="ar"' in body
    assert "هل أنت مع استمرار مهمة التحالف الدولي في العراق؟" in body
    assert body.count('type="radio" name="option"') == 3
    assert f'action="/p/{token}"' in body


@pytest.mark.parametrize(
    ("lang", "html_lang", "direction", "text"),
    [
        ("ku", "ckb", "rtl", "ئەرکی هاوپەیمانیی"),
        ("en", "en", "ltr", "International Coalition"),
        ("ar", "ar", "rtl", "التحالف الدولي"),
    ],
)
def test_language_switch_by_link(client, make_poll, make_links, lang, html_lang, direction, text):
    token = make_links(make_poll())[0]
    body = client.get(f"/p/{token}?lang={lang}").get_data(as_text=True)
    assert f'lang="{html_lang}" dir="{direction}"' in body
    assert text in body


def test_interface_strings_are_translated(client, make_poll, make_links):
    token = make_links(make_poll())[0]  # the article's whole form: several questions
    assert "أرسل إجاباتي" in client.get(f"/p/{token}?lang=ar").get_data(as_text=True)
    assert "وەڵامەکانم بنێرە" in client.get(f"/p/{token}?lang=ku").get_data(as_text=True)
    assert "Send my answers" in client.get(f"/p/{token}?lang=en").get_data(as_text=True)
    single = make_links(make_poll(question={"en": "Tea?"}, options=[{"code": "1", "label": {"en": "Yes"}},
                                                                    {"code": "2", "label": {"en": "No"}}]))[0]
    assert "أرسل إجابتي" in client.get(f"/p/{single}?lang=ar").get_data(as_text=True)
    assert "وەڵامەکەم بنێرە" in client.get(f"/p/{single}?lang=ku").get_data(as_text=True)


def test_accept_language_chooses_when_the_link_does_not(client, make_poll, make_links):
    token = make_links(make_poll())[0]
    body = client.get(f"/p/{token}", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="en" dir="ltr"' in body
    body = client.get(f"/p/{token}", headers={"Accept-Language": "ckb-IQ"}).get_data(as_text=True)
    assert 'lang="ckb" dir="rtl"' in body


def test_recipient_language_beats_the_browser(client, make_poll, make_links):
    token = make_links(make_poll(), language="ku")[0]
    body = client.get(f"/p/{token}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="ckb"' in body


def test_get_records_no_answer_only_the_open(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    for _ in range(3):
        assert client.get(f"/p/{token}").status_code == 200
    assert rows(session, Answer) == 0 and rows(session, Receipt) == 0
    invitation = session.scalar(sa.select(Link).where(Link.token == token))
    assert invitation.answered_on is None and invitation.opened_on == utcnow().date()  # tests/test_opens.py


def test_post_records_the_answer_and_thanks(client, session, make_poll, make_links):
    poll = make_poll()
    token = make_links(poll)[0]
    response = client.post(f"/p/{token}", data={"option": "2", "lang": "en"})
    assert response.status_code == 201
    assert "Your answer has been recorded" in response.get_data(as_text=True)
    answer = session.scalar(sa.select(Answer))
    assert answer.poll_id == poll.id
    assert answer.channel == "web"
    assert (answer.governorate, answer.sex, answer.age_band) == ("IQ-BG", "F", "30-44")
    invitation = session.scalar(sa.select(Link).where(Link.token == token))
    assert invitation.answered_on is not None and invitation.opened_on is not None


def test_second_answer_is_refused_and_changes_nothing(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 201
    response = client.post(f"/p/{token}", data={"option": "3", "lang": "en"})
    assert response.status_code == 409
    assert "already recorded" in response.get_data(as_text=True)
    assert rows(session, Answer) == 1
    assert session.scalar(sa.select(Answer.option_id)) == session.scalar(
        sa.text("SELECT id FROM options WHERE code = '1' AND poll_id = (SELECT poll_id FROM answers)")
    )


def test_opening_an_answered_link_of_a_poll_that_is_not_anonymous_says_so(client, make_poll, make_links):
    token = make_links(make_poll(anonymous=False))[0]
    client.post(f"/p/{token}", data={"option": "1"})
    response = client.get(f"/p/{token}?lang=en")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Your answer is already recorded" in body and 'name="option"' not in body


@pytest.mark.parametrize("query", ["?lang=en", "?lang=ku", ""])
def test_an_anonymous_polls_used_link_looks_unused_until_a_post(client, make_poll, make_links, query):
    # Whoever holds the list of links (an admin) must not learn who answered by opening them.
    token = make_links(make_poll(), language="ku")[0]
    headers = {"Accept-Language": "en"}
    unused = {method: client.open(f"/p/{token}{query}", method=method, headers=headers) for method in ("GET", "HEAD")}
    assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 201
    for method, before in unused.items():
        after = client.open(f"/p/{token}{query}", method=method, headers=headers)
        assert (after.status_code, after.get_data()) == (before.status_code, before.get_data())
        assert sorted(after.headers.items()) == sorted(before.headers.items())
    assert unused["GET"].status_code == 200 and b'name="option"' in unused["GET"].get_data()


def test_a_bad_post_to_a_used_link_is_refused_as_to_an_unused_one(client, session, make_poll, make_links):
    # A post that is not an answer must not tell a used link from an unused one either.
    poll = make_poll()
    used, unused = make_links(poll, 2)
    assert client.post(f"/p/{used}", data={"option": "1"}).status_code == 201
    for data in ({}, {"option": "9"}, {"option": ["1", "2"]}, {"option": "1", "age": "old"}):
        refused = [client.post(f"/p/{token}", data=data | {"lang": "en"}) for token in (used, unused)]
        assert [response.status_code for response in refused] == [400, 400]
        assert refused[0].get_data(as_text=True).replace(used, unused) == refused[1].get_data(as_text=True)
    counters = tallies.counters(fresh(session), poll)
    assert counters["refused:invalid-option"] == 8 and not counters.get("refused:already-answered")
    assert rows(session, Answer) == 1


@pytest.mark.parametrize(("lang", "text"), [("ar", "إجابتك مسجلة مسبقاً"), ("ku", "وەڵامەکەت پێشتر تۆمار کراوە"), ("en", "already recorded")])
def test_who_answered_and_comes_back_sees_the_form_and_is_told_on_sending(client, session, make_poll, make_links,
                                                                          lang, text):
    token = make_links(make_poll(), language=lang)[0]
    assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 201
    assert 'name="option"' in client.get(f"/p/{token}").get_data(as_text=True)
    again = client.post(f"/p/{token}", data={"option": "2", "lang": lang})
    assert again.status_code == 409 and text in again.get_data(as_text=True)
    assert rows(session, Answer) == 1


@pytest.mark.parametrize("data", [{}, {"option": ""}, {"option": "9"}, {"option": "1' OR '1'='1"}, {"option": "٣"}])
def test_missing_or_unknown_option_is_400_with_the_form(client, session, make_poll, make_links, data):
    token = make_links(make_poll())[0]
    response = client.post(f"/p/{token}", data=data | {"lang": "en"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Please choose one of the answers" in body and 'name="option"' in body
    assert rows(session, Answer) == 0 and rows(session, Receipt) == 0


def test_option_of_another_poll_is_refused(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    other = make_poll(options=[{"code": "7", "label": {"en": "Yes"}}, {"code": "8", "label": {"en": "No"}}])
    assert {option.code for option in other.options} == {"7", "8"}
    assert client.post(f"/p/{token}", data={"option": "7"}).status_code == 400
    assert rows(session, Answer) == 0


def test_each_poll_shows_and_takes_its_own_options(client, session, make_poll, make_links):
    first = make_links(make_poll())[0]
    assert "International Coalition" in client.get(f"/p/{first}?lang=en").get_data(as_text=True)
    other = make_poll(question={"en": "Is the water clean?"},
                      options=[{"code": "7", "label": {"en": "Clean"}}, {"code": "8", "label": {"en": "Dirty"}}])
    second = make_links(other)[0]
    body = client.get(f"/p/{second}?lang=en").get_data(as_text=True)
    assert "Is the water clean?" in body and "Dirty" in body and "Coalition" not in body
    assert client.post(f"/p/{second}", data={"option": "8"}).status_code == 201
    assert client.post(f"/p/{first}", data={"option": "8"}).status_code == 400
    assert fresh(session).scalar(sa.select(Answer.option_id)) == other.options[1].id


def test_a_page_view_reads_one_row_once_the_poll_is_known(app, client, make_poll, make_links):
    # A link's first look also marks it opened (its day and the counter); every later look writes nothing.
    first, second = make_links(make_poll(), 2)
    client.get(f"/p/{first}")
    engine = app.extensions["poll.db"].kw["bind"]
    with statements_run(engine) as statements:
        assert client.get(f"/p/{second}").status_code == 200
    verbs = [s.split()[0].upper() for s in statements]
    # The look and the open: a read, then two statements in one transaction on SQLite; on PostgreSQL one
    # statement (the link's row, the open's two writes), one round trip.
    looking = ["SELECT", "UPDATE", "INSERT"] if engine.dialect.name == "sqlite" else ["WITH"]
    assert [verb for verb in verbs if verb not in {"BEGIN", "COMMIT", "ROLLBACK"}] == looking
    opened = _counter(app, "opened")
    with statements_run(engine) as statements:
        assert client.get(f"/p/{second}").status_code == 200
    verbs = [s.split()[0].upper() for s in statements]
    assert [verb for verb in verbs if verb not in {"BEGIN", "COMMIT", "ROLLBACK"}] == looking[:1]
    assert _counter(app, "opened") == opened == 2


def _counter(app, name: str) -> int:
    with app.extensions["poll.db"]() as session:
        return session.scalar(sa.select(PollCounter.value).where(PollCounter.name == name))


def test_an_answer_is_one_read_and_the_writes_that_belong_together(app, client, make_poll, make_links):
    # The link's row, then the answer's writes in one transaction: nothing else on the respondent's path.
    first, second = make_links(make_poll(), 2)
    client.post(f"/p/{first}", data=WHOLE_FORM)
    with statements_run(app.extensions["poll.db"].kw["bind"]) as statements:
        assert client.post(f"/p/{second}", data=WHOLE_FORM).status_code == 201
    verbs = [s.split()[0].upper() for s in statements if s.split()[0].upper() not in {"BEGIN", "COMMIT"}]
    assert verbs[0] == "SELECT" and "SELECT" not in verbs[1:] and len(verbs) <= 8
    assert "ROLLBACK" not in verbs


@pytest.mark.parametrize(
    "token",
    [
        "AAAAAAAAAAAAAAAAAAAAAA",  # well-formed, not issued
        "short",
        "a" * 10_000,
        "%00%00",
        "..%2F..%2Fetc%2Fpasswd",
        "<script>alert(1)</script>",
        "ＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡ",  # full-width look-alikes
    ],
)
def test_unknown_or_malformed_token_is_404_and_reveals_nothing(client, session, make_poll, make_links, token):
    make_links(make_poll())
    for response in (client.get(f"/p/{token}"), client.post(f"/p/{token}", data={"option": "1"})):
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        assert "<script>alert" not in body
        assert "question" not in body
    assert rows(session, Answer) == 0


def test_unknown_token_page_is_in_the_requested_language(client):
    response = client.get("/p/AAAAAAAAAAAAAAAAAAAAAA?lang=ar")
    assert response.status_code == 404
    assert "هذا الرابط غير صالح" in response.get_data(as_text=True)


def test_closed_poll_refuses_with_its_date(client, session, make_poll, make_links):
    poll = make_poll()
    token = make_links(poll)[0]
    polls.close_poll(session, poll)
    session.commit()
    for response in (client.get(f"/p/{token}?lang=en"), client.post(f"/p/{token}", data={"option": "1", "lang": "en"})):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "This poll is closed" in body and "It closed on" in body
    assert rows(session, Answer) == 0


def test_poll_not_open_yet_shows_when_it_opens(client, session, make_poll, make_links):
    poll = make_poll(status="draft")
    token = make_links(poll)[0]
    response = client.post(f"/p/{token}", data={"option": "1", "lang": "en"})
    assert response.status_code == 403
    assert "not open yet" in response.get_data(as_text=True)
    polls.open_poll(session, poll, at=utcnow() + timedelta(days=2))
    session.commit()
    response = client.get(f"/p/{token}?lang=en")
    assert response.status_code == 403
    assert "It opens on" in response.get_data(as_text=True)
    assert rows(session, Answer) == 0


def test_poll_past_its_closing_time_is_closed(client, session, make_poll, make_links):
    poll = make_poll(status="draft")
    token = make_links(poll)[0]
    polls.open_poll(session, poll, at=utcnow() - timedelta(days=2), until=utcnow() - timedelta(days=1))
    session.commit()
    assert client.post(f"/p/{token}", data={"option": "1"}).status_code == 410


def test_answer_pages_send_no_referrer_and_are_not_cached(client, make_poll, make_links):
    token = make_links(make_poll())[0]
    response = client.get(f"/p/{token}")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_wrong_method_is_405_page(client, make_poll, make_links):
    token = make_links(make_poll())[0]
    response = client.delete(f"/p/{token}")
    assert response.status_code == 405


def test_oversized_body_is_413_and_records_nothing(client, session, make_poll, make_links):
    token = make_links(make_poll())[0]
    response = client.post(f"/p/{token}", data={"option": "1", "pad": "x" * 200_000})
    assert response.status_code == 413
    assert rows(session, Answer) == 0


def test_anonymous_answer_keeps_no_link_to_the_invitation(client, session, make_poll, make_links):
    tokens = make_links(make_poll(), count=3)
    for token in tokens:
        client.post(f"/p/{token}", data={"option": "2"})
    answers = session.scalars(sa.select(Answer)).all()
    assert len(answers) == 3
    assert all(answer.link_id is None for answer in answers)
    # Coarse time: the hour only, never the exact moment kept on the invitation.
    assert all(answer.answered_hour.minute == answer.answered_hour.second == 0 for answer in answers)
    # Ids are random, so their order says nothing about who answered first.
    link_ids = session.scalars(sa.select(Link.id)).all()
    assert not {answer.id for answer in answers} & set(link_ids)
    assert max(answer.id for answer in answers) > 2**32


def test_poll_without_anonymity_keeps_the_invitation(client, session, make_poll, make_links):
    token = make_links(make_poll(anonymous=False))[0]
    client.post(f"/p/{token}", data={"option": "2"})
    link_id = session.scalar(sa.select(Link.id).where(Link.token == token))
    assert session.scalar(sa.select(Answer.link_id)) == link_id


def test_the_pages_after_the_form_name_the_question_and_say_who_runs_the_poll(client, make_poll, make_links):
    poll = make_poll("after", contact={"en": "pollster@example.org", "ar": "pollster@example.org"},
                     sender={"en": "The Opinion Centre", "ar": "مركز الرأي"})
    first, second = make_links(poll, count=2)
    recorded = client.post(f"/p/{first}", data={"option": "2", "lang": "en"}).get_data(as_text=True)
    # The answer just given is shown back, on this page only.
    assert "End the mission through dialogue" in recorded.split("class=\"chosen\"")[1]
    assert "This poll is run by The Opinion Centre" in recorded
    assert "pollster@example.org" in recorded and "/results/after" in recorded
    again = client.post(f"/p/{first}", data={"option": "1", "lang": "en"}).get_data(as_text=True)
    assert "already recorded" in again and "Coalition" in again  # the question named
    assert "class=\"chosen\"" not in again  # whoever holds the link later does not learn the answer


def test_a_closed_poll_names_its_question(client, make_poll, make_links):
    poll = make_poll("ended", status="closed")
    (token,) = make_links(poll, count=1)
    page = client.get(f"/p/{token}?lang=ar")
    assert page.status_code == 410
    body = page.get_data(as_text=True)
    assert "question-named" in body and "التحالف الدولي" in body


def test_dates_use_the_iraqi_month_names(client, session, make_poll, make_links):
    poll = make_poll(status="draft")
    token = make_links(poll)[0]
    polls.open_poll(session, poll, at=datetime(2040, 12, 5, 9, tzinfo=timezone.utc))
    session.commit()
    page = client.get(f"/p/{token}?lang=ar").get_data(as_text=True)
    assert "كانون الأول" in page and "ديسمبر" not in page


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_is_sent_from_its_answer_to_a_page_it_may_reload(client, session, make_poll, make_links):
    # POST → redirect → GET: Back or Reload after answering never asks to send the form again.
    token = make_links(make_poll())[0]
    response = client.post(f"/p/{token}", data={"option": "2", "lang": "en"}, headers=BROWSER)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/p/{token}" and parse_qs(location.query)["lang"] == ["en"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    for _ in range(2):  # and again, as a reload does
        page = client.get(response.headers["Location"], headers=BROWSER)
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "Your answer has been recorded" in body and "End the mission through dialogue" in body and "<form" not in body
    assert rows(session, Answer) == 1


def test_the_echo_in_the_url_hides_the_answer_and_is_good_for_its_link_only(app, client, make_poll, make_links):
    token, second, other = make_links(make_poll(), count=3)
    sent = [client.post(f"/p/{link}", data={"option": code}, headers=BROWSER).headers["Location"]
            for link, code in ((token, "1"), (second, "2"))]
    sealed = [parse_qs(urlsplit(url).query)["sent"][0] for url in sent]
    assert len(sealed[0]) == len(sealed[1])  # the answer cannot be read from the value, nor from its length
    with app.test_request_context():
        assert echo.open_(token, sealed[0], now=utcnow()) == "1"
        assert echo.open_(other, sealed[0], now=utcnow()) is None  # of another link: nothing
        assert echo.open_(token, sealed[0][:-2] + "AA", now=utcnow()) is None  # forged: nothing
        late = utcnow() + timedelta(minutes=echo.ECHO_MINUTES + 1)
        assert echo.open_(token, sealed[0], now=late) is None  # later, the link looks as it does without it
    elsewhere = client.get(f"/p/{other}?lang=en&sent={sealed[0]}")
    assert elsewhere.status_code == 200 and 'name="option"' in elsewhere.get_data(as_text=True)
    assert "recorded" not in elsewhere.get_data(as_text=True)


def test_a_refused_post_from_a_browser_is_answered_at_once(client, make_poll, make_links):
    token = make_links(make_poll())[0]
    assert client.post(f"/p/{token}", data={"option": "9"}, headers=BROWSER).status_code == 400
    assert client.post(f"/p/{token}", data={"option": "1"}, headers=BROWSER).status_code == 303
    assert client.post(f"/p/{token}", data={"option": "1"}, headers=BROWSER).status_code == 409
