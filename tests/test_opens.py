"""Opening a personal link: a person's GET records the day it was opened, and nothing else does.

An open is what tells a refusal (the form seen and left) from a non-contact
(the SMS delivered, the link never looked at): without it every delivered
non-respondent of a live poll was a non-contact.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Request
from werkzeug.test import EnvironBuilder

from poll.models import Answer, Link, Receipt, utcnow
from poll.services.answering import tallies
from poll.services.definition import polls
from poll.web import previewers
from tests.helpers import fresh, rows


def opened_on(session, token: str):
    return fresh(session).scalar(sa.select(Link.opened_on).where(Link.token == token))


def opened_count(session, slug: str) -> int:
    poll = polls.get_poll(fresh(session), slug)
    return tallies.counters(session, poll)["opened"]


def test_a_get_records_the_day_the_link_was_opened_and_no_answer(client, session, make_poll, make_links):
    poll = make_poll("opened")
    token = make_links(poll)[0]
    assert client.get(f"/p/{token}").status_code == 200
    assert opened_on(session, token) == utcnow().date()
    assert opened_count(session, "opened") == 1
    assert rows(session, Answer) == 0 and rows(session, Receipt) == 0
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


@pytest.mark.parametrize("headers", [
    {"User-Agent": "WhatsApp/2.23.20.0 A"},
    {"User-Agent": "TelegramBot (like TwitterBot)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Viber/20.3)"},
    {"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
    {"User-Agent": "Twitterbot/1.0"},
    {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"},
    {"User-Agent": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"},
    {"User-Agent": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    {"Purpose": "prefetch"},
    {"Sec-Purpose": "prefetch;prerender"},
], ids=lambda headers: next(iter(headers.values())).split("/")[0].split(" ")[0])
def test_link_previews_crawlers_and_prefetches_are_not_opens(client, session, make_poll, make_links, headers):
    token = make_links(make_poll("previewed"))[0]
    assert client.get(f"/p/{token}", headers=headers).status_code == 200  # they still get the page
    assert opened_on(session, token) is None
    assert opened_count(session, "previewed") == 0


def test_a_phone_browser_is_a_person():
    seen = EnvironBuilder(headers={"User-Agent": "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 "
                                                 "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"})
    assert not previewers.is_link_preview(Request(seen.get_environ()))


def test_a_head_request_is_not_an_open(client, session, make_poll, make_links):
    token = make_links(make_poll("headed"))[0]
    assert client.head(f"/p/{token}").status_code == 200
    assert opened_on(session, token) is None


def test_an_operator_opening_a_link_is_audited_not_counted_as_an_open(client, session, make_poll, make_links, login):
    token = make_links(make_poll("operated"))[0]
    login()
    assert client.get(f"/p/{token}").status_code == 200
    assert opened_on(session, token) is None
    assert opened_count(session, "operated") == 0


def test_the_workspace_preview_opens_no_link(client, session, make_poll, make_links, login):
    token = make_links(make_poll("previewing"))[0]
    login()
    assert client.get("/admin/polls/previewing/preview?lang=en").status_code == 200
    assert opened_on(session, token) is None


def test_a_second_look_keeps_the_first_day(client, session, make_poll, make_links):
    poll = make_poll("again")
    token = make_links(poll)[0]
    assert client.get(f"/p/{token}").status_code == 200
    yesterday = utcnow().date() - timedelta(days=1)
    session.execute(sa.update(Link).where(Link.token == token).values(opened_on=yesterday))
    session.commit()
    assert client.get(f"/p/{token}").status_code == 200
    assert opened_on(session, token) == yesterday
    assert opened_count(session, "again") == 1


def test_opening_then_answering_counts_one_open(client, session, make_poll, make_links):
    poll = make_poll("both")
    token = make_links(poll)[0]
    client.get(f"/p/{token}")
    assert client.post(f"/p/{token}", data={"option": "2"}).status_code == 201
    assert opened_count(session, "both") == 1
    assert tallies.kept(session, poll) == tallies.recount(session, poll)


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_a_look_outside_the_field_period_is_not_an_open(client, session, make_poll, make_links, status):
    token = make_links(make_poll(f"look-{status}", status=status))[0]
    client.get(f"/p/{token}")
    assert opened_on(session, token) is None


def test_opened_links_left_unanswered_are_refusals_in_a_live_poll(client, runner, session, make_poll, make_links):
    # 30 links handed out: 12 answered, 8 opened and left, 10 never looked at.
    tokens = make_links(make_poll("live"), count=30)
    for i, token in enumerate(tokens[:20]):
        assert client.get(f"/p/{token}").status_code == 200
        if i < 12:
            assert client.post(f"/p/{token}", data={"option": "123"[i % 3]}).status_code == 201
    result = runner.invoke(args=["results", "live", "--json"])
    assert result.exit_code == 0, result.output
    cases = json.loads(result.output)["rates"]["dispositions"]
    assert (cases["complete"], cases["refusal"]) == (12, 8)
    assert json.loads(result.output)["rates"]["COOP1"] == pytest.approx(12 / 20)


def simulate(session, poll, *, answer: bool, seed: int = 3):
    from poll.services.simulations import simulation
    from poll.simulate import scenario

    plan = simulation.Plan(scenario.load("baseline"), population_size=6_000, sample_size=3_000, seed=seed)
    return simulation.run_in_process(session, poll, plan, answer=answer)


def test_a_live_simulation_leaves_opening_to_its_phones(session, make_poll):
    # Live, the server must see each open as a GET: nothing is written as opened before the phones look.
    from poll.services.simulations import simulation

    poll = make_poll("rehearsal", status="draft")
    _run, world = simulate(session, poll, answer=False)
    session.flush()
    assert session.scalar(sa.select(sa.func.count()).where(Link.poll_id == poll.id, Link.opened_on.is_not(None))) == 0
    assert tallies.counters(session, poll)["opened"] == 0
    events = simulation.live_events(session, poll, world)
    looks = [event for event in events if event.kind == "open"]
    left = int((world.field.opened & ~world.field.answered).sum())
    assert len(looks) == left > 0 and not any(event.fields for event in looks)


def test_an_in_process_simulation_opens_links_as_the_answer_page_does(session, make_poll, monkeypatch):
    from poll.services.answering import answers

    through = []
    service = answers.record_opens
    monkeypatch.setattr(answers, "record_opens", lambda *args: through.append(service(*args)) or through[-1])
    poll = make_poll("in-process", status="draft")
    _run, world = simulate(session, poll, answer=True)
    session.flush()
    assert through == [int(world.field.opened.sum())]
    opened = session.scalar(sa.select(sa.func.count()).where(Link.poll_id == poll.id, Link.opened_on.is_not(None)))
    assert opened == int(world.field.opened.sum()) == tallies.counters(session, poll)["opened"]
    assert tallies.kept(session, poll) == tallies.recount(session, poll)
