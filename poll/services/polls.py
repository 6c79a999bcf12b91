"""Polls: define one from a TOML file, find it, open and close it."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.errors import Invalid, NotFound
from poll.i18n import LANGUAGES
from poll.models import Audience, Option, Poll, utcnow
from poll.vocabulary import PollStatus

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
OPTION_CODE = re.compile(r"[0-9A-Za-z]{1,8}")
BUILTIN = "coalition-2024"
_TOP_KEYS = {"slug", "default_language", "anonymous", "question", "sender", "options", "sms", "yes_no"}
SMS_PLACEHOLDERS = {"link", "question", "sender"}
_OPTION_KEYS = {"code", "label"}


def builtin_definition(name: str = BUILTIN) -> dict[str, Any]:
    """The definition of a poll shipped with the package (the article's poll by default)."""
    text = resources.files("poll.data").joinpath("polls", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def read_definition(path: Path) -> dict[str, Any]:
    """A poll definition from a TOML file; raises Invalid if it cannot be read."""
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"cannot read poll definition {path}: {exc}") from None


def create_poll(session: so.Session, definition: dict[str, Any]) -> Poll:
    """Create a draft poll and its options from a validated definition."""
    _validate(definition)
    slug = definition["slug"]
    if session.scalar(sa.select(Poll.id).where(Poll.slug == slug)) is not None:
        raise Invalid(f"a poll with slug {slug!r} exists already")
    poll = Poll(
        slug=slug,
        question=dict(definition["question"]),
        sender=dict(definition.get("sender", {})),
        default_language=definition.get("default_language", "ar"),
        is_anonymous=definition.get("anonymous", True),
        sms_template=dict(definition.get("sms", {})),
        yes_no=dict(definition.get("yes_no", {})),
        status=PollStatus.DRAFT,
        options=[
            Option(code=str(item["code"]), position=index, label=dict(item["label"]))
            for index, item in enumerate(definition["options"], start=1)
        ],
    )
    session.add(poll)
    session.flush()
    return poll


def _validate(definition: dict[str, Any]) -> None:
    unknown = set(definition) - _TOP_KEYS
    if unknown:
        raise Invalid(f"unknown key {sorted(unknown)[0]!r} in poll definition")
    slug = definition.get("slug")
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise Invalid("slug must be 2-63 lower-case letters, digits or hyphens")
    if definition.get("default_language", "ar") not in LANGUAGES:
        raise Invalid(f"default_language must be one of {', '.join(LANGUAGES)}")
    if not isinstance(definition.get("anonymous", True), bool):
        raise Invalid("anonymous must be true or false")
    _validate_texts("question", definition.get("question"), required=True)
    _validate_texts("sender", definition.get("sender", {}), required=False)
    _validate_texts("sms", definition.get("sms", {}), required=False)
    for code, text in definition.get("sms", {}).items():
        check_sms_template(f"sms.{code}", text)
    options = definition.get("options")
    if not isinstance(options, list) or len(options) < 2:
        raise Invalid("a poll needs at least two [[options]]")
    codes = set()
    for number, item in enumerate(options, start=1):
        if not isinstance(item, dict) or set(item) - _OPTION_KEYS:
            raise Invalid(f"option {number} may only have the keys code and label")
        code = str(item.get("code", ""))
        if not OPTION_CODE.fullmatch(code):
            raise Invalid(f"option {number}: code must be 1-8 letters or digits (what an SMS reply says)")
        if code in codes:
            raise Invalid(f"option {number}: code {code!r} is used twice")
        codes.add(code)
        _validate_texts(f"option {number} label", item.get("label"), required=True)
    yes_no = definition.get("yes_no", {})
    if not isinstance(yes_no, dict) or set(yes_no) - {"yes", "no"} or not set(yes_no.values()) <= codes:
        raise Invalid("yes_no maps \"yes\" and \"no\" to option codes of this poll")


def check_sms_template(name: str, text: str) -> None:
    """Raise Invalid unless `text` has the {link} placeholder and no other unknown one."""
    found = set(re.findall(r"\{(\w*)\}", text))
    if "link" not in found:
        raise Invalid(f"{name} has no {{link}} placeholder: the message must carry the personal link")
    unknown = found - SMS_PLACEHOLDERS
    if unknown:
        raise Invalid(f"{name} uses unknown placeholder {{{sorted(unknown)[0]}}} (use link, question, sender)")


def _validate_texts(name: str, texts: Any, *, required: bool) -> None:
    if not isinstance(texts, dict) or (required and not texts):
        raise Invalid(f"{name} needs a text per language, e.g. {name}.ar = \"...\"")
    for code, text in texts.items():
        if code not in LANGUAGES:
            raise Invalid(f"{name}: unknown language {code!r} (use {', '.join(LANGUAGES)})")
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            raise Invalid(f"{name}.{code} must be a text of 1-1000 characters")


def get_poll(session: so.Session, slug: str) -> Poll:
    """The poll with `slug`; raises NotFound."""
    poll = session.scalar(sa.select(Poll).where(Poll.slug == slug))
    if poll is None:
        raise NotFound(f"no poll with slug {slug!r} (see `poll polls list`)")
    return poll


def get_published_poll(session: so.Session, slug: str) -> Poll:
    """The poll with `slug` if the public may see it (it has been opened); raises NotFound otherwise.

    A draft is the operator's work in progress: its question, and any test
    answers, are nobody else's business until it opens.
    """
    poll = session.scalar(sa.select(Poll).where(Poll.slug == slug, Poll.status != PollStatus.DRAFT))
    if poll is None:
        raise NotFound(f"no published poll with slug {slug!r}")
    return poll


def list_polls(session: so.Session) -> list[Poll]:
    """Every poll, newest first."""
    return list(session.scalars(sa.select(Poll).order_by(Poll.created_at.desc(), Poll.id.desc())))


def open_poll(
    session: so.Session, poll: Poll, *, at: datetime | None = None, until: datetime | None = None
) -> Poll:
    """Open `poll` for answers now (or from `at`), optionally closing itself at `until`."""
    now = utcnow()
    opens_at = at or now
    if until is not None and until <= opens_at:
        raise Invalid("the closing time must come after the opening time")
    poll.status = PollStatus.OPEN
    poll.opens_at = opens_at
    poll.closes_at = until
    session.flush()
    return poll


def close_poll(session: so.Session, poll: Poll) -> Poll:
    """Stop accepting answers to `poll` from now on."""
    poll.status = PollStatus.CLOSED
    poll.closes_at = utcnow()
    session.flush()
    return poll


def audience_of(session: so.Session, poll: Poll) -> Audience:
    """The poll's audience, created (named after the poll) on first use."""
    if poll.audience is None:
        poll.audience = Audience(name=poll.slug)
        session.flush()
    return poll.audience
