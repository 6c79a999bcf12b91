"""Attacks from outside the app's own reasoning: an operator, a member of the public or a reader of the logs
trying to learn how (or whether) a given phone answered an anonymous poll.

Each test plays one attack end to end through the app's outputs. Where the
defence holds, the test says so and keeps it held; where it does not, the
test fails until it does.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from poll.models import Recipient
from tests.helpers import fresh

SECRET = "s3cret-for-tests"


def mo(client, **params):
    """An SMS from a phone, as Kannel's get-url hands it over."""
    return client.get("/sms/kannel/mo", query_string={"secret": SECRET, **params})


def phones_of(session, poll) -> list[str]:
    """The phones of `poll`'s audience, in the order their links were issued."""
    from poll.models import Link

    return list(fresh(session).scalars(
        sa.select(Recipient.phone).join(Link, Link.recipient_id == Recipient.id)
        .where(Link.poll_id == poll.id).order_by(Link.id)))


# Who answered, told by a STOP.
#
# An admin learns that a phone opted out (its invitation to any later poll is cancelled: the links list shows it
# never sent, the simulated phone view shows nothing). The outcome rates then count that phone's STOP as a
# refusal only if its link was not answered, so the rates, exact for operators and for the public, say whether
# that phone answered: the one thing "Who answered stays untold" promises no one can learn.

