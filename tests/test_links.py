"""`poll invite` and `poll links`: one unguessable link per recipient, issued in bulk, idempotent."""

import base64
import math
from collections import Counter

import pytest
import sqlalchemy as sa

from poll.models import Link, Recipient, utcnow
from poll.services import lifecycle
from poll.services.answering import tallies
from poll.services.audience import links
from poll.services.definition import polls
from tests.helpers import fresh

SPLIT = "coalition-2024-split-ballot"


def test_invite_issues_one_link_per_recipient_and_is_idempotent(runner, session, make_poll, make_links):
    poll = make_poll("invite-me")
    make_links(poll, count=5)
    ids_before = fresh(session).scalars(sa.select(Link.id).order_by(Link.id)).all()
    result = runner.invoke(args=["invite", "invite-me"])
    assert result.exit_code == 0
    assert "0 links issued; 5 in all" in result.output
    assert fresh(session).scalars(sa.select(Link.id).order_by(Link.id)).all() == ids_before


def test_invite_issues_only_the_missing_links(runner, session, make_poll, make_links, tmp_path):
    make_poll("grow")
    path = tmp_path / "a.csv"
    path.write_text("phone\n07701234567\n07701234568\n")
    runner.invoke(args=["audience", "import", "grow", str(path)])
    assert "2 links issued; 2 in all" in runner.invoke(args=["invite", "grow"]).output
    path.write_text("phone\n07701234567\n07701234568\n07701234569\n")
    runner.invoke(args=["audience", "import", "grow", str(path)])
    assert "1 links issued; 3 in all" in runner.invoke(args=["invite", "grow"]).output


@pytest.mark.parametrize("experiment", [False, True])
def test_links_are_counted_by_stratum_as_a_recount_of_every_link_would(session, make_poll, make_links, experiment):
    # Issuing adds what it issued to the counters; a second round must add to the first, not replace it.
    changes = {"experiment": polls.builtin_definition(SPLIT)["experiment"]} if experiment else {}
    poll = make_poll(**changes)
    make_links(poll, count=7)
    make_links(poll, count=4, governorate="IQ-BA", sex="M", age_band="18-29")
    make_links(poll, count=2, governorate=None, sex=None, age_band=None)
    issued = {name: value for name, value in tallies.counters(session, poll).items() if name.startswith("invited")}
    recounted = Counter()
    for governorate, sex, age_band, variant in session.execute(
            sa.select(Recipient.governorate, Recipient.sex, Recipient.age_band, Link.variant)
            .join(Link, Link.recipient_id == Recipient.id).where(Link.poll_id == poll.id)):
        recounted.update({"invited": 1, f"invited:governorate:{governorate or ''}": 1, f"invited:sex:{sex or ''}": 1,
                          f"invited:age_band:{age_band or ''}": 1})
        if variant is not None:
            recounted[f"invited:variant:{variant}"] += 1
    assert issued == {name: value for name, value in tallies.counters(session, poll).items()
                      if name.startswith("invited") and value} == dict(recounted)
    assert issued["invited"] == 13 and issued["invited:governorate:IQ-BA"] == 4 and issued["invited:sex:"] == 2
    assert sum(value for name, value in issued.items() if name.startswith("invited:variant:")) == (13 if experiment
                                                                                                  else 0)


def test_the_invite_plan_counts_the_links_it_would_issue_without_issuing_them(session, make_poll, make_links):
    poll = make_poll()
    make_links(poll, count=3)
    audience = polls.audience_of(session, poll)
    session.add_all([Recipient(audience_id=audience.id, phone=f"+96477012300{n}") for n in range(2)])
    session.flush()
    plan = lifecycle.plan(session, poll, "invite", lifecycle.Settings(base_url="https://poll.example.iq", sender="POLL"),
                          now=utcnow())
    assert plan.links == 2 and plan.refusal is None
    assert links.count_links(session, poll) == 3
    assert links.issue_links(session, poll) == 2 and links.pending(session, poll) == 0


def test_tokens_are_22_url_safe_characters_of_128_random_bits(session, make_poll, make_links):
    tokens = make_links(make_poll(), count=2000)
    assert len(set(tokens)) == len(tokens)
    assert all(links.is_well_formed(token) for token in tokens)
    # 21 full characters carry 6 bits each, the last 2; a CSPRNG spreads them evenly.
    counts = Counter("".join(token[:21] for token in tokens))
    expected = 2000 * 21 / 64
    chi2 = sum((counts.get(ch, 0) - expected) ** 2 / expected for ch in
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # 63 degrees of freedom: p < 1e-6 beyond 130.
    assert chi2 < 130
    assert math.log2(64) * 21 + 2 >= 128


def test_links_prints_one_url_a_line_from_the_base_url(runner, make_poll, make_links):
    tokens = make_links(make_poll("print-me"), count=4)
    result = runner.invoke(args=["links", "print-me"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [f"https://poll.example.iq/p/{token}" for token in tokens]
    limited = runner.invoke(args=["links", "print-me", "--limit", "2"]).output.splitlines()
    assert limited == [f"https://poll.example.iq/p/{token}" for token in tokens[:2]]


def test_links_ignore_the_host_header(client, app, make_poll, make_links):
    # Links are built from configuration only: a forged Host header changes nothing.
    token = make_links(make_poll())[0]
    body = client.get(f"/p/{token}", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in body


def test_links_refuse_a_negative_limit(runner, make_poll):
    make_poll("neg")
    result = runner.invoke(args=["links", "neg", "--limit", "-1"])
    assert result.exit_code == 2


def test_unanswered_links_of_an_anonymous_poll_with_real_recipients_are_not_listed(runner, make_poll, make_links):
    # Which links are still unanswered would tell who answered an anonymous poll.
    poll = make_poll("real-people")
    make_links(poll, 3)  # imported recipients: real people
    result = runner.invoke(args=["links", "real-people", "--unanswered"])
    assert result.exit_code != 0 and "would tell who answered" in result.output
    assert runner.invoke(args=["links", "real-people"]).output.count("/p/") == 3
    named = make_poll("named", anonymous=False)
    make_links(named, 2)
    assert runner.invoke(args=["links", "named", "--unanswered"]).output.count("/p/") == 2


def test_tokens_made_in_bulk_are_each_tokens_own_encoding():
    # All tokens are encoded in one pass; each must still be exactly what encoding its 16 bytes alone gives.
    raw = bytes(range(256)) * 3 + bytes(16 * 5)
    expected = [base64.urlsafe_b64encode(raw[i : i + 16]).decode().rstrip("=") for i in range(0, len(raw), 16)]
    assert links._encoded(raw) == expected
    assert links._encoded(b"") == []
