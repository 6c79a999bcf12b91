"""Nobody can tie an answer to a phone from what the app shows: the attacks played, and the rules they test.

The attackers (tests/attackers.py) are written apart from the app's rules: a
linear-programming attack on published tables, and a join of the links list
with the answers export on every shared field. Each must find nothing that
narrows a phone's answer to fewer than ten answers, or to one option.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from poll import iraq
from poll.services.definition import polls
from poll.services.releases import release
from poll.stats import disclosure
from tests.attackers import K, Publication, narrowed, recovered_cells, reidentify
from tests.helpers import fresh


def publication(table: np.ndarray, shown: np.ndarray) -> Publication:
    return Publication([row.tolist() if is_shown else None for row, is_shown in zip(table, shown, strict=True)],
                       table.sum(axis=0).tolist())


# The rules, against the independent attacker.

def test_a_lone_small_cell_gets_a_complement():
    table = np.array([[40, 30, 20], [2, 5, 1], [30, 10, 15]])
    shown = disclosure.protect(table)
    assert shown.tolist() == [True, False, False]  # "totals minus cells" would have given [2, 5, 1] away
    assert recovered_cells([publication(table, shown)]) == []


def test_a_group_that_all_chose_one_option_is_hidden_however_large():
    table = np.array([[40, 30, 20], [0, 25, 0], [30, 10, 15]])
    assert not disclosure.protect(table)[1]


def test_a_group_of_one_option_by_design_is_judged_by_its_size():
    # One column: those asked a follow-up after one headline answer, all of that answer by design.
    assert not disclosure.is_safe(np.array([9])) and disclosure.is_safe(np.array([10]))
    # Answered 25 of the 27 asked: the two who did not would be told; of 40 asked, the 15 are a safe group.
    assert not disclosure.protect(np.array([[25], [2]]), never=[1])[0]
    assert disclosure.protect(np.array([[25], [15]]), never=[1])[0]
    assert disclosure.protect(np.array([[25], [0]]), never=[1])[0]


def test_nothing_is_shown_until_ten_answers_chose_two_options():
    assert not disclosure.protect(np.array([[3, 1, 0], [0, 0, 0]])).any()
    assert not disclosure.protect(np.array([[12, 0, 0], [30, 0, 0]])).any()
    assert disclosure.protect(np.array([[12, 3, 0], [20, 5, 1]])).all()


@pytest.mark.parametrize("seed", range(40))
def test_no_suppressed_cell_can_be_recovered_from_one_publication(seed):
    rng = np.random.default_rng(seed)
    categories = int(rng.integers(2, 9))
    # Sizes from empty to large, so tables mix small, lone and homogeneous cells.
    table = np.array([rng.multinomial(int(rng.choice([0, 1, 3, 8, 12, 40])), rng.dirichlet([0.5] * 3))
                      for _ in range(categories)])
    shown = disclosure.protect(table)
    if disclosure.is_safe(table.sum(axis=0)):
        hidden = table[~shown].sum(axis=0)
        assert hidden.sum() == 0 or disclosure.is_safe(hidden)
        assert all(disclosure.is_safe(row) for row in table[shown])
    else:
        assert not shown.any()
    assert recovered_cells([publication(table, shown)]) == []


@pytest.mark.parametrize("seed", range(12))
def test_comparing_successive_publications_recovers_nothing(seed):
    rng = np.random.default_rng(1000 + seed)
    categories = int(rng.integers(3, 7))
    weights = rng.dirichlet([0.7] * categories)
    table = np.zeros((categories, 3), dtype=int)
    published: list[Publication] = []
    before, shown_before = None, None
    for _look in range(30):
        if len(published) == 5:
            break
        # Answers arrive in bursts of one to thirty between looks.
        for _ in range(int(rng.integers(1, 31))):
            table[rng.choice(categories, p=weights), rng.choice(3, p=[0.5, 0.3, 0.2])] += 1
        if before is None or not shown_before.any():
            shown = disclosure.protect(table)
        else:
            if not disclosure.change_may_be_shown(table, before, shown_before):
                continue  # the snapshot stays as it was
            shown = disclosure.extend(table, shown_before)
        if not shown.any() and not disclosure.is_safe(table.sum(axis=0)):
            continue  # nothing is published yet
        published.append(publication(table.copy(), shown))
        before, shown_before = table.copy(), shown
    assert len(published) >= 2
    assert recovered_cells(published) == []


def test_a_change_of_one_answer_is_not_published():
    before = np.array([[30, 20, 10], [25, 15, 12]])
    shown = disclosure.protect(before)
    after = before.copy()
    after[1, 2] += 1
    assert not disclosure.change_may_be_shown(after, before, shown)
    after[0] += [6, 4, 3]
    assert not disclosure.change_may_be_shown(after, before, shown)  # the second category grew by one only
    after[1] += [5, 4, 0]
    assert disclosure.change_may_be_shown(after, before, shown)


def test_generalised_exports_put_every_row_in_a_safe_group():
    rng = np.random.default_rng(7)
    hierarchies = (disclosure.Hierarchy("a", (str, lambda v: v[0])), disclosure.Hierarchy("b", (str,)))
    cells = {}
    for _ in range(300):
        key = (rng.choice(["x1", "x2", "y1", "y2", "z9"]), rng.choice(["p", "q", "r"]))
        cells.setdefault(key, np.zeros(3, dtype=int))[rng.integers(3)] += 1
    shape = disclosure.generalise(cells, hierarchies)
    groups: dict[tuple, np.ndarray] = {}
    for key, counts in cells.items():
        groups[shape.show(key)] = groups.get(shape.show(key), 0) + counts
    assert all(disclosure.is_safe(counts) for counts in groups.values())
    assert disclosure.generalise({("x", "p"): np.array([5, 4, 0])}, hierarchies) is None


# The attacks, through the app.

def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def attack(app, runner, slug: str) -> dict:
    """Everything an admin and a viewer can take away about `slug`, joined on every shared field."""
    admin, viewer = app.test_client(), app.test_client()
    for client, (name, role) in ((admin, ("spy-admin", "admin")), (viewer, ("spy-viewer", "viewer"))):
        runner.invoke(args=["operators", "create", name, "--role", role], env={"POLL_OPERATOR_PASSWORD": "long enough password"})
        assert client.post("/login", data={"name": name, "password": "long enough password"}).status_code == 302
    links = read_csv(admin.get(f"/api/v1/polls/{slug}/links.csv"))
    answers = read_csv(viewer.get(f"/api/v1/polls/{slug}/answers.csv"))
    operator_view = json.loads(runner.invoke(args=["results", slug, "--json"]).output)
    public_view = viewer.get(f"/api/v1/polls/{slug}/results").get_json()
    return {"links": links, "answers": answers, "operator": operator_view, "public": public_view,
            "candidates": reidentify(links, answers)}


def assert_nobody_named(taken: dict) -> None:
    links = taken["links"]
    assert links and "answered_on" not in links[0] and "opened_on" not in links[0]  # who answered: not said
    named = {phone: groups for phone, groups in taken["candidates"].items() if any(narrowed(g) for g in groups)}
    assert named == {}, f"{len(named)} of {len(links)} phones' answers narrowed: {list(named.items())[:3]}"
    for view in (taken["operator"], taken["public"]):
        if view["withheld"]:
            assert all(option["count"] is None for option in view["options"])
        else:
            counts = [option["count"] for option in view["options"]]
            assert sum(counts) >= K and sum(1 for n in counts if n) >= 2


@pytest.fixture
def small_poll(client, session, make_poll, make_links, rng):
    """An open poll of 70 answers from phones spread over governorates, sexes, ages and two days."""
    poll = make_poll("small")
    governorates = ["IQ-BG", "IQ-BA", "IQ-NI", "IQ-AR", "IQ-MU", "IQ-DA"]
    tokens = []
    for number in range(90):
        age = int(rng.integers(18, 80))
        tokens += make_links(poll, governorate=governorates[number % 6], sex="MF"[number % 2], age=age,
                             age_band=iraq.age_band(age))
    for token in tokens[:70]:
        option = str(rng.choice(["1", "2", "3"], p=[0.5, 0.3, 0.2]))
        assert client.post(f"/p/{token}", data={"option": option}).status_code == 201
    return poll


def test_no_phone_of_a_small_poll_is_named_by_joining_what_operators_see(app, runner, small_poll):
    taken = attack(app, runner, "small")
    assert len(taken["answers"]) == 70
    assert_nobody_named(taken)


def test_no_phone_of_a_simulated_poll_is_named_by_joining_what_operators_see(app, runner, make_poll):
    make_poll("demo", status="draft")
    result = runner.invoke(args=["simulate", "demo", "--population", "40000", "--sample", "12000", "--seed", "11"])
    assert result.exit_code == 0, result.output
    taken = attack(app, runner, "demo")
    assert len(taken["answers"]) > 200
    assert_nobody_named(taken)


def operator_look(session, slug: str) -> dict:
    """What an operator sees of a poll's headline and breakdowns (the dashboard's exact figures), JSON-like."""
    outcome = release.dashboard(fresh(session), polls.get_poll(session, slug), None)
    session.commit()
    return {"withheld": outcome.withheld,
            "options": [{"code": o.code, "count": o.count} for o in outcome.options],
            "breakdowns": {stratum: [{"code": c.code, "answered": c.answered,
                                      "shares": None if c.shares is None else
                                      dict(zip([o.code for o in outcome.options], c.shares, strict=True))}
                                     for c in categories] for stratum, categories in outcome.breakdowns.items()}}


def test_operators_breakdowns_leave_no_cell_to_recover(session, small_poll):
    # Operators see exact figures: the disclosure rule keeps them (the public sees noisy releases instead).
    document = operator_look(session, "small")
    codes = [option["code"] for option in document["options"]]
    total = [option["count"] for option in document["options"]]
    for stratum, categories in document["breakdowns"].items():
        cells = [None if c["shares"] is None else [round(c["shares"][code] * c["answered"]) for code in codes]
                 for c in categories]
        if stratum == "governorate":
            assert sum(cell is not None for cell in cells) >= 3  # six governorates answered, some small
        # Answers whose stratum is not known count with the hidden ones: one more category, never shown.
        assert recovered_cells([Publication([*cells, None], total)]) == []


def test_a_poll_with_few_answers_publishes_no_share(client, make_poll, make_links):
    poll = make_poll("four")
    for token in make_links(poll, count=4):
        client.post(f"/p/{token}", data={"option": "1"})
    document = client.get("/api/v1/polls/four/results").get_json()
    assert document["withheld"] and all(option["share"] is None for option in document["options"])
    page = client.get("/results/four?lang=en").get_data(as_text=True)
    assert "No shares yet" in page and "bar-value" not in page and "Answers as counted" not in page
    assert "4 answered of 4 invited" in page  # how many answered is no secret; what they answered is


def test_twelve_answers_all_alike_are_still_withheld(client, make_poll, make_links):
    poll = make_poll("alike")
    for token in make_links(poll, count=12):
        client.post(f"/p/{token}", data={"option": "3"})
    assert client.get("/api/v1/polls/alike/results").get_json()["withheld"]


def test_public_figures_do_not_move_with_one_answer(app, client, make_poll, make_links, rng):
    app.config["PUBLIC_REFRESH_MINUTES"] = 0
    poll = make_poll("diff")
    tokens = make_links(poll, count=60, governorate="IQ-BG") + make_links(poll, count=20, governorate="IQ-MU")
    for token in tokens[:40]:
        client.post(f"/p/{token}", data={"option": str(rng.choice(["1", "2", "3"]))})
    first = client.get("/api/v1/polls/diff/results").get_json()
    client.post(f"/p/{tokens[60]}", data={"option": "2"})  # one answer from Al-Muthanna
    second = client.get("/api/v1/polls/diff/results").get_json()
    # The look after one answer shows the figures the look before did: a new release needs twice the answers.
    assert (second["options"], second["breakdowns"]) == (first["options"], first["breakdowns"])
    assert second["answered"] == 41 and second["privacy"]["releases"] == first["privacy"]["releases"] == 1


def test_public_figures_wait_for_the_refresh_interval(app, client, make_poll, make_links):
    poll = make_poll("slow")
    tokens = make_links(poll, count=40)
    for number, token in enumerate(tokens[:20]):
        client.post(f"/p/{token}", data={"option": "12"[number % 2]})
    first = client.get("/api/v1/polls/slow/results").get_json()
    for number, token in enumerate(tokens[20:]):
        client.post(f"/p/{token}", data={"option": "123"[number % 3]})
    assert client.get("/api/v1/polls/slow/results").get_json() == first  # 15 minutes have not passed
    assert first["answered"] == 20


def test_the_join_names_phones_when_an_export_keeps_exact_strata(app, runner, session, small_poll):
    """The attacker has teeth: given answers with their exact strata and day, as exports kept them, it names phones."""
    import sqlalchemy as sa

    from poll.models import Answer, Option

    taken = attack(app, runner, "small")
    session.rollback()
    exact = [
        {"option": code, "channel": channel, "answered": hour.date().isoformat(), "governorate": governorate,
         "sex": sex, "age_band": age_band}
        for code, channel, hour, governorate, sex, age_band in session.execute(
            sa.select(Option.code, Answer.channel, Answer.answered_hour, Answer.governorate, Answer.sex,
                      Answer.age_band).join(Option, Option.id == Answer.option_id)
        )
    ]
    candidates = reidentify(taken["links"], exact)
    named = [phone for phone, groups in candidates.items() if any(narrowed(group) for group in groups)]
    assert len(named) > 30


def test_an_export_and_a_breakdown_cannot_be_subtracted(app, client, runner, make_poll, make_links):
    """One phone in Al-Najaf among dozens elsewhere: no view, nor the difference of two, tells its answer."""
    from collections import Counter

    poll = make_poll("exact")
    plan = {"IQ-BA": "1212121212" + "12", "IQ-NA": "3", "IQ-BG": "123123123123", "IQ-NI": "321321321321"}
    for governorate, options in plan.items():
        for token, option in zip(make_links(poll, count=len(options), governorate=governorate, sex="M", age=35,
                                            age_band="30-44"), options, strict=True):
            assert client.post(f"/p/{token}", data={"option": option}).status_code == 201
    taken = attack(app, runner, "exact")
    assert_nobody_named(taken)
    shown = {c["code"]: c for c in taken["public"]["breakdowns"]["governorate"] if c["shares"] is not None}
    assert "IQ-NA" not in shown
    rows_by_governorate = Counter(row["governorate"] for row in taken["answers"])
    # Whatever the export shows of a governorate is what the breakdown shows: their sums agree,
    # and what is left over ("other" or "*") is a group of ten or more of more than one option.
    for code, category in shown.items():
        assert rows_by_governorate.get(code, 0) in (0, category["answered"])
    left = Counter(row["option"] for row in taken["answers"] if row["governorate"] not in shown)
    assert sum(left.values()) >= 10 and len(left) >= 2


def test_operators_figures_never_hide_what_they_showed(app, client, session, make_poll, make_links):
    """Shown at one look, hidden at the next, shown again: the first and third looks would give one answer away."""
    poll = make_poll("snap")
    bands = {"18-29": 20, "30-44": 20, "45-59": 10, "60+": 10}
    tokens = {band: make_links(poll, count=count, age_band=band, age={"18-29": 20, "30-44": 35, "45-59": 50,
                                                                        "60+": 70}[band])
              for band, count in bands.items()}
    looks = []

    def answer(band: str, options: str) -> None:
        for option in options:
            assert client.post(f"/p/{tokens[band].pop()}", data={"option": option}).status_code == 201
        looks.append(operator_look(session, "snap"))

    answer("18-29", "12312312312")
    answer("30-44", "12312312312")
    answer("45-59", "3")
    answer("60+", "1")
    answer("30-44", "1")
    answer("18-29", "123123123")
    answer("45-59", "123123123")
    codes = [option["code"] for option in looks[0]["options"]]

    def publication_of(document) -> Publication:
        cells = [None if c["shares"] is None else [round(c["shares"][code] * c["answered"]) for code in codes]
                 for c in document["breakdowns"]["age_band"]]
        return Publication([*cells, None], [option["count"] or 0 for option in document["options"]])

    distinct = [look for n, look in enumerate(looks) if n == 0 or look != looks[n - 1]]
    shown_at = [{c["code"] for c in look["breakdowns"]["age_band"] if c["shares"] is not None} for look in distinct]
    assert all(earlier <= later for earlier, later in zip(shown_at, shown_at[1:], strict=False))  # shown once, shown for good
    # Each look alone leaves no cell to recover (live looks compared answer by answer are what the README does not
    # promise: that is why the public gets noisy releases instead).
    assert all(recovered_cells([publication_of(look)]) == [] for look in distinct if not look["withheld"])


def test_a_generalisation_keeps_what_the_table_is_for_when_it_can():
    # Two quasi-identifiers, each safe alone and not together: the one named in `keep` stays shown.
    cells = {(variant, region): np.array([3, 3]) for variant in ("a", "b") for region in ("n", "s")}
    hierarchies = [disclosure.Hierarchy("variant", (str,)), disclosure.Hierarchy("region", (str,))]
    for keep, shown in (("variant", 0), ("region", 1)):
        found = disclosure.generalise(cells, hierarchies, max_withheld=0, keep=(keep,))
        assert found.levels[shown] == 0 and found.levels[1 - shown] == 1
        assert all(label[shown] != disclosure.WITHHELD for label in found.labels.values())


def test_a_breakdown_that_crosses_every_other_shows_only_groups_holding_every_option():
    table = np.array([[5, 5, 0], [6, 3, 4], [7, 2, 3], [0, 0, 0]])
    assert disclosure.protect(table, never=[3]).tolist() == [True, True, True, False]
    # Strictly: the first is missing an option; hidden alone it would be told by the total, so the smallest
    # other goes too, and the two hidden together hold every option.
    strict = disclosure.protect(table, never=[3], every_option=True)
    assert strict.tolist() == [False, True, False, False]
    assert disclosure.is_safe(table[[0, 2]].sum(axis=0), every_option=True)
    assert not disclosure.is_safe_change(np.array([4, 7, 0]), every_option=True)
    assert disclosure.is_safe_change(np.array([4, 7, 0]))


def test_an_export_joined_with_an_earlier_one_still_shows_only_safe_groups():
    # Region and sex: each alone splits the answers into safe groups, the two together do not.
    cells = {("n", "M"): np.array([4, 4]), ("n", "F"): np.array([3, 3]), ("s", "M"): np.array([3, 3]),
             ("s", "F"): np.array([4, 4])}
    hierarchies = [disclosure.Hierarchy("region", (str,)), disclosure.Hierarchy("sex", (str,))]
    first = disclosure.generalise(cells, hierarchies, max_withheld=0)
    assert sorted(first.levels) == [0, 1]  # one of them shown
    later = disclosure.generalise(cells, hierarchies, max_withheld=0, earlier=[first.levels])
    assert later.levels == first.levels  # the other one would name groups of six, joined with the first
    assert disclosure.combined((0, 1), [(1, 0)]) == (0, 0)


def test_losing_the_exact_day_costs_less_than_losing_a_stratum():
    # Either the day or the region can be shown, not both: the region stays.
    cells = {(day, region): np.array([3, 3]) for day in ("2024-01-10", "2024-01-11") for region in ("n", "s")}
    hierarchies = [disclosure.Hierarchy("answered", (str,), weight=0.2), disclosure.Hierarchy("region", (str,))]
    assert disclosure.generalise(cells, hierarchies, max_withheld=0).levels == (1, 0)


@pytest.fixture
def profiled_poll(client, make_poll, make_links, rng):
    """The article's whole form answered 80 times over two governorates, ages and both sexes."""
    poll = make_poll("profiled")
    tokens = []
    for number in range(100):
        age = int(rng.integers(18, 80))
        tokens += make_links(poll, governorate=["IQ-BG", "IQ-BA"][number % 2], sex="MF"[number // 2 % 2], age=age,
                             age_band=iraq.age_band(age))
    return poll, tokens


def answer_whole_form(client, tokens, rng) -> None:
    from tests.test_questionnaire import WHOLE_FORM

    for token in tokens:
        form = WHOLE_FORM | {"option": str(rng.choice(["1", "2", "3"])), "employment": str(rng.integers(1, 7)),
                             "education": str(rng.integers(1, 6))}
        assert client.post(f"/p/{token}", data=form).status_code == 201


def test_two_exports_a_few_answers_apart_cannot_be_joined_to_name_anyone(app, client, runner, session,
                                                                         profiled_poll, rng):
    """The attacker links every row of one export to the same respondent's row in the other (the strongest
    alignment there is, stronger than any join on shared columns or on row position): no group is unsafe."""
    import sqlalchemy as sa

    from poll.models import Answer, Option
    from tests.attackers import linked_groups

    poll, tokens = profiled_poll
    answer_whole_form(client, tokens[:60], rng)
    first = read_csv(admin_export(app, runner))
    exports = [first]
    for start in (60, 63, 66, 80):  # a few answers at a time
        answer_whole_form(client, tokens[start:start + 3 if start < 80 else 100], rng)
        exports.append(read_csv(admin_export(app, runner)))
    session.rollback()
    truth = [{"option": code, "answered": hour.date().isoformat(), "channel": channel, "governorate": governorate,
              "sex": sex, "age_band": age_band, "employment": values.get("employment"),
              "education": values.get("education")}
             for code, hour, channel, governorate, sex, age_band, values in session.execute(
                 sa.select(Option.code, Answer.answered_hour, Answer.channel, Answer.governorate, Answer.sex,
                           Answer.age_band, Answer.values).join(Option, Option.id == Answer.option_id))]
    for earlier in exports[:-1]:
        groups = linked_groups(truth, [earlier, exports[-1]])
        assert groups and not [g for g in groups.values() if narrowed(g)]
    # Nor by position: the same answers come in another order each time.
    again = read_csv(admin_export(app, runner))
    assert sorted(map(tuple, (r.values() for r in again))) == sorted(map(tuple, (r.values() for r in exports[-1])))
    assert [tuple(r.values()) for r in again] != [tuple(r.values()) for r in exports[-1]]


def admin_export(app, runner):
    client = app.test_client()
    runner.invoke(args=["operators", "create", "watcher", "--role", "viewer"],
                  env={"POLL_OPERATOR_PASSWORD": "long enough password"})
    assert client.post("/login", data={"name": "watcher", "password": "long enough password"}).status_code == 302
    return client.get("/api/v1/polls/profiled/answers.csv")