def test_a_known_stop_does_not_tell_whether_that_phone_answered(app, client, runner, session, make_poll,
                                                                  make_links, login):
    app.config["SMS_SECRET"] = SECRET
    seen = {}
    for world, answering in (("x-answered", 0), ("y-answered", 1)):
        poll = make_poll(world)
        tokens = make_links(poll, count=14)
        assert runner.invoke(args=["sms", "queue", world]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        phones = phones_of(session, poll)
        # Twelve others answer alike in both worlds; of X (the first) and Y (the second) exactly one answers.
        for number, token in enumerate(tokens[2:]):
            assert client.post(f"/p/{token}", data={"option": "123"[number % 3]}).status_code == 201
        assert client.post(f"/p/{tokens[answering]}", data={"option": "2"}).status_code == 201
        # X sends STOP: the admin will know (and Y did not).
        assert mo(client, **{"from": phones[0][1:], "text": "STOP", "id": f"stop-{world}"}).status_code == 200
        operator = json.loads(runner.invoke(args=["results", world, "--json"]).output)
        public = client.get(f"/api/v1/polls/{world}/results").get_json()
        seen[world] = (operator["answered"], operator["rates"]["dispositions"], public["answered"],
                       public["rates"]["dispositions"])
    # Both worlds have 13 answers; all an operator or the public sees must be alike.
    assert seen["x-answered"] == seen["y-answered"]


# Who answered, told by a reminder's delivery report.
#
# A reminder goes only to a link not answered yet; the phone view leaves reminders out for that reason. But a
# link's `delivered_at` (in the links list) and the funnel's "delivered" (on the dashboard and public) are set by
# the first delivery report of any message of the link: when the invitation's report never came (common on real
# networks), a delivered reminder sets them, and only a link not answered gets one.

def test_a_reminders_delivery_report_does_not_tell_who_answered(app, client, runner, session, make_poll,
                                                                 make_links, login):
    from poll.models import OutboxMessage

    app.config["SMS_SECRET"] = SECRET
    login("admin")
    seen = {}
    for world, answering in (("x-answered", 0), ("y-answered", 1)):
        poll = make_poll(world)
        tokens = make_links(poll, count=12)
        assert runner.invoke(args=["sms", "queue", world]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        phones = phones_of(session, poll)
        # Every invitation's delivery is reported but X's (the first), whose report is lost.
        for message_id in fresh(session).scalars(
                sa.select(OutboxMessage.id).where(OutboxMessage.phone.in_(phones[1:]))):
            assert client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": message_id,
                                                               "status": 1}).status_code == 200
        for number, token in enumerate(tokens[2:]):
            assert client.post(f"/p/{token}", data={"option": "123"[number % 3]}).status_code == 201
        assert client.post(f"/p/{tokens[answering]}", data={"option": "2"}).status_code == 201
        # Reminders go out, and every one is reported delivered.
        assert runner.invoke(args=["sms", "remind", world, "--after", "0"]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        for message_id in fresh(session).scalars(sa.select(OutboxMessage.id).where(
                OutboxMessage.kind == "reminder", OutboxMessage.phone.in_(phones))):
            client.get("/sms/kannel/dlr", query_string={"secret": SECRET, "message": message_id, "status": 1})
        listed = client.get(f"/api/v1/polls/{world}/links.csv").get_data(as_text=True).splitlines()
        header, x_row = listed[0].split(","), listed[1].split(",")
        public = client.get(f"/api/v1/polls/{world}/results").get_json()
        seen[world] = (bool(x_row[header.index("delivered_at")]), public["delivered"])
    assert seen["x-answered"] == seen["y-answered"]


# Who answered, told by how many reminders were queued.
#
# `poll sms remind SLUG --after H` reminds the links whose last message is older than H hours and that were not
# answered, prints how many and writes the number in the audit trail. An admin who sent one phone its invitation
# an hour before everyone else (an audience of that phone alone, imported first) then asks for reminders after
# one hour: the count is 1 or 0 as that phone has not answered or has.

def test_a_narrow_reminder_run_does_not_count_whether_one_phone_answered(client, runner, session, make_poll,
                                                                          make_links):
    from datetime import timedelta

    from poll.models import OutboxMessage

    said = {}
    for world, x_answers in (("x-answered", True), ("x-silent", False)):
        poll = make_poll(world)
        x_token = make_links(poll)[0]
        assert runner.invoke(args=["sms", "queue", world]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        # X's invitation went out two hours before the others'.
        invitation = fresh(session).scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).one()
        invitation.sent_at -= timedelta(hours=2)
        session.commit()
        others = make_links(poll, count=12)
        assert runner.invoke(args=["sms", "queue", world]).exit_code == 0
        assert runner.invoke(args=["dispatch", "--once"]).exit_code == 0
        for number, token in enumerate(others[: 11 if x_answers else 12]):
            assert client.post(f"/p/{token}", data={"option": "123"[number % 3]}).status_code == 201
        if x_answers:
            assert client.post(f"/p/{x_token}", data={"option": "2"}).status_code == 201
        said[world] = runner.invoke(args=["sms", "remind", world, "--after", "1"]).output
    assert said["x-answered"] == said["x-silent"]


# The public budget: many first looks at once, HEAD among them, then a close and a reopening, spend no more
# than the poll states.

def test_many_concurrent_first_looks_and_a_reopening_spend_no_more_than_the_budget(app, client, session, make_poll,
                                                                                  make_links):
    import threading
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    from poll.services.definition import polls
    from poll.services.releases import ledger, publication

    poll = make_poll("watched")
    for number, token in enumerate(make_links(poll, count=40)):
        assert client.post(f"/p/{token}", data={"option": "123"[number % 3]}).status_code == 201
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    statuses = []

    def look(path: str, method: str) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    try:
        lookers = [threading.Thread(target=look, args=(path, method))
                   for path in ("/results/watched", "/api/v1/polls/watched/results", "/results/watched/methodology")
                   for method in ("GET", "HEAD") for _ in range(4)]
        for looker in lookers:
            looker.start()
        for looker in lookers:
            looker.join()
    finally:
        server.shutdown()
    assert set(statuses) <= {200, 503}, statuses
    poll = polls.get_poll(fresh(session), "watched")
    assert len(ledger.entries(session, poll, publication.PUBLIC_RELEASE)) == 1
    # Closed (the final release), reopened, closed again: nothing more is released.
    for change in (polls.close_poll, polls.open_poll, polls.close_poll):
        change(session, poll)
        session.commit()
        app.config["PUBLIC_REFRESH_MINUTES"] = 0
        assert client.get("/api/v1/polls/watched/results").status_code == 200
        assert client.head("/results/watched").status_code == 200
    entries = ledger.entries(fresh(session), poll, publication.PUBLIC_RELEASE)
    assert len(entries) == poll.release_limit
    assert sum(entry.epsilon for entry in entries) <= poll.epsilon_total + 1e-9


# Exports at several moments, joined as an attacker who knew every respondent's row in each would: the defence
# holds (no group of fewer than ten, or of one option). But the first export fixes the shape of every later one
# for good: a viewer who exports early stops every operator from ever exporting the poll's answers again, however
# many answer afterwards (and the refusal says the poll has too few answers).

def answer_profiled(client, tokens, people, rng) -> None:
    from tests.test_questionnaire import WHOLE_FORM

    for token, (governorate, sex, age) in zip(tokens, people, strict=True):
        form = WHOLE_FORM | {"option": str(rng.choice(["1", "2", "3"], p=[0.5, 0.3, 0.2])),
                             "employment": str(rng.integers(1, 8)), "education": str(rng.integers(1, 6)),
                             "governorate": governorate, "sex": sex, "age": str(age)}
        assert client.post(f"/p/{token}", data=form).status_code == 201


@pytest.fixture
def profiled(make_poll, make_links, rng):
    """The article's whole form sent to 160 phones over six governorates, both sexes and every age."""
    from poll import iraq

    poll = make_poll("profiled")
    governorates = ["IQ-BG", "IQ-BA", "IQ-NI", "IQ-DA", "IQ-AR", "IQ-MU"]
    tokens, people = [], []
    for _ in range(160):
        person = (governorates[int(rng.integers(0, 6))], "MF"[int(rng.integers(0, 2))], int(rng.integers(18, 80)))
        people.append(person)
        tokens += make_links(poll, governorate=person[0], sex=person[1], age=person[2],
                             age_band=iraq.age_band(person[2]))
    return poll, tokens, people


def viewer_client(app, runner, name: str = "watcher"):
    runner.invoke(args=["operators", "create", name, "--role", "viewer"],
                  env={"POLL_OPERATOR_PASSWORD": "long enough password"})
    viewer = app.test_client()
    assert viewer.post("/login", data={"name": name, "password": "long enough password"}).status_code == 302
    return viewer


def test_exports_taken_as_answers_come_in_join_to_no_small_group(app, client, runner, session, profiled, rng):
    import csv
    import io

    from poll.models import Answer, Option
    from tests.attackers import linked_groups, narrowed

    poll, tokens, people = profiled
    viewer = viewer_client(app, runner)
    exports, done = [], 0
    for upto in (40, 45, 60, 81, 160):
        answer_profiled(client, tokens[done:upto], people[done:upto], rng)
        done = upto
        for fmt in ("csv", "json"):
            response = viewer.get(f"/api/v1/polls/profiled/answers.{fmt}")
            if response.status_code == 200 and fmt == "csv":
                exports.append(list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))))
    session.rollback()
    truth = [{"option": code, "answered": hour.date().isoformat(), "channel": channel, "governorate": governorate or "",
              "sex": sex or "", "age_band": age_band or "", "employment": values.get("employment"),
              "education": values.get("education")}
             for code, hour, channel, governorate, sex, age_band, values in session.execute(
                 sa.select(Option.code, Answer.answered_hour, Answer.channel, Answer.governorate, Answer.sex,
                           Answer.age_band, Answer.values).join(Option, Option.id == Answer.option_id))]
    assert exports
    groups = linked_groups(truth, exports)
    assert groups and not [counts for counts in groups.values() if narrowed(counts)]


