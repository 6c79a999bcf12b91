"""A respondent answers in Chromium on a phone-size screen, in each language."""

import pytest
import sqlalchemy as sa

from poll.models import Answer, Link
from poll.services.definition import polls
from tests.helpers import fresh, generous_budget
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
            radios = phone.locator('input[name="option"]')
            assert radios.count() == 3
            box = phone.locator("label.choice").first.bounding_box()
            assert box["height"] >= 44  # a comfortable tap target
            phone.screenshot(path=artifacts / f"respond-{lang}-form.png", full_page=True)
            phone.locator("#q-answer label.choice").nth(1).tap()
            assert radios.nth(1).is_checked()
            phone.get_by_role("button").click()
            assert thanks in phone.locator("h1").inner_text()
            phone.screenshot(path=artifacts / f"respond-{lang}-recorded.png", full_page=True)
            # Opened again, the link shows the form, as an unused one does; sending it again is refused.
            phone.goto(f"{base}/p/{token}?lang=en")
            assert radios.count() == 3
            phone.locator("#q-answer label.choice").first.tap()
            phone.get_by_role("button").click()
            assert "already recorded" in phone.locator("h1").inner_text()
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == len(CASES)


def test_form_without_a_choice_is_not_sent(database_url, session, make_poll, make_links, phone):
    token = make_links(make_poll())[0]
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=en")
        phone.get_by_role("button").click()
        # The browser's own validation keeps the page: the headline's radios are required.
        assert phone.locator('input[name="option"]').first.evaluate("el => el.validity.valueMissing")
        assert phone.url.endswith("?lang=en")
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 0


TWO_STEP = {key: value for key, value in polls.builtin_definition("coalition-2024-two-step").items() if key != "slug"}


