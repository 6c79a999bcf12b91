"""Languages of respondent and operator pages: Arabic (default), Kurdish Sorani, English.

The project speaks of Kurdish as "ku" (links, CSV files, poll texts); the
message catalogue for Sorani is Babel's "ckb".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from babel.dates import format_skeleton, get_timezone
from flask import Flask, current_app, g, request
from flask_babel import Babel, refresh


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    locale: str
    direction: str
    name: str


LANGUAGES: dict[str, Language] = {
    "ar": Language("ar", "ar", "rtl", "العربية"),
    "ku": Language("ku", "ckb", "rtl", "کوردی"),
    "en": Language("en", "en", "ltr", "English"),
}
_ALIASES = {"ckb": "ku", "ar": "ar", "ku": "ku", "en": "en"}

babel = Babel()


def init_app(app: Flask) -> None:
    """Install Flask-Babel with the language of the current request as its locale."""
    babel.init_app(app, locale_selector=lambda: current_language().locale)
    app.context_processor(lambda: {"language": current_language(), "languages": LANGUAGES})
    app.after_request(_vary_by_language)


def normalize(code: str | None) -> str | None:
    """"ar", "ku" or "en" for a language tag such as "ckb" or "ar-IQ"; None if not ours."""
    if not code:
        return None
    return _ALIASES.get(code.strip().lower().replace("_", "-").split("-")[0])


def choose_language(
    explicit: str | None = None, preferred: str | None = None, fallback: str | None = None
) -> Language:
    """Pick the page language: an explicit choice (the switch), then the recipient's,
    then the browser's Accept-Language, then the poll's `fallback`, then the app's default."""
    code = normalize(explicit) or normalize(preferred)
    if code is None and request:
        code = normalize(request.accept_languages.best_match(["ar", "ckb", "ku", "en"]))
        g.language_negotiated = True  # the response depends on Accept-Language: see _vary_by_language
    language = LANGUAGES[code or normalize(fallback) or current_app.config["DEFAULT_LANGUAGE"]]
    g.language = language
    refresh()  # forget a locale Flask-Babel may have cached before the choice
    return language


def _vary_by_language(response):
    # A page in the language its browser asked for must say so, or a shared cache (a carrier's proxy,
    # a CDN) keeps one reader's language and serves it to every other.
    if g.get("language_negotiated"):
        response.vary.add("Accept-Language")
    return response


def current_language() -> Language:
    """The language chosen for this request, or the one the request asks for."""
    if "language" not in g:
        choose_language(request.args.get("lang") if request else None)
    return g.language


def pick(texts: dict[str, str], language: Language) -> str:
    """`texts` in `language`, falling back to Arabic, then English, then any."""
    for code in (language.code, "ar", "en"):
        if texts.get(code):
            return texts[code]
    return next(iter(texts.values()), "")


# The locale dates are written in: Iraq's own Arabic month names ("كانون الأول", not Egypt's "ديسمبر").
DATE_LOCALES = {"ar": "ar_IQ", "ku": "ckb_IQ", "en": "en"}

# The time zone pages give times in: the respondents' and operators' own (Iraq keeps UTC+3 all year).
TIME_ZONE = "Asia/Baghdad"


def when(moment: datetime | None, language: Language, *, with_time: bool = True) -> str:
    """`moment` as a reader of `language` writes it: the date, and the time to the minute with its zone.

    Naive datetimes are UTC, as the database keeps them. "—" for None.
    """
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    zone = get_timezone(TIME_ZONE)
    locale = DATE_LOCALES.get(language.code, language.locale)
    day = format_skeleton("yMMMd", moment, tzinfo=zone, locale=locale)
    if not with_time:
        return day
    return f"{day} {format_skeleton('Hmv', moment, tzinfo=zone, locale=locale)}"