def test_an_early_export_does_not_lock_every_later_export_out(app, client, runner, profiled, rng):
    poll, tokens, people = profiled
    viewer = viewer_client(app, runner)
    answer_profiled(client, tokens[:40], people[:40], rng)
    assert viewer.get("/api/v1/polls/profiled/answers.csv").status_code == 200
    answer_profiled(client, tokens[40:], people[40:], rng)
    later = app.test_client()
    runner.invoke(args=["operators", "create", "analyst", "--role", "admin"],
                  env={"POLL_OPERATOR_PASSWORD": "long enough password"})
    assert later.post("/login", data={"name": "analyst", "password": "long enough password"}).status_code == 302
    response = later.get("/api/v1/polls/profiled/answers.csv")
    assert response.status_code == 200, response.get_json()


# Logs and errors: an SMS whose sender or text carries a NUL byte. Nothing personal reaches the log (the engine
# hides the statement's values), but PostgreSQL refuses the stored row and the gateway gets a 500, and retries.

@pytest.mark.parametrize("sender", ["+9647701234567\x00", "\x009647701234567"])
def test_an_sms_with_a_nul_byte_gets_a_reply_not_a_server_error(app, client, sender):
    app.config["SMS_SECRET"] = SECRET
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = mo(client, **{"from": sender, "text": "1\x00", "id": "nul-1"})
    assert response.status_code in (200, 400)
    posted = client.post(f"/sms/kannel/mo?secret={SECRET}&id=nul-2", data="1\x00".encode(),
                         headers={"X-Kannel-From": sender})
    assert posted.status_code in (200, 400)


