"""Shares shown side by side sum to 100%: each set (the answers of one question, one group's row) is rounded
together at the precision shown, by largest remainder, on every page, chart, text and report that shows it.

Thirds are the hard case: one by one, 33.3% three times is 99.9%, and 33% three times is 99%.
"""

from __future__ import annotations

import re

import pytest

from poll.services.definition import polls
from poll.services.releases import results
from poll.stats import proportions
from tests.helpers import fresh
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
