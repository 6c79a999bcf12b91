"""The dashboard in Chromium: charts in Arabic and English, and answers arriving without a reload."""

import re

import pytest
from playwright.sync_api import expect

from poll.services.access import operators
from tests.helpers import generous_budget
from tests.servers import gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def log_in(page, base, name, password):
    page.goto(f"{base}/login?lang=en")
    page.fill("#name", name)
    page.fill("#password", password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/dashboard/")


def test_dashboard_charts_in_arabic_and_english(
    database_url, client, session, make_poll, make_links, browser, artifacts
):
    poll = make_poll("charts")
    for i, token in enumerate(make_links(poll, count=12)):
        assert client.post(f"/p/{token}", data={"option": str(1 + i % 3)}).status_code == 201
    operators.create_operator(session, "chief", "a long enough password", "admin")
    session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ar-IQ")
    page = context.new_page()
    with gunicorn(database_url, workers=2) as base:
        log_in(page, base, "chief", "a long enough password")
        for lang, direction, heading in [("en", "ltr", "From invitation to answer"), ("ar", "rtl", None)]:
            page.goto(f"{base}/dashboard/charts?lang={lang}")
            assert page.locator("html").get_attribute("dir") == direction
            assert page.locator("svg.chart").count() >= 7
            if heading:
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
            # Every chart has a title a screen reader can read.
            assert all(label for label in page.locator("svg.chart").evaluate_all(
                "nodes => nodes.map(n => n.getAttribute('aria-label'))"))
            page.screenshot(path=artifacts / f"dashboard-{lang}.png", full_page=True)
        # The share chart's label "1. <answer>": in Arabic its number comes first, on the right.
        label = page.locator("svg.chart text", has_text="1. إنهاء المهمة بكل الوسائل").first
        number, letter = label.evaluate("""node => {
            const text = node.textContent;
            const at = i => node.getExtentOfChar(i).x;
            return [at(text.indexOf("1")), at(text.indexOf("إ"))];
        }""")
        assert number > letter
    context.close()


def test_an_answer_shows_up_on_an_open_dashboard(database_url, session, make_poll, make_links, browser, phone,
                                                 artifacts):
    poll = make_poll("watch")
    token = make_links(poll, count=1)[0]
    operators.create_operator(session, "watcher", "a long enough password", "viewer")
    session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with gunicorn(database_url, workers=2) as base:
        log_in(page, base, "watcher", "a long enough password")
        page.goto(f"{base}/dashboard/watch?lang=en")
        answered = page.locator("[data-figure=answered]")
        expect(answered).to_have_text("0")
        phone.goto(f"{base}/p/{token}?lang=en")
        phone.locator("label.choice").nth(2).tap()
        phone.get_by_role("button").click()
        expect(phone.locator("h1")).to_contain_text("recorded")
        # The page's script fetches fresh figures; no reload here.
        expect(answered).to_have_text("1", timeout=15_000)
        page.screenshot(path=artifacts / "dashboard-live.png", full_page=True)
    context.close()


def test_the_live_refresh_keeps_the_readers_choice_and_says_when_it_is_stale(
    database_url, client, session, make_poll, make_links, browser
):
    poll = make_poll("keep")
    for i, token in enumerate(make_links(poll, count=12)):
        assert client.post(f"/p/{token}", data={"option": str(1 + i % 3)}).status_code == 201
    operators.create_operator(session, "keeper", "a long enough password", "viewer")
    session.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    with gunicorn(database_url, workers=2) as base:
        log_in(page, base, "keeper", "a long enough password")
        page.goto(f"{base}/dashboard/keep?lang=en")
        page.select_option("#map-option", "1")
        page.locator("h1").click()  # leave the list: the refresh waits while it has the focus
        status = page.locator("#refreshed")
        # The script's own clock has seconds; the page's first line has none.
        expect(status).to_have_text(re.compile(r"Updated at .*\d:\d\d:\d\d"), timeout=15_000)
        expect(page.locator("#map-option")).to_have_value("1")
        assert "answering End the mission by all means" in page.locator("svg[aria-label*='by governorate']").first.get_attribute("aria-label")
    # The server is gone: the figures stay, and the page says since when.
    expect(status).to_have_text(re.compile("Not updated since"), timeout=15_000)
    expect(page.locator("#map-option")).to_have_value("1")
    context.close()


# Every chart's text as drawn on the screen: its font size times the scale from the chart's units to the page's.
RENDERED_TEXT = """nodes => nodes.filter(n => n.getBBox().width > 0).map(n => {
    const m = n.getScreenCTM();
    return [n.textContent, parseFloat(getComputedStyle(n).fontSize) * Math.hypot(m.a, m.b)];
})"""


def test_chart_text_is_at_least_12_px_on_a_360_px_phone(database_url, session, simulated, browser, artifacts):
    generous_budget(session, "sim")
    operators.create_operator(session, "small", "a long enough password", "viewer")
    session.commit()
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    with gunicorn(database_url, workers=2) as base:
        log_in(page, base, "small", "a long enough password")
        for path in ("/dashboard/sim", "/results/sim"):
            for lang in ("ar", "en"):
                page.goto(f"{base}{path}?lang={lang}")
                texts = page.locator("svg.chart text").evaluate_all(RENDERED_TEXT)
                assert len(texts) > 20, path  # the charts are there, maps and all
                small = [(text, round(size, 1)) for text, size in texts if size < 12]
                assert small == [], f"{path}?lang={lang}"
                assert page.evaluate("document.documentElement.scrollWidth") <= 360
                for k, chart in enumerate(page.locator("svg.chart").all()[:8]):
                    chart.screenshot(path=artifacts / f"charts-360{path.replace('/', '-')}-{lang}-{k}.png")
        # The map is shown whole at its own size on a laptop, shorter than the screen, its answer named beside it.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{base}/results/sim?lang=en")
        box = page.locator("figure.map svg.chart").first.bounding_box()
        assert box["height"] < 800
        caption = page.locator("figure.map figcaption .map-title").first
        expect(caption).to_be_visible()
        expect(caption).to_contain_text("Share answering")
        expect(page.locator("#map-option")).to_be_visible()
    context.close()