# The demo-like simulated poll: every operator output joined. The links list (with phones and strata) against
# the answers exports in CSV and JSON lines, and the linear-programming attacker on every breakdown the results
# show (governorate, sex, age band, and the headline by each profile question's answer): the defence holds.

def test_no_phone_of_the_demo_poll_is_named_by_every_operator_output_joined(app, client, runner, simulated):
    from tests.attackers import Publication, narrowed, recovered_cells, reidentify

    admin = app.test_client()
    runner.invoke(args=["operators", "create", "spy", "--role", "admin"],
                  env={"POLL_OPERATOR_PASSWORD": "long enough password"})
    assert admin.post("/login", data={"name": "spy", "password": "long enough password"}).status_code == 302
    import csv
    import io

    links = list(csv.DictReader(io.StringIO(admin.get("/api/v1/polls/sim/links.csv").get_data(as_text=True))))
    assert links and "answered_on" not in links[0]
    by_csv = list(csv.DictReader(io.StringIO(admin.get("/api/v1/polls/sim/answers.csv").get_data(as_text=True))))
    by_json = [json.loads(line) for line in admin.get("/api/v1/polls/sim/answers.json").get_data(as_text=True)
               .splitlines() if line.strip()]
    assert len(by_csv) == len(by_json) > 500
    for answers in (by_csv, [{key: "" if value is None else str(value) for key, value in row.items()}
                             for row in by_json]):
        named = {phone: groups for phone, groups in reidentify(links, answers).items()
                 if any(narrowed(group) for group in groups)}
        assert named == {}
    document = json.loads(runner.invoke(args=["results", "sim", "--json"]).output)
    codes = [option["code"] for option in document["options"]]
    total = [option["count"] for option in document["options"]]
    crossed = 0
    for question in document["questions"]:
        rows = question.get("options") if question["role"] != "headline" else None
        if not rows or not any(row.get("headline") for row in rows):
            continue
        crossed += 1
        cells = [None if row.get("headline") is None else
                 [round(row["headline"][code] * row["count"]) for code in codes] for row in rows]
        assert recovered_cells([Publication([*cells, None], total)]) == [], question["name"]
    assert crossed >= 2  # employment and education at least


# Used or not, by a post the database would refuse: a post that reads as a whole answer is checked for a used
# link before anything is written, so a value the database would choke on (a NUL byte in a text answer, a text
# too long) must not be refused differently whether or not the link was used. The defence holds: texts are
# cleaned and checked before the write.

@pytest.mark.parametrize("text", ["why\x00not", "x" * 600, "\u202eevil", " "])
def test_an_odd_text_answer_does_not_tell_a_used_link_from_an_unused_one(app, client, make_poll, make_links, text):
    from poll.services.definition import polls

    questions = polls.builtin_definition()["questions"]
    questions.insert(1, {"name": "why", "type": "text", "label": {"en": "Why?"}})
    used, unused = make_links(make_poll("texts", questions=questions), count=2)
    assert client.post(f"/p/{used}", data={"option": "1", "why": "because"}).status_code == 201
    app.config["PROPAGATE_EXCEPTIONS"] = False
    answers = [client.post(f"/p/{token}", data={"option": "9", "why": text}) for token in (used, unused)]
    assert answers[0].status_code == answers[1].status_code == 400
    assert (answers[0].get_data(as_text=True).replace(used, "T") == answers[1].get_data(as_text=True)
            .replace(unused, "T"))
    # With a readable headline: refused alike, or recorded through the unused link (only an answer tells).
    whole = [client.post(f"/p/{token}", data={"option": "1", "why": text}).status_code for token in (used, unused)]
    assert whole in ([400, 400], [409, 201])


