"""Every page in Chromium, in Arabic, Kurdish and English, on a phone and a laptop: axe-core finds no
violation, the page is never wider than the window, and the console stays clean.

Screenshots of each go to test-artifacts/pages/ for people to look at.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe

from poll.models import Link, Recipient, utcnow
from poll.runners import jobs as job_runner
from poll.services.access import operators
from poll.services.definition import polls
from tests.helpers import fresh
from tests.servers import gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LANGUAGES = ("ar", "ku", "en")
SIZES = {"small-phone": (360, 740), "phone": (390, 844), "laptop": (1440, 900)}
PASSWORD = "a long enough password"


@pytest.fixture
def site(runner, session, make_poll, make_links, client):
    """A simulated poll with results, and a poll of each respondent state; returns the paths to look at."""
    make_poll("sim", status="draft")
    result = runner.invoke(args=["simulate", "sim", "--population", "20000", "--sample", "8000", "--seed", "4",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["answered"] > 0
    split = polls.builtin_definition("coalition-2024-split-ballot")
    make_poll("split", status="draft", **{key: value for key, value in split.items() if key != "slug"})
    result = runner.invoke(args=["simulate", "split", "--scenario", "wording-effect", "--population", "20000",
                                 "--sample", "12000", "--seed", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert all(not variant["suppressed"] for variant in json.loads(result.output)["experiment"]["variants"])
    two_step = fresh(session).scalar(sa.select(Link.token).where(Link.variant == "two-step",
                                                                 Link.answered_on.is_(None)).limit(1))
    open_poll = make_poll("open")
    form, *done = make_links(open_poll, count=1 + len(LANGUAGES))
    # Only a poll that is not anonymous says, on opening, that a link was answered.
    answered = make_links(make_poll("named", anonymous=False), count=1)[0]
    assert client.post(f"/p/{answered}", data={"option": "1"}).status_code == 201
    closed = make_links(make_poll("shut", status="closed"), count=1)[0]
    later = make_poll("later", status="draft")
    polls.open_poll(session, later, at=utcnow() + timedelta(days=2))
    session.commit()
    not_yet = make_links(later, count=1)[0]
    operators.create_operator(session, "chief", PASSWORD, "admin")
    session.commit()
    phone = fresh(session).scalar(sa.select(Recipient.phone).order_by(Recipient.id))
    # Two finished simulation jobs: a Monte Carlo of "sim" (its histograms) and one simulated poll of its own.
    make_poll("jobbed", status="draft")
    job_ids = []
    for slug, replications in (("sim", 30), ("jobbed", 0)):
        request = job_runner.SimulationRequest(slug, "baseline", 3000, 2000, 4, replications, "in-process")
        job_ids.append(job_runner.start_simulation(fresh(session), request, by=None).id)
        session.commit()
        job_runner.run(runner.app.extensions["poll.db"], job_ids[-1], base_url="")
    public = {
        "home": "/", "results-list": "/results", "results": "/results/sim", "results-group": "/results/sim?group=sex:F",
        "methodology": "/results/sim/methodology", "results-empty": "/results/open", "not-found": "/no/such/page",
        "form": f"/p/{form}", "already-answered": f"/p/{answered}", "closed": f"/p/{closed}",
        "not-open": f"/p/{not_yet}", "unknown-link": "/p/AAAAAAAAAAAAAAAAAAAAAA", "login": "/login",
        "split-results": "/results/split", "split-methodology": "/results/split/methodology",
        "two-step-form": f"/p/{two_step}",
    }
    operator = {
        "polls": "/dashboard/", "dashboard": "/dashboard/sim", "split-dashboard": "/dashboard/split",
        "audit": "/admin/audit",
        "phone-view": f"/phone/{phone.lstrip('+')}", "operator-not-found": "/dashboard/no-such-poll",
        "simulations": "/admin/simulations", "job-monte-carlo": f"/admin/jobs/{job_ids[0]}",
        "job-simulation": f"/admin/jobs/{job_ids[1]}",
    }
    return public, operator, dict(zip(LANGUAGES, done, strict=True))


def check(page, console: list[tuple[str, str]], name: str, url: str | None, width: int, artifacts) -> list[str]:
    """Open `url` (None: the page as it is), and return what is wrong with it: axe violations, a page wider
    than the window, console errors."""
    if url is not None:
        console.clear()
        page.goto(url)
    # An error page's own status (404, 410...) is what it is for; anything else logged as an error is a fault.
    problems = [f"console: {text} ({where})" for text, where in console
                if not (text.startswith("Failed to load resource") and where == page.url)]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"{scroll_width}px wide in a {width}px window")
    for violation in Axe().run(page).response["violations"]:
        targets = [node["target"] for node in violation["nodes"]][:3]
        problems.append(f"axe {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)
    return problems


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_is_accessible_and_fits_in_every_language(database_url, browser, site, artifacts, size):
    public, operator, done = site
    width, height = SIZES[size]
    folder = artifacts / "pages"
    folder.mkdir(exist_ok=True)
    found: dict[str, list[str]] = {}
    env = {"POLL_SMS_GATEWAY": "simulated"}
    with gunicorn(database_url, workers=2, env=env) as base:
        for language in LANGUAGES:
            context = browser.new_context(viewport={"width": width, "height": height}, locale="ar-IQ",
                                          is_mobile=size != "laptop", has_touch=size != "laptop")
            page = context.new_page()
            console: list[tuple[str, str]] = []
            page.on("console", lambda message, console=console: console.append(
                (message.text, message.location.get("url", ""))) if message.type == "error" else None)
            for name, path in public.items():
                joiner = "&" if "?" in path else "?"
                found[f"{name} {language} {size}"] = check(
                    page, console, f"{name}-{language}-{size}", f"{base}{path}{joiner}lang={language}", width, folder)
            # The page a respondent sees after answering.
            console.clear()
            page.goto(f"{base}/p/{done[language]}?lang={language}")
            page.locator("input[name=option]").first.check()
            page.locator("form button[type=submit]").last.click()
            page.wait_for_load_state()
            found[f"recorded {language} {size}"] = check(page, console, f"recorded-{language}-{size}", None, width,
                                                         folder)
            page.goto(f"{base}/login?lang={language}")
            page.fill("#name", "chief")
            page.fill("#password", PASSWORD)
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url(f"{base}/dashboard/**")
            for name, path in operator.items():
                found[f"{name} {language} {size}"] = check(
                    page, console, f"{name}-{language}-{size}", f"{base}{path}?lang={language}", width, folder)
            context.close()
    problems = {page: issues for page, issues in found.items() if issues}
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)


# A figure is split when its text runs over more than one line box (each line box is one client rect).
SPLIT_FIGURES = """() => {
  const split = (el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(node);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (tops.size > 1) return true;
    }
    return false;
  };
  return [...document.querySelectorAll('table.numbers td, .bar-value, table.numbers thead th')]
    .filter((el) => el.offsetParent !== null && el.closest('details:not([open])') === null)
    .filter((el) => el.tagName !== 'TH' || !/\\s/.test(el.textContent.trim()))
    .filter((el) => !el.hasAttribute('dir') && !el.closest('table.log'))  // words, not figures
    .filter(split).map((el) => el.textContent.trim()).slice(0, 5);
}"""
# The page's 112.5%, doubled: a reader's 200% text size (set through the CSSOM, which the CSP allows).
TEXT_200 = "document.documentElement.style.fontSize = '225%'"
# What sticks out of the window: the innermost elements past either edge, named for the failure message.
STICKING_OUT = """(width) => {
  const clipped = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const past = (r) => r.width > 0 && (r.right > width + 1 || r.left < -1);
  const name = (el) => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
    + (el.id ? '#' + el.id : '');
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node && found.length < 4; node = walker.nextNode()) {
    if (!node.textContent.trim() || clipped(node.parentElement)) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    if ([...range.getClientRects()].some(past)) found.push(name(node.parentElement) + ' "' + node.textContent.trim().slice(0, 30) + '"');
  }
  const boxes = [...document.body.querySelectorAll('input, select, textarea, svg, img, table, button')]
    .filter((el) => past(el.getBoundingClientRect()) && !clipped(el)).map(name);
  return [...found, ...boxes].slice(0, 6);
}"""


@pytest.mark.parametrize("size", ["small-phone", "laptop"])
def test_figures_stay_whole_and_wide_tables_scroll_in_their_card(database_url, browser, site, size):
    public, operator, _done = site
    width, height = SIZES[size]
    found: dict[str, list[str]] = {}
    with gunicorn(database_url, workers=2, env={"POLL_SMS_GATEWAY": "simulated"}) as base:
        for language in LANGUAGES:
            context = browser.new_context(viewport={"width": width, "height": height}, locale="ar-IQ")
            page = context.new_page()
            page.goto(f"{base}/login?lang={language}")
            page.fill("#name", "chief")
            page.fill("#password", PASSWORD)
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url(f"{base}/dashboard/**")
            for name, path in {**public, **operator}.items():
                joiner = "&" if "?" in path else "?"
                page.goto(f"{base}{path}{joiner}lang={language}")
                problems = [f"split: {text}" for text in page.evaluate(SPLIT_FIGURES)]
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                if scroll_width > width:
                    problems.append(f"{scroll_width}px wide in a {width}px window")
                if problems:
                    found[f"{name} {language}"] = problems
            context.close()
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)


def test_no_page_overflows_at_200_percent_text(database_url, browser, site, artifacts):
    public, operator, done = site
    width, height = SIZES["phone"]
    found: dict[str, str] = {}
    with gunicorn(database_url, workers=2, env={"POLL_SMS_GATEWAY": "simulated"}) as base:
        for language in LANGUAGES:
            # Not is_mobile: a phone's browser widens its layout to fit what overflows, which hides the culprit.
            context = browser.new_context(viewport={"width": width, "height": height}, locale="ar-IQ")
            page = context.new_page()
            pages = dict(public)
            if language == "ar":  # the operator's pages too, in the language that runs longest there
                page.goto(f"{base}/login?lang={language}")
                page.fill("#name", "chief")
                page.fill("#password", PASSWORD)
                page.locator("form button[type=submit]").last.click()
                page.wait_for_url(f"{base}/dashboard/**")
                pages.update(operator)
                pages.update({"audit-filtered": "/admin/audit?action=job-started", "preview-split":
                              "/admin/polls/split/preview?variant=two-step"})
            for name, path in pages.items():
                joiner = "&" if "?" in path else "?"
                page.goto(f"{base}{path}{joiner}lang={language}")
                page.evaluate(TEXT_200)
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                if scroll_width > width:
                    found[f"{name} {language}"] = f"{scroll_width}px wide in a {width}px window: " + \
                        ", ".join(page.evaluate(STICKING_OUT, width))
                    page.screenshot(path=artifacts / f"text-200-{name}-{language}.png", full_page=True)
            context.close()
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
