"""The operator workspace in Chromium: a poll run from the browser in Arabic, and every workspace page accessible
and fitting its window in each language."""

from __future__ import annotations

import json

import pyreadstat
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from poll.models import AuditEvent, Link, OutboxMessage, Poll
from poll.services.access import operators
from tests.helpers import fresh, rows
from tests.servers import gunicorn
from tests.test_accessibility import check
from tests.test_workspace import AUDIENCE, SPLIT
from tests.test_xlsform import CHOICES, SETTINGS, SURVEY, form

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough password"


def log_in(page, base: str, language: str) -> None:
    page.goto(f"{base}/login?lang={language}")
    page.fill("#name", "chief")
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{base}/dashboard/**")


def confirm(page, step: str) -> None:
    """Press a step's button on the poll's page, read what it will do, and confirm it."""
    page.locator(f"form[action$='/{step}'] button").click()
    expect(page.locator("input[name=confirm]")).to_have_count(1)
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("p.flash")).to_be_visible()


def answer(browser, url: str, support: str) -> None:
    """A respondent's phone, a browser of its own, answers the tea poll's required questions at `url`."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="ar-IQ")
    phone = context.new_page()
    phone.goto(url)
    phone.locator(f'#q-support input[value="{support}"]').check()
    if support == "2":
        phone.locator('#q-how_end input[value="1"]').check()
    phone.locator("#q-sex label.choice").first.tap()
    phone.locator("button[type=submit]").click()
    expect(phone.locator("h1.done")).to_have_count(1)
    context.close()


def test_an_operator_runs_a_poll_from_the_browser_in_arabic(database_url, session, browser, artifacts, tmp_path):
    operators.create_operator(session, "chief", PASSWORD, "admin")
    session.commit()
    workbook = form(tmp_path / "tea.xlsx", survey=SURVEY, choices=CHOICES, settings=SETTINGS)
    audience = tmp_path / "audience.csv"
    audience.write_text(AUDIENCE, encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="ar-IQ")
    page = context.new_page()
    with gunicorn(database_url, workers=2, env={"POLL_SMS_GATEWAY": "simulated"}) as base:
        log_in(page, base, "ar")
        page.goto(f"{base}/admin/polls/new")
        assert page.locator("html").get_attribute("dir") == "rtl"
        expect(page.get_by_role("heading", level=1)).to_have_text("استطلاع جديد")
        page.set_input_files("#file", str(workbook))
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(f"{base}/admin/polls/tea-poll")
        expect(page.locator("p.flash").first).to_contain_text("tea-poll")
        page.get_by_role("link", name="معاينة: صفحة المجيب وكل الرسائل القصيرة").click()
        expect(page.locator(".phone-frame input[name=option]")).to_have_count(2)
        page.screenshot(path=artifacts / "workspace-preview-ar.png", full_page=True)
        page.goto(f"{base}/admin/polls/tea-poll")
        page.screenshot(path=artifacts / "workspace-before-audience.png", full_page=True)
        page.set_input_files("#audience-file", str(audience))
        page.locator("form[action$='/audience'] button").click()
        expect(page.get_by_role("heading", name="الأسطر الخاطئة")).to_be_visible()
        page.screenshot(path=artifacts / "workspace-audience-ar.png", full_page=True)
        page.get_by_role("link", name="العودة إلى الاستطلاع").click()
        confirm(page, "invite")
        confirm(page, "open")
        confirm(page, "queue")
        page.screenshot(path=artifacts / "workspace-poll-ar.png", full_page=True)
        page.get_by_role("link", name="لوحة المتابعة").first.click()
        page.wait_for_url(f"{base}/dashboard/tea-poll")
        assert page.locator("html").get_attribute("dir") == "rtl"
        # Three people answer on their own phones; the operator then takes the answers to SPSS.
        for k, token in enumerate(fresh(session).scalars(sa.select(Link.token).order_by(Link.id))):
            answer(browser, f"{base}/p/{token}", support=str(1 + k % 2))
        page.reload()
        with page.expect_download() as download:
            page.get_by_role("link", name="الإجابات لبرنامج SPSS").click()
        sav = tmp_path / download.value.suggested_filename
        download.value.save_as(sav)
    context.close()
    frame, meta = pyreadstat.read_sav(str(sav))
    assert sav.name == "tea-poll-answers.sav" and len(frame) == 3
    assert sorted(frame["option"].tolist()) == [1, 1, 2]  # the headline, as its codes
    assert meta.variable_value_labels["option"][2] == "لا"
    poll = fresh(session).scalar(sa.select(Poll).where(Poll.slug == "tea-poll"))
    assert poll.status == "open"
    assert rows(session, Link) == 3 and rows(session, OutboxMessage) == 3
    actors = {event.action: event.actor for event in fresh(session).scalars(sa.select(AuditEvent))}
    for action in ("poll-created", "audience-imported", "links-issued", "poll-opened", "messages-queued"):
        assert actors[action] == "chief"


@pytest.mark.parametrize("size", [(360, 740), (1440, 900)], ids=["phone", "laptop"])
def test_workspace_pages_are_accessible_and_fit_in_every_language(database_url, browser, session, make_poll,
                                                                  make_links, artifacts, size):
    make_links(make_poll("live"), count=3)
    make_poll("draft", status="draft")
    make_poll("split", status="draft", **SPLIT)
    operators.create_operator(session, "chief", PASSWORD, "admin")
    session.commit()
    width, height = size
    folder = artifacts / "pages"
    folder.mkdir(exist_ok=True)
    pages = {"workspace-polls": "/admin/polls", "workspace-new": "/admin/polls/new",
             "workspace-poll": "/admin/polls/live", "workspace-preview": "/admin/polls/live/preview",
             "workspace-operators": "/admin/operators",
             "workspace-preview-two-step": "/admin/polls/split/preview?variant=two-step",
             "audit-filtered": "/admin/audit?action=poll-created&poll=live"}
    found: dict[str, list[str]] = {}
    with gunicorn(database_url, workers=2, env={"POLL_SMS_GATEWAY": "simulated"}) as base:
        for language in ("ar", "ku", "en"):
            context = browser.new_context(viewport={"width": width, "height": height}, locale="ar-IQ")
            page = context.new_page()
            console: list[tuple[str, str]] = []
            page.on("console", lambda message, console=console: console.append(
                (message.text, message.location.get("url", ""))) if message.type == "error" else None)
            log_in(page, base, language)
            for name, path in pages.items():
                joiner = "&" if "?" in path else "?"
                found[f"{name} {language} {width}"] = check(
                    page, console, f"{name}-{language}-{width}", f"{base}{path}{joiner}lang={language}", width, folder)
            # The confirmation of a step.
            page.goto(f"{base}/admin/polls/live?lang={language}")
            page.locator("form[action$='/queue'] button").click()
            found[f"workspace-confirm {language} {width}"] = check(
                page, console, f"workspace-confirm-{language}-{width}", None, width, folder)
            context.close()
    problems = {page: issues for page, issues in found.items() if issues}
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)