# Used or not, by looking: GET and HEAD with odd query strings and each language, on the article's poll, its
# two-step form and its split ballot (each way of asking), and posts that are not whole answers. The defence
# holds: the same status, headers and page whether or not the link was used.

@pytest.mark.parametrize("builtin", ["coalition-2024", "coalition-2024-two-step", "coalition-2024-split-ballot"])
def test_no_look_or_partial_post_tells_a_used_link_from_an_unused_one(app, client, session, make_links, builtin):
    from poll.models import Link
    from poll.services.definition import polls

    app.config["RATE_LIMIT_LINK_POSTS"] = "10000 per minute"
    poll = polls.create_poll(session, polls.builtin_definition(builtin))
    polls.open_poll(session, poll)
    session.commit()
    tokens = make_links(poll, count=60)
    variants = dict(fresh(session).execute(sa.select(Link.token, Link.variant)).all())
    used = []
    for token in tokens[:30]:
        form = {"support": "1", "option": "1", "_step": "1"} if variants[token] == "two-step" or builtin.endswith(
            "two-step") else {"option": "1"}
        assert client.post(f"/p/{token}", data=form).status_code == 201
        used.append(token)

    def seen(response, token: str) -> tuple:
        headers = sorted((name, value) for name, value in response.headers.items() if name != "Date")
        return response.status_code, response.get_data(as_text=True).replace(token, "T"), headers

    for variant in sorted({variants[token] for token in tokens}, key=str):
        pair = [next(t for t in group if variants[t] == variant) for group in (used, tokens[30:])]
        spent = set()
        for query in ("", "?lang=en", "?lang=ku", "?lang=xx", "?option=1", "?_step=2", "?lang=ar&lang=en"):
            for method in ("GET", "HEAD"):
                looks = [seen(client.open(f"/p/{token}{query}", method=method), token) for token in pair]
                assert looks[0] == looks[1], (variant, query, method)
        for form in ({}, {"option": "9"}, {"option": ["1", "2"]}, {"_step": "2"}, {"_step": ["1", "2"]},
                     {"_step": "2", "option": "3"}, {"support": "2", "how_end": "9"}, {"option": "1", "age": "300"}):
            posts = [seen(client.post(f"/p/{token}", data=form), token) for token in pair]
            if posts[1][0] == 201:  # a whole answer after all: it was recorded, and only an answer tells
                assert posts[0][0] == 409
                spent.add(pair[1])
                pair[1] = next(t for t in tokens[30:] if variants[t] == variant and t not in spent)
                continue
            assert posts[0] == posts[1], (variant, form)


# Padding with simulated respondents.
#
# An admin simulates a poll (seeded: operators know the seed, and the same seed gives the same respondents and
# answers) and then imports a real recipient into it and invites them. Every group now holds the simulated
# answers, so the k=10 rule shows them; a twin poll simulated with the same seed shows the simulated answers on
# their own, and subtracting one look of each from the other gives the real person's answer. No time passes
# between the looks and nothing else need be known.

def test_simulated_answers_do_not_pad_a_real_persons_answer_into_view(client, runner, session, make_poll, tmp_path):
    from collections import Counter

    from poll.models import Link
    from tests.attackers import narrowed

    make_poll("padded", status="draft")
    make_poll("twin", status="draft")
    simulation = ["--population", "3000", "--sample", "1500", "--seed", "4"]
    for slug in ("padded", "twin"):
        assert runner.invoke(args=["simulate", slug, *simulation]).exit_code == 0
    audience = tmp_path / "real.csv"
    audience.write_text("phone,governorate,sex,age\n+9647701112233,IQ-DA,F,35\n")
    imported = runner.invoke(args=["audience", "import", "padded", str(audience)])
    invited = runner.invoke(args=["invite", "padded"])
    if imported.exit_code or invited.exit_code:
        return  # refused: a simulated poll takes no real people
    token = fresh(session).scalar(sa.select(Link.token).join(Recipient, Recipient.id == Link.recipient_id)
                                  .where(Recipient.phone == "+9647701112233"))
    assert client.post(f"/p/{token}", data={"option": "3"}).status_code == 201
    padded, twin = (json.loads(runner.invoke(args=["results", slug, "--json"]).output) for slug in ("padded", "twin"))
    if padded["withheld"]:
        return
    difference = Counter({mine["code"]: mine["count"] - theirs["count"]
                          for mine, theirs in zip(padded["options"], twin["options"], strict=True)})
    assert not narrowed(difference), f"the real answer, read off: {dict(difference)}"


