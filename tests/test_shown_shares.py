"""Shares shown side by side sum to 100%: each set (the answers of one question, one group's row) is rounded
together at the precision shown, by largest remainder, on every page, chart, text and report that shows it.

Thirds are the hard case: one by one, 33.3% three times is 99.9%, and 33% three times is 99%.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from poll import iraq
from poll.models import Job, SimulationRun, utcnow
from poll.services.definition import polls
from poll.services.releases import results
from poll.services.simulations import runs
from poll.simulate import report
from poll.simulate.montecarlo import Estimates, MonteCarlo
from poll.stats import proportions
from tests.helpers import fresh
from tests.test_experiments import PLAN, answer_all, split_poll  # noqa: F401 (a fixture, used by name)
from tests.test_questionnaire import answer_many

TENTHS = re.compile(r"(\d+\.\d)%")


THREE = [{"code": str(code), "label": {"en": label}} for code, label in enumerate(("Red", "Green", "Blue"), start=1)]
QUESTIONS = [
    {"name": "answer", "type": "select_one", "role": "headline", "label": {"en": "Which?"}, "choices": THREE},
    {"name": "colour", "type": "select_one", "label": {"en": "Which colour?"}, "choices": THREE},
]


def thirds_poll(client, make_poll, make_links):
    """A poll answered 36 times: each headline answer 12 times, each colour 12 times, and within each colour each
    headline answer four times."""
    poll = make_poll("thirds", questions=QUESTIONS)
    forms = [{"option": str(1 + (i // 3) % 3), "colour": str(1 + i % 3)} for i in range(36)]
    answer_many(client, make_links, poll, forms)
    return poll


def test_shares_are_rounded_together_unless_one_is_withheld():
    assert proportions.shown_percentages([1 / 3, 1 / 3, 1 / 3]) == [33.4, 33.3, 33.3]
    assert proportions.shown_percentages([1 / 3, 1 / 3, 1 / 3], 0) == [34, 33, 33]
    # A withheld share: the set cannot sum to 100 as shown, so the others are rounded alone.
    assert proportions.shown_percentages([None, 1 / 3, 1 / 3]) == [None, 33.3, 33.3]
    # Several answers per person: the shares do not sum to 1, and each is rounded alone.
    assert proportions.shown_percentages([2 / 3, 2 / 3]) == [66.7, 66.7]


def test_the_dashboards_headline_table_and_chart_sum_to_100(client, make_poll, make_links, login):
    thirds_poll(client, make_poll, make_links)
    login()
    page = client.get("/dashboard/thirds/panel?lang=en").get_data(as_text=True)
    headline = page.split('id="h-headline"')[1].split("</section>")[0]
    table = headline.split("<table")[1]
    raw = [float(share) for share in re.findall(r"<td>[\d,]+</td>\s*<td>(\d+\.\d)%</td>", table)]
    assert len(raw) == 3 and sum(raw) == pytest.approx(100)
    # The chart above the table writes the same figures, and says them to screen readers.
    description = headline.split("<desc>")[1].split("</desc>")[0]
    charted = [float(share) for share in re.findall(r": (\d+\.\d)%", description)]
    assert len(charted) == 3 and sum(charted) == pytest.approx(100)


def test_the_other_questions_and_their_crossing_with_the_headline_sum_to_100(client, make_poll, make_links,
                                                                              login):
    thirds_poll(client, make_poll, make_links)
    login()
    page = client.get("/dashboard/thirds/panel?lang=en").get_data(as_text=True)
    questions = page.split('id="h-questions"')[1].split("</section>")[0]
    colour = questions.split('id="h-q-colour"')[1].split("</table>")[0]
    shares = [float(share) for share in re.findall(r"<td>[\d,]+</td><td>(\d+\.\d)%</td>", colour)]
    assert len(shares) == 3 and sum(shares) == pytest.approx(100)
    # Each colour's row across the headline's answers, to the point: 34%, 33%, 33%, not 33% three times.
    rows = [[int(share) for share in re.findall(r"<td>(\d+)%</td>", row)]
            for row in re.findall(r"<tr><th scope=\"row\">.*?</tr>", colour, re.S)]
    assert len(rows) == 3 and all(len(row) == 3 and sum(row) == 100 for row in rows)


def test_the_charts_by_sex_write_each_groups_row_summing_to_100(client, make_poll, make_links, login):
    thirds_poll(client, make_poll, make_links)
    login()
    page = client.get("/dashboard/thirds/panel?lang=en").get_data(as_text=True)
    groups = page.split('id="h-groups"')[1].split("</section>")[0]
    description = groups.split("<desc>")[1].split("</desc>")[0]  # the chart by sex, each sex's row
    rows = [[int(share) for share in re.findall(r"(\d+)%", row)] for row in description.split("; ")]
    assert [row for row in rows if row] and all(sum(row) == 100 for row in rows if row)


def test_poll_results_text_sums_to_100(client, runner, make_poll, make_links):
    thirds_poll(client, make_poll, make_links)
    output = runner.invoke(args=["results", "thirds"]).output
    rows = [line for line in output.splitlines() if re.match(r"\s+[123] ", line)]
    raw = [float(TENTHS.findall(row)[0]) for row in rows]
    assert len(raw) == 3 and sum(raw) == pytest.approx(100)


def test_weighted_shares_shown_and_in_json_sum_to_100(client, session, make_poll, make_links, login):
    from tests.test_results import answer_everywhere_but

    answer_everywhere_but(client, make_poll, make_links, set())
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    weighted = [option.weighted_share for option in outcome.options]
    # The construction: each weighted share rounded alone to 0.1 point would not sum to 100.
    assert round(sum(round(100 * share, 1) for share in weighted), 1) != 100
    document = results.document(outcome)
    assert round(sum(1000 * option["weighted_share"] for option in document["options"])) == 1000
    login()
    page = client.get("/dashboard/weighted/panel?lang=en").get_data(as_text=True)
    table = page.split('id="h-headline"')[1].split("</table>")[0]
    shown = [float(share) for share in re.findall(r"<td>(\d+\.\d)%</td>\s*<td>[\d.]+–", table)]
    assert len(shown) == 6  # raw then weighted, each before its interval
    assert sum(shown[0::2]) == pytest.approx(100) and sum(shown[1::2]) == pytest.approx(100)
    # The same weighted shares beside their sensitivity range.
    selection = page.split('class="numbers selection-range"')[1].split("</table>")[0]
    beside = [float(share) for share in re.findall(r'<td class="nowrap">(\d+\.\d)%</td>', selection)]
    assert beside == shown[1::2]


def test_the_split_ballot_tables_sum_to_100(client, runner, session, split_poll, make_links, login):  # noqa: F811
    poll = split_poll()
    make_links(poll, 90)
    answer_all(client, session, poll, PLAN | {"as-sent": [{"option": "1"}, {"option": "2"}, {"option": "3"}] * 4})
    login()
    page = client.get(f"/dashboard/{poll.slug}?lang=en").get_data(as_text=True)
    as_sent = page.split("Ways of asking compared")[1].split("</table>")[0]
    shown = [float(share) for share in re.findall(r'<span class="nowrap">(\d+\.\d)%</span>', as_sent)]
    assert len(shown) == 3 and sum(shown) == pytest.approx(100)
    output = runner.invoke(args=["results", poll.slug]).output
    lines = output.split("ways of asking")[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("as-sent"))
    printed = [float(TENTHS.findall(line)[0]) for line in lines[start + 1:start + 4]]
    assert sum(printed) == pytest.approx(100)


def thirds_montecarlo() -> MonteCarlo:
    """A Monte Carlo summary whose true shares and mean estimates are all thirds."""
    third = np.full(3, 1 / 3)
    estimates = Estimates(mean=third, bias=np.zeros(3), rmse=np.full(3, 0.01), coverage=np.full(3, 0.95),
                          values=np.tile(third, (4, 1)))
    return MonteCarlo(replications=4, population_size=1000, sample_size=500, true_shares=third, answers_mean=36.0,
                      raw=estimates, weighted=estimates, weighting_failures=0)


def simulated_thirds(client, session, make_poll, make_links) -> None:
    """The thirds poll as a simulation's: its truth all thirds, an open link counting thirds, a Monte Carlo too."""
    poll = thirds_poll(client, make_poll, make_links)
    thirds = {code: 1 / 3 for code in "123"}
    mc = thirds_montecarlo()
    common = {"poll_id": poll.id, "scenario": "baseline", "seed": 1, "population_size": 1000, "sample_size": 500,
              "parameters": {}, "started_at": utcnow()}
    session.add(SimulationRun(mode="in-process", truth={"overall": thirds}, margins=iraq.census_margins(), **common,
                              extras={"campaign_submissions": 30, "open_link_counts": {code: 10 for code in "123"}}))
    session.add(SimulationRun(mode=runs.MONTE_CARLO, truth={"overall": thirds}, margins={}, **common,
                              extras={"summary": report.montecarlo_json(mc, "baseline"),
                                      "estimates": {name: {code: [1 / 3] * 4 for code in "123"}
                                                    for name in ("raw", "weighted")}}))
    # Two jobs: a single simulation (job 1) and the Monte Carlo (job 2).
    parameters = {"poll": "thirds", "scenario": "baseline", "population": 1000, "sample": 500, "seed": 1}
    session.add(Job(kind="simulation", state="done", progress=1.0, parameters=parameters))
    session.add(Job(kind="simulation", state="done", progress=1.0, parameters=parameters | {"replications": 4},
                    result={"summary": report.montecarlo_json(mc, "baseline")}))
    session.commit()


