"""The pages anyone may open: the front page, the list of results, a poll's results and its methodology."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, urlsplit

from poll.services.definition import polls
from tests.helpers import fresh, generous_budget


def test_the_front_page_says_what_this_server_is_in_arabic_first(client):
    page = client.get("/").get_data(as_text=True)
    assert 'lang="ar"' in page and 'href="/results?lang=ar"' in page and 'href="/login?lang=ar"' in page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "opinion polls by SMS" in english and "This link is not valid" not in english


def test_the_results_list_shows_published_polls_only(client, make_poll):
    make_poll("shown")
    make_poll("secret", status="draft")
    page = client.get("/results?lang=en").get_data(as_text=True)
    assert "/results/shown" in page and "secret" not in page
    assert client.get("/results/secret").status_code == 404


def test_public_results_lead_with_the_question_and_the_weighted_estimate(client, session, simulated):
    page = client.get("/results/sim?lang=en").get_data(as_text=True)
    poll = polls.get_poll(fresh(session), "sim")
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    assert html.unescape(heading.strip()) == poll.question["en"]
    assert f"{simulated['answered']:,} answered of 20,000 sent" in page
    assert "Weighted estimate for adults in Iraq, if those who answered are like those who did not" in page
    assert "model-based 95% interval" in page and "design effect" in page
    # The interval is named, and no sample size is claimed for it.
    assert "Wilson's score interval" in page and "had been asked at random" not in page
    # The bars' percentages sum to 100, rounded by largest remainder.
    estimate = page.split('id="h-estimate"')[1].split("</ul>")[0]
    percents = [int(value) for value in re.findall(r'class="bar-value">(\d+)%<', estimate)]
    assert len(percents) == 3 and sum(percents) == 100
    # No interval computed as if the answers were a random sample: the raw shares come without one.
    raw = page.split("Answers as counted")[1].split("</table>")[0]
    assert "–" not in raw and "interval" not in raw


def test_a_group_is_shown_with_how_many_of_it_answered(client, session, simulated):
    generous_budget(session, "sim")
    page = client.get("/results/sim?lang=en&group=sex:F").get_data(as_text=True)
    assert "<h3>women</h3>" in page
    section = page.split("<h3>women</h3>")[1].split("<h3>")[0]
    assert re.search(r"[\d,]+ answered of [\d,]+ invited", section)
    assert sum(int(v) for v in re.findall(r'class="bar-value">(\d+)%<', section)) == 100
    # A group that does not exist is no group at all, not an error.
    assert client.get("/results/sim?lang=en&group=sex:X").status_code == 200


def test_a_poll_without_answers_says_so_and_draws_no_bars(client, make_poll, make_links):
    make_links(make_poll("quiet"), count=3)
    page = client.get("/results/quiet?lang=en").get_data(as_text=True)
    assert "No answers yet" in page and "bar-value" not in page
    assert "0 answered of 3 invited" in page  # none sent yet: the page says invited


def test_the_methodology_statement_is_filled_from_the_poll(client, session, simulated):
    response = client.get("/results/sim/methodology?lang=en")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    poll = polls.get_poll(fresh(session), "sim")
    for question in polls.questions_of(poll):
        for text in question.label.values():
            assert text in page  # every question's exact wording, in each language
    assert "RR1" in page and "COOP1" in page and "e, the share of links" in page
    # The targets and their source: a simulation is weighted to its own population (a real poll's: test_results).
    assert "the simulated population's own shares" in page
    assert "model-based" in page and "Self-selection" in page
    assert client.get("/results/nothing/methodology").status_code == 404


def test_the_results_json_carries_the_aapor_rates(client, simulated):
    rates = client.get("/api/v1/polls/sim/results").get_json()["rates"]
    cases = rates["dispositions"]
    assert cases["complete"] + cases["partial"] == simulated["answered"]
    assert 0 < rates["RR1"] <= rates["RR3"] <= rates["RR5"] <= 1
    assert rates["e"] is None or 0 <= rates["e"] <= 1


def test_the_icon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert client.get(response.headers["Location"]).status_code == 200


def test_each_reader_gets_their_own_not_found_page(client, login):
    assert "Check that you opened the whole link" in client.get("/p/no-such-link?lang=en").get_data(as_text=True)
    elsewhere = client.get("/no/such/page?lang=en")
    assert elsewhere.status_code == 404 and "Page not found" in elsewhere.get_data(as_text=True)
    assert "opened the whole link" not in elsewhere.get_data(as_text=True)
    login()
    operator = client.get("/dashboard/no-such-poll?lang=en").get_data(as_text=True)
    assert "Page not found" in operator and "opened the whole link" not in operator


def test_links_can_be_listed_by_language_and_unanswered(client, runner, simulated):
    listed = runner.invoke(args=["links", "sim", "--language", "ar", "--unanswered", "--limit", "3"])
    assert listed.exit_code == 0, listed.output
    urls = listed.output.split()
    assert len(urls) == 3
    for url in urls:
        page = client.get(urlsplit(url).path)
        assert page.status_code == 200 and 'lang="ar"' in page.get_data(as_text=True)
        assert "<form" in page.get_data(as_text=True)  # not answered yet: the form, not "already recorded"


def test_the_methodology_statement_exports_as_json(runner, simulated):
    exported = runner.invoke(args=["export", "sim", "--what", "methodology", "--format", "json"])
    assert exported.exit_code == 0, exported.output
    statement = json.loads(exported.output)
    assert [q["position"] for q in statement["questions"]] == list(range(1, len(statement["questions"]) + 1))
    assert statement["rates"]["dispositions"]["complete"] + statement["rates"]["dispositions"]["partial"] == \
        simulated["answered"]
    assert statement["weighting"]["variables"] == ["governorate", "sex", "age_band"]
    assert statement["simulated"] is True and statement["limitations"]
    refused = runner.invoke(args=["export", "sim", "--what", "methodology"])
    assert refused.exit_code != 0 and "--format json" in refused.output


def test_the_methodology_page_says_what_its_json_says(client, simulated):
    from poll.services.releases import methodology

    page = html.unescape(client.get("/results/sim/methodology?lang=en").get_data(as_text=True))
    for text in (methodology.MODE, methodology.INTERVALS, *methodology.LIMITATIONS):
        assert text in page


def _shared_cacheable(response) -> bool:
    control = response.cache_control
    return not (control.no_store or control.private) and bool(control.public or control.max_age or control.s_maxage)


def test_no_shared_cache_serves_one_readers_language_to_another(client, simulated, make_poll, make_links):
    # Each public page, chosen by the browser's Accept-Language: either a cache keys it by that header, or no
    # shared cache keeps it at all.
    closed = make_links(make_poll("shut", status="closed"), count=1)[0]
    public = ["/", "/results", "/results/sim", "/results/sim?group=sex:F", "/results/sim/methodology",
              "/results/no-such-poll", "/results/no-such-poll/methodology", "/p/AAAAAAAAAAAAAAAAAAAAAA",
              f"/p/{closed}", "/api/v1/polls/sim/results", "/api/v1/polls/no-such-poll/results", "/no/such/page"]
    for path in public:
        english, arabic = (client.get(path, headers={"Accept-Language": tag}) for tag in ("en-GB,en;q=0.9", "ar-IQ"))
        assert english.status_code == arabic.status_code, path
        for response in (english, arabic):
            if english.get_data() != arabic.get_data():
                assert "accept-language" in response.vary or not _shared_cacheable(response), path
            assert "Set-Cookie" not in response.headers, path
    for path in ("/", "/results", "/results/sim", "/results/sim/methodology"):
        page = client.get(path, headers={"Accept-Language": "en"})
        assert _shared_cacheable(page) and "accept-language" in page.vary, path
    figures = [client.get("/api/v1/polls/sim/results", headers={"Accept-Language": tag}) for tag in ("en", "ar")]
    assert figures[0].get_data() == figures[1].get_data() and _shared_cacheable(figures[0])


def test_a_public_page_seen_with_cookies_is_kept_by_no_shared_cache(client, simulated, login):
    login()
    for path in ("/", "/results", "/results/sim", "/results/sim/methodology", "/api/v1/polls/sim/results"):
        response = client.get(path)
        assert response.status_code == 200 and not _shared_cacheable(response), path
        assert "private" in response.headers["Cache-Control"], path


def test_the_articles_follow_up_is_published_saying_after_which_answer_it_was_asked(client, session, runner,
                                                                                     make_links):
    for args in (["polls", "create", "--builtin", "coalition-2024-two-step"], ["polls", "open", "coalition-2024-two-step"]):
        assert runner.invoke(args=args).exit_code == 0
    poll = polls.get_poll(fresh(session), "coalition-2024-two-step")
    forms = [{"option": "1"}] * 12 + [{"option": "2", "how_end": "1"}] * 12 + [{"option": "2", "how_end": "2"}] * 8
    for token, form in zip(make_links(poll, count=len(forms)), forms, strict=True):
        assert client.post(f"/p/{token}", data=form).status_code == 201
    generous_budget(session, poll.slug)
    page = client.get(f"/results/{poll.slug}?lang=en").get_data(as_text=True)
    section = html.unescape(page.split('id="h-q-how_end"')[1].split("<h3")[0])
    assert "Asked only of those who answered “No” to the first question." in section
    assert "By all means" in section and "Through dialogue" in section and 'class="bar-value"' in section
    arabic = html.unescape(client.get(f"/results/{poll.slug}?lang=ar").get_data(as_text=True))
    assert "«لا»" in arabic.split('id="h-q-how_end"')[1].split("<h3")[0]
    (how_end,) = [q for q in client.get(f"/api/v1/polls/{poll.slug}/results").get_json()["questions"]
                  if q["name"] == "how_end"]
    assert how_end["asked_after"] == ["2"] and all(o["share"] is not None for o in how_end["options"])


SIMULATED = "Simulated answers, not a poll of real people."


def _preview(page: str, name: str) -> str:
    found = re.search(rf'<meta (?:name|property)="{name}" content="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else ""


def test_every_public_page_of_a_simulation_says_it_is_simulated(client, session, simulated, make_poll, make_links):
    generous_budget(session, "sim")
    make_links(make_poll("real"), count=3)
    page = html.unescape(client.get("/results/sim?lang=en").get_data(as_text=True))
    assert SIMULATED in page.split("<main>")[1].split("<h1>")[0]  # before the question, in the first screen
    assert _preview(page, "og:description").startswith(SIMULATED)
    assert _preview(page, "description").startswith(SIMULATED)
    shared = re.search(r'href="https://wa.me/\?text=([^"]*)"', page).group(1)
    assert shared.startswith(quote(SIMULATED))  # the share text, not only the page
    methodology = html.unescape(client.get("/results/sim/methodology?lang=en").get_data(as_text=True))
    assert SIMULATED in methodology.split("<h1>")[0]
    index = html.unescape(client.get("/results?lang=en").get_data(as_text=True))
    entry = index.split('href="/results/sim?')[0].rsplit("<li", 1)[1]
    assert SIMULATED in entry
    assert SIMULATED not in index.split('href="/results/real?')[0].rsplit("<li", 1)[1]
    assert SIMULATED not in client.get("/results/real?lang=en").get_data(as_text=True)
    arabic = client.get("/results/sim?lang=ar").get_data(as_text=True)
    assert "Simulated answers" not in arabic and 'class="simulated"' in arabic


def test_the_truth_of_a_simulation_is_for_operators_only(client, session, simulated):
    generous_budget(session, "sim")
    page = client.get("/results/sim?lang=en").get_data(as_text=True)
    assert "true share" not in page and "truth" not in page.lower()
    figures = client.get("/api/v1/polls/sim/results").get_json()
    assert figures["simulation"]["simulated"] is True
    assert all(option.get("true_share") is None for option in figures["options"])
    assert all(option.get("true_share") is None for question in figures["questions"]
               for option in question.get("options") or [])


def test_the_results_list_gives_each_polls_answers_and_leading_figure(client, session, simulated):
    generous_budget(session, "sim")
    page = html.unescape(client.get("/results/sim?lang=en").get_data(as_text=True))
    leading = max(zip(map(int, re.findall(r'class="bar-value">(\d+)%<', page.split('id="h-estimate"')[1].split("</ul>")[0])),
                      re.findall(r'class="bar-label">([^<]*)<', page.split('id="h-estimate"')[1].split("</ul>")[0]),
                      strict=True))
    index = html.unescape(client.get("/results?lang=en").get_data(as_text=True))
    assert re.search(r"[\d,]+ answered", index)
    assert f"most often: {leading[1]}, {leading[0]}%" in index


def test_the_stylesheet_is_kept_for_a_year_under_a_url_that_changes_with_it(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    url = html.unescape(re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1))
    assert "v=" in url
    response = client.get(url)
    assert response.status_code == 200
    assert response.cache_control.max_age >= 365 * 24 * 3600 and response.cache_control.immutable
    response.close()
    stale = client.get(url.split("?")[0] + "?v=0ld")  # an old page's version: asked again, as before
    assert not stale.cache_control.immutable and (stale.cache_control.max_age or 0) < 3600
    stale.close()


def test_the_public_map_names_its_answer_and_offers_the_others(client, session, simulated):
    generous_budget(session, "sim")
    page = html.unescape(client.get("/results/sim?lang=en&option=2").get_data(as_text=True))
    switch = page.split('id="map-option"')[1].split("</select>")[0]
    assert len(re.findall(r"<option ", switch)) == 3 and 'value="2" selected' in switch
    caption = re.search(r'<strong class="map-title">([^<]*)</strong>', page).group(1)
    assert caption == "Share answering End the mission through dialogue, by governorate."


def test_the_methodology_states_every_transparency_item_in_each_language(client, runner, app, simulated):
    app.config["CONTACT"] = "polls@example.org"
    statement = json.loads(runner.invoke(args=["export", "sim", "--what", "methodology", "--format", "json"]).output)
    assert "18 governorates" in statement["population"]
    assert "simulated population" in statement["frame"]["source"]
    assert "18 or over is not screened" in statement["sample_design"]
    assert set(statement["invitations"]["texts"]) == {"ar", "ku", "en"}
    assert all("[personal link]" in text for text in statement["invitations"]["texts"].values())
    assert "Wilson score interval" in statement["interval_method"] and "Kish" in statement["interval_method"]
    assert statement["contact"] == "polls@example.org"
    assert sum(count or 0 for count in statement["channels"].values()) <= simulated["answered"]
    pages = {code: html.unescape(client.get(f"/results/sim/methodology?lang={code}").get_data(as_text=True))
             for code in ("en", "ar", "ku")}
    english = pages["en"]
    for item in ("Population and geography", "Where the numbers came from", "Sample design and eligibility",
                 "Invitation SMS", "Answered on the web and by SMS", "Contact", "Interval method"):
        assert item in english
    assert "polls@example.org" in english and "Wilson score interval" in english
    assert "[personal link]" in english and "Invitations:" in english
    for code in ("ar", "ku"):
        assert "Population and geography" not in pages[code] and "Interval method" not in pages[code]
        assert "polls@example.org" in pages[code]