# Hidden categories with their sizes: the dashboard's response-rate map gives every governorate's answers per
# link to a tenth of a point beside how many links it had, so an operator knows how many answered in each hidden
# category too. The linear-programming attacker given those row totals as well pins no hidden category to
# fewer than ten answers or to one option: the defence holds.

def bounds_with_row_totals(table, shown) -> list[tuple[int, list[tuple[int, int]]]]:
    """Per hidden row: each option's integer bounds, from the shown rows, the column totals and every row's total."""
    import math

    import numpy as np
    from scipy.optimize import linprog

    hidden = [row for row in range(len(table)) if not shown[row]]
    options = table.shape[1]
    size = len(hidden) * options
    equalities, values = [], []
    rest = table[hidden].sum(axis=0)
    for option in range(options):
        row = np.zeros(size)
        row[[h * options + option for h in range(len(hidden))]] = 1
        equalities.append(row)
        values.append(rest[option])
    for h, category in enumerate(hidden):
        row = np.zeros(size)
        row[h * options:(h + 1) * options] = 1
        equalities.append(row)
        values.append(table[category].sum())
    a_eq, b_eq = np.array(equalities), np.array(values, dtype=float)
    found = []
    for h, category in enumerate(hidden):
        ranges = []
        for option in range(options):
            objective = np.zeros(size)
            objective[h * options + option] = 1
            low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs").fun
            high = -linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs").fun
            ranges.append((math.ceil(low - 1e-6), math.floor(high + 1e-6)))
        found.append((category, ranges))
    return found


@pytest.mark.parametrize("seed", range(60))
def test_hidden_categories_sizes_do_not_let_their_answers_be_solved(seed):
    import numpy as np

    from poll.stats import disclosure

    rng = np.random.default_rng(7000 + seed)
    table = np.array([rng.multinomial(int(rng.choice([0, 1, 3, 8, 12, 40])), rng.dirichlet([0.5] * 3))
                      for _ in range(int(rng.integers(2, 9)))])
    shown = disclosure.protect(table)
    if not disclosure.is_safe(table.sum(axis=0)):
        return
    for category, ranges in bounds_with_row_totals(table, shown):
        if table[category].sum() == 0:
            continue
        possible = [option for option, (_low, high) in enumerate(ranges) if high > 0]
        assert len(possible) >= 2, (table.tolist(), category, ranges)
        if all(low == high for low, high in ranges):
            assert sum(low for low, _ in ranges) >= 10, (table.tolist(), category, ranges)


# Logs: a number or a token the mask stops short of.
#
# The mask decodes a request line before it looks for /phone/<number> and /p/<token>, and stops at the first
# space: an admin opening a phone typed with spaces (`/phone/+964 770 123 4567`, which the phone view accepts)
# leaves the last ten digits in every request log, and a link with a space before its token leaves the token.
# The suite's own scan of the servers' logs does not see a number written with spaces either.

def test_a_number_or_token_after_an_encoded_space_is_masked_in_the_request_log(app, client, login, caplog):
    import threading
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    from tests.logs import found_in

    token = "Q7vXk2mPz9LwR4tYb8NcJd"  # shaped as a link's token (not one issued: the suite's scan would stop)
    login("admin")
    assert client.get("/phone/+964 770 123 4567").status_code == 200  # the phone view takes it
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level("INFO", logger="werkzeug"):
            for path in ("/phone/%2B964%20770%20123%204567", "/phone/0770%20123%204567?lang=en", f"/p/%20{token}"):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10).read()
                except urllib.error.HTTPError:
                    pass
    finally:
        server.shutdown()
    messages = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert len(messages) >= 3
    text = " ".join(messages)
    assert "123 4567" not in text and token not in text, text
    assert all(not found_in(line, frozenset([token])) for line in messages)
    assert found_in("GET /phone/… 770 123 4567 HTTP/1.1") != []  # the scan must see a spaced number too