@pytest.fixture
def no_script_phone(browser):
    """A phone whose browser runs no JavaScript, as some SMS apps' built-in browsers do not."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="ar-IQ", java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("lang", ["ar", "ku", "en"])
def test_the_whole_form_is_answered_in_each_language(database_url, session, make_poll, make_links, phone, artifacts,
                                                      lang):
    token = make_links(make_poll(), governorate=None, sex=None, age=None, age_band=None)[0]
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang={lang}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        phone.screenshot(path=artifacts / f"questionnaire-{lang}-form.png", full_page=True)
        phone.locator("#q-answer label.choice").nth(0).tap()
        phone.locator("#q-sex label.choice").nth(1).tap()
        phone.locator("#field-age").fill("٣٤" if lang != "en" else "34")
        phone.locator("#field-governorate").select_option("IQ-SU")
        phone.locator("#q-employment label.choice").nth(3).tap()
        phone.locator("#q-education label.choice").nth(4).tap()
        phone.locator("button[type=submit]").click()
        assert phone.locator("h1.done").count() == 1
    answer = fresh(session).scalar(sa.select(Answer))
    assert answer.values == {"sex": "F", "age": 34, "governorate": "IQ-SU", "employment": "4", "education": "5"}
    assert (answer.governorate, answer.sex, answer.age_band) == ("IQ-SU", "F", "30-44")


def test_a_refused_form_comes_back_with_the_error_beside_its_question(database_url, session, make_poll, make_links,
                                                                      phone, artifacts):
    token = make_links(make_poll())[0]
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=ar")
        phone.locator("#q-answer label.choice").nth(2).tap()
        phone.locator("#field-age").fill("12")
        phone.locator("#q-education label.choice").nth(1).tap()
        phone.locator("button[type=submit]").click()
        assert phone.locator("#form-error").is_visible()
        assert "من 18 إلى 100" in phone.locator("#error-age").inner_text()
        # What was given is still there.
        assert phone.locator('#q-answer input[value="3"]').is_checked()
        assert phone.locator('#q-education input[value="2"]').is_checked()
        assert phone.locator("#field-age").input_value() == "12"
        phone.screenshot(path=artifacts / "questionnaire-ar-refused.png", full_page=True)
        phone.locator("#field-age").fill("40")
        phone.locator("button[type=submit]").click()
        assert phone.locator("h1.done").count() == 1
    assert fresh(session).scalar(sa.select(Answer.values)) == {"age": 40, "education": "2"}


@pytest.mark.parametrize(("choice", "follow_up"), [("1", None), ("2", "2")])
def test_the_follow_up_shows_only_after_no(database_url, session, make_poll, make_links, phone, choice, follow_up):
    token = make_links(make_poll(**TWO_STEP))[0]
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=en")
        assert phone.locator("#q-how_end").is_hidden()
        phone.locator(f'#q-support input[value="{choice}"]').check()
        assert phone.locator("#q-how_end").is_visible() == (follow_up is not None)
        if follow_up:
            phone.locator(f'#q-how_end input[value="{follow_up}"]').check()
        phone.locator("button[type=submit]").click()
        assert phone.locator("h1.done").count() == 1
    assert (fresh(session).scalar(sa.select(Answer.values)) or {}).get("how_end") == follow_up


def test_without_javascript_the_follow_up_says_when_to_answer_it(database_url, session, make_poll, make_links,
                                                                  no_script_phone, artifacts):
    yes, no = make_links(make_poll(**TWO_STEP), count=2)
    page = no_script_phone
    with gunicorn(database_url, workers=1) as base:
        page.goto(f"{base}/p/{yes}?lang=ar")
        assert page.locator("#q-how_end").is_visible()
        assert "«لا»" in page.locator("#when-how_end").inner_text()
        page.screenshot(path=artifacts / "questionnaire-ar-no-script.png", full_page=True)
        # "Yes", and a follow-up answered anyway: the server ignores it.
        page.locator('#q-support input[value="1"]').check()
        page.locator('#q-how_end input[value="1"]').check()
        page.locator("button[type=submit]").click()
        assert page.locator("h1.done").count() == 1
        # "No" without the follow-up: refused, and said beside it.
        page.goto(f"{base}/p/{no}?lang=en")
        page.locator('#q-support input[value="2"]').check()
        page.locator("button[type=submit]").click()
        assert page.locator("#error-how_end").is_visible()
        page.locator('#q-how_end input[value="2"]').check()
        page.locator("button[type=submit]").click()
        assert page.locator("h1.done").count() == 1
    stored = sorted((values or {}).get("how_end", "") for values in fresh(session).scalars(sa.select(Answer.values)))
    assert stored == ["", "2"]


SPLIT = {key: value for key, value in polls.builtin_definition("coalition-2024-split-ballot").items() if key != "slug"}


@pytest.mark.parametrize(("step", "second", "code"), [("1", None, "3"), ("2", "1", "1")])
def test_the_two_step_variant_asks_how_only_after_no(database_url, session, make_poll, make_links, phone, artifacts,
                                                     step, second, code):
    poll = make_poll(**SPLIT)
    make_links(poll, count=6)
    token = fresh(session).scalar(sa.select(Link.token).where(Link.poll_id == poll.id, Link.variant == "two-step")
                                  .limit(1))
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=ar")
        assert phone.locator("#q-answer").is_hidden()
        phone.locator(f'#q-_step input[value="{step}"]').check()
        assert phone.locator("#q-answer").is_visible() == (second is not None)
        if second:
            phone.screenshot(path=artifacts / "split-ballot-two-step-ar.png", full_page=True)
            phone.locator(f'#q-answer input[value="{second}"]').check()
        phone.locator("#q-sex label.choice").nth(0).tap()
        phone.locator("#field-age").fill("٤١")
        phone.locator("#field-governorate").select_option("IQ-BA")
        phone.locator("#q-employment label.choice").nth(1).tap()
        phone.locator("#q-education label.choice").nth(2).tap()
        phone.locator("button[type=submit]").click()
        assert phone.locator("h1.done").count() == 1
    answer = fresh(session).scalars(sa.select(Answer)).one()
    assert answer.variant == "two-step"
    assert next(o.code for o in poll.options if o.id == answer.option_id) == code


def test_back_and_reload_after_answering_never_send_the_form_again(database_url, session, make_poll, make_links,
                                                                    phone):
    token = make_links(make_poll())[0]
    dialogs = []
    phone.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=en")
        phone.locator("#q-answer label.choice").nth(1).tap()
        phone.get_by_role("button").click()
        assert "Your answer has been recorded" in phone.locator("h1").inner_text()
        assert "End the mission through dialogue" in phone.locator(".chosen").inner_text()
        phone.reload()
        assert "Your answer has been recorded" in phone.locator("h1").inner_text()
        phone.go_back()
        assert phone.locator('input[name="option"]').count() == 3  # the form as it was, not an error
        phone.go_forward()
        assert "End the mission through dialogue" in phone.locator(".chosen").inner_text()
    assert dialogs == []
    assert fresh(session).scalar(sa.select(sa.func.count()).select_from(Answer)) == 1


def test_the_questions_shown_are_numbered_in_order_with_the_progress(database_url, make_poll, make_links, phone):
    token = make_links(make_poll(**TWO_STEP))[0]
    numbers = "els => els.filter(el => el.offsetParent !== null).map(el => el.textContent.trim())"
    with gunicorn(database_url, workers=1) as base:
        phone.goto(f"{base}/p/{token}?lang=en")
        shown = phone.locator("fieldset.question .number").evaluate_all(numbers)
        assert shown == [str(n) for n in range(1, len(shown) + 1)]  # the hidden follow-up leaves no gap
        assert phone.locator(".progress").inner_text() == f"Question 1 of {len(shown)}"
        phone.locator('#q-support input[value="2"]').check()  # "no": the follow-up is asked, second
        assert phone.locator("#q-how_end .number").inner_text() == "2"
        after = phone.locator("fieldset.question .number").evaluate_all(numbers)
        assert after == [str(n) for n in range(1, len(shown) + 2)]
        assert phone.locator(".progress").inner_text() == f"Question 2 of {len(after)}"


def test_the_public_results_print_without_the_sites_controls(database_url, session, simulated, browser):
    generous_budget(session, "sim")
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    with gunicorn(database_url, workers=1) as base:
        page.goto(f"{base}/results/sim?lang=en")
        assert page.locator("nav.languages").is_visible() and page.locator("#group").is_visible()
        page.emulate_media(media="print")
        assert not page.locator("nav.languages").is_visible() and not page.locator("#group").is_visible()
        assert page.locator(".simulated").is_visible() and page.locator("#h-estimate").is_visible()
        adjust = page.locator("svg.share-bar").first.evaluate("el => getComputedStyle(el).printColorAdjust")
        assert adjust == "exact"  # the bars are the figures: a printer must not drop their colour
        pdf = page.pdf()
        assert pdf.startswith(b"%PDF")
    context.close()