def figures_in(table: str, column: int) -> list[float]:
    # The figure in `column` (counted from 0 after the row's heading) of each row of `table`.
    return [float(re.findall(r"<td>(.*?)</td>", row, re.S)[column].rstrip("%"))
            for row in re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", table, re.S)]


def test_the_dashboards_simulation_figures_sum_to_100(client, session, make_poll, make_links, login):
    simulated_thirds(client, session, make_poll, make_links)
    login()
    page = client.get("/dashboard/thirds/panel?lang=en").get_data(as_text=True)
    headline = page.split('id="h-headline"')[1].split("</table>")[0]
    assert sum(figures_in(headline, 5)) == pytest.approx(100)  # the true share beside the estimates
    counted = page.split("the campaign would have counted:")[1].split("</p>")[0]
    assert sum(float(share) for share in TENTHS.findall(counted)) == pytest.approx(100)
    montecarlo = page.split('id="h-mc"')[1].split("</table>")[0]
    assert sum(figures_in(montecarlo, 0)) == pytest.approx(100)


def test_the_simulation_job_page_sums_to_100(client, session, make_poll, make_links, login):
    simulated_thirds(client, session, make_poll, make_links)
    login()
    page = client.get("/admin/jobs/1?lang=en").get_data(as_text=True)
    truth = page.split('id="h-truth"')[1].split("</table>")[0]
    assert sum(figures_in(truth, 0)) == pytest.approx(100)  # the true shares
    assert sum(figures_in(truth, 1)) == pytest.approx(100)  # the raw shares
    page = client.get("/admin/jobs/2?lang=en").get_data(as_text=True)
    montecarlo = page.split('id="h-mc"')[1].split("</table>")[0]
    assert sum(figures_in(montecarlo, 0)) == pytest.approx(100)


def test_the_monte_carlo_text_sums_to_100():
    table = report.montecarlo_table(thirds_montecarlo(), "baseline", {})
    rows = [TENTHS.findall(line) for line in table.splitlines() if re.match(r"\s+[123] ", line)]
    assert len(rows) == 3
    for column in range(3):  # true share, raw mean, weighted mean
        assert sum(float(row[column]) for row in rows) == pytest.approx(100)


def test_the_audiences_composition_sums_to_100(client, make_poll, make_links, login):
    poll = make_poll("frame", status="draft")
    for governorate in ("IQ-BG", "IQ-NI", "IQ-BA"):
        make_links(poll, 4, governorate=governorate)
    login()
    page = client.get("/admin/polls/frame?lang=en").get_data(as_text=True)
    table = page.split('id="composition-title"')[1].split("</table>")[0]  # by governorate, the first
    rows = [re.findall(r"<td>(\d+\.\d)%</td>", row) for row in re.findall(r"<tr><th scope=\"row\">.*?</tr>", table)]
    assert len(rows) == 18
    assert sum(float(row[0]) for row in rows) == pytest.approx(100)  # the audience's
    assert sum(float(row[1]) for row in rows) == pytest.approx(100)  # the census's


def test_the_model_based_governorate_shares_sum_to_1_in_json(client, session, make_poll, make_links):
    from tests.test_results import answer_everywhere_but

    answer_everywhere_but(client, make_poll, make_links, set())
    outcome = results.poll_results(fresh(session), polls.get_poll(session, "weighted"))
    estimates = results.document(outcome)["governorate_estimates"]
    sets = [estimates["overall"]["shares"]] + [entry[key] for entry in estimates["governorates"]
                                                for key in ("shares", "raw_shares") if entry[key]]
    assert len(sets) > 18
    assert all(round(sum(1000 * share for share in shares.values())) == 1000 for shares in sets)


def test_a_references_margins_as_described_sum_to_100(runner, tmp_path, make_poll):
    make_poll("ref")
    path = tmp_path / "education.csv"
    path.write_text("variable,category,share\n" + "".join(f"education,{code},{1 / 3!r}\n" for code in "123"),
                    encoding="utf-8")
    result = runner.invoke(args=["weighting", "reference", "ref", str(path), "--source", "A survey"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("education:"))
    assert sum(float(share) for share in TENTHS.findall(line)) == pytest.approx(100)
