"""A respondent answers in Chromium on a phone-size screen, in each language."""

import pytest
import sqlalchemy as sa

from poll.models import Answer
from tests.helpers import fresh
from tests.servers import gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CASES = [
    # language switch label, html lang, direction, thank-you text
    (None, "ar", "rtl", "تم تسجيل إجابتك"),
    ("کوردی", "ckb", "rtl", "وەڵامەکەت تۆمار کرا"),
    ("English", "en", "ltr", "Your answer has been recorded"),
]


def test_respondent_answers_on_a_phone_in_each_language(
    database_url, session, make_poll, make_links, phone, artifacts
):
    tokens = make_links(make_poll(), count=len(CASES))
    with gunicorn(database_url, workers=2) as base:
        for token, (switch, lang, direction, thanks) in zip(tokens, CASES, strict=True):
            phone.goto(f"{base}/p/{token}")
            assert phone.locator("html").get_attribute("dir") == "rtl"  # Arabic first
            if switch:
                phone.get_by_role("link", name=switch).click()
            html = phone.locator("html")
            assert html.get_attribute("lang") == lang
            assert html.get_attribute("dir") == direction
            radios = phone.get_by_role("radio")
            assert radios.count() == 3
            box = phone.locator("label.choice").first.bounding_box()
            assert box["height"] >= 44  # a comfortable tap target
            phone.screenshot(path=artifacts / f"respond-{lang}-form.png", full_page=True)
            phone.locator("label.choice").nth(1).tap()
            assert radios.nth(1).is_checked()
            phone.get_by_role("button").click()
            assert thanks in phone.locator("h1").inner_text()
            phone.screenshot(path=artifacts / f"respond-{lang}-recorded.png", full_page=True)
            phone.goto(f"{base}/p/{token}?lang=en")
            assert "already recorded" in phone.locator("h1").inner_text()
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == len(CASES)


def test_form_without_a_choice_is_not_sent(database_url, session, make_poll, make_links, phone):
    token = make_links(make_poll())[0]
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=en")
        phone.get_by_role("button").click()
        # The browser's own validation keeps the page: the radios are required.
        assert phone.get_by_role("radio").first.evaluate("el => el.validity.valueMissing")
        assert phone.url.endswith("?lang=en")
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 0
