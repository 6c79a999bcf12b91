"""Polls: define one from a TOML file or an XLSForm, find it, open and close it."""

from __future__ import annotations

import re
import string
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll import questionnaire, variants
from poll.errors import Invalid, NotFound
from poll.i18n import LANGUAGES
from poll.models import Audience, Option, Poll, PollQuestion, utcnow
from poll.vocabulary import PollStatus

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
OPTION_CODE = re.compile(r"[0-9A-Za-z]{1,8}")
# What a phone shows as the sender: up to 11 letters and digits, or a number (GSM 03.40 TP-OA).
SMS_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}|\+?[0-9]{3,15}")
BUILTIN = "coalition-2024"
BUILTINS = ("coalition-2024", "coalition-2024-two-step", "coalition-2024-split-ballot")
_TOP_KEYS = {"slug", "default_language", "anonymous", "question", "sender", "options", "questions", "sms",
             "sms_sender", "yes_no", "contact", "experiment", "title", "version", "retention_days"}
SMS_PLACEHOLDERS = {"link", "options", "question", "sender"}
_PLACEHOLDER_NAMES = ", ".join("{" + name + "}" for name in sorted(SMS_PLACEHOLDERS))


def builtin_definition(name: str = BUILTIN) -> dict[str, Any]:
    """The definition of a poll shipped with the package (the article's poll by default)."""
    if name not in BUILTINS:
        raise Invalid(f"no built-in poll {name!r} (there are {', '.join(BUILTINS)})")
    text = resources.files("poll.data").joinpath("polls", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def read_definition(path: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """A poll definition from a TOML file or an XLSForm (.xlsx, .xls); raises Invalid if it cannot be read.

    What an XLSForm holds that a poll leaves out is said in `warnings`.
    """
    if path.suffix.lower() in (".xlsx", ".xls"):
        from poll.services.definition import xlsform  # pyxform is loaded only for the files that need it

        return xlsform.read(path, warnings)
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"cannot read poll definition {path}: {exc}") from None
    except RecursionError:
        # tomllib reads nested arrays and tables by recursion: `a = [[[[…` exhausts Python's stack.
        raise Invalid(f"cannot read poll definition {path}: it nests arrays or tables too deeply") from None


def create_poll(session: so.Session, definition: dict[str, Any]) -> Poll:
    """Create a draft poll, its questions and its headline's options from a definition; raises Invalid first."""
    questions = _validate(definition)
    slug = definition["slug"]
    if session.scalar(sa.select(Poll.id).where(Poll.slug == slug)) is not None:
        raise _slug_taken(slug)
    headline = next(question for question in questions if question.is_headline)
    experiment = variants.read(definition.get("experiment"), headline, questions)
    retention_days = definition.get("retention_days")
    if retention_days is not None and (isinstance(retention_days, bool) or not isinstance(retention_days, int)
                                       or retention_days < 0):
        raise Invalid("retention_days is a whole number of days (0 or more) after closing when the recipients' "
                      "contact data are destroyed")
    poll = Poll(
        slug=slug,
        question=dict(headline.label),
        sender=dict(definition.get("sender", {})),
        default_language=definition.get("default_language", "ar"),
        is_anonymous=definition.get("anonymous", True),
        sms_template=dict(definition.get("sms", {})),
        sms_sender=definition.get("sms_sender"),
        title=dict(definition["title"]) if definition.get("title") else None,
        form_version=definition.get("version"),
        yes_no=dict(definition.get("yes_no", {})),
        contact=dict(definition.get("contact", {})),
        experiment=experiment.as_dict() if experiment else None,
        retention_days=retention_days,
        status=PollStatus.DRAFT,
        options=[
            Option(code=choice.code, position=index, label=dict(choice.label))
            for index, choice in enumerate(headline.choices, start=1)
        ],
        questions=[
            PollQuestion(position=index, **question.as_row()) for index, question in enumerate(questions, start=1)
        ],
    )
    session.add(poll)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        # Another transaction created the slug between the check above and this
        # insert (on PostgreSQL both pass the check; the unique index decides).
        if _SLUG_CONSTRAINT.search(str(exc.orig)):
            raise _slug_taken(slug) from None
        raise
    return poll


# How each backend names the unique slug when it refuses a second one.
_SLUG_CONSTRAINT = re.compile(r"uq_polls_slug|polls\.slug")


def _slug_taken(slug: str) -> Invalid:
    return Invalid(f"a poll with slug {slug!r} exists already")


def questions_of(poll: Poll) -> list[questionnaire.Question]:
    """`poll`'s questionnaire, in order (the headline's choices are its options)."""
    headline_choices = tuple(questionnaire.Choice(option.code, dict(option.label)) for option in poll.options)
    return [
        questionnaire.Question.from_row(row, headline_choices if row.role == "headline" else None)
        for row in poll.questions
    ]


def experiment_of(poll: Poll) -> variants.Experiment | None:
    """`poll`'s split-ballot experiment, if it has one."""
    return variants.Experiment.from_dict(poll.experiment)


def _validate(definition: dict[str, Any]) -> list[questionnaire.Question]:
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
    questionnaire.texts_per_language("sender", definition.get("sender", {}), required=False)
    questionnaire.texts_per_language("contact", definition.get("contact", {}), required=False)
    questionnaire.texts_per_language("title", definition.get("title", {}), required=False)
    version = definition.get("version")
    if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= 64):
        raise Invalid("version is a text of 1-64 characters")
    questionnaire.texts_per_language("sms", definition.get("sms", {}), required=False)
    for code, text in definition.get("sms", {}).items():
        check_sms_template(f"sms.{code}", text)
    sender = definition.get("sms_sender")
    if sender is not None and (not isinstance(sender, str) or not SMS_SENDER.fullmatch(sender)):
        raise Invalid("sms_sender is up to 11 letters and digits, or a phone number")
    questions = questionnaire.questions_of(definition)
    headline = next(question for question in questions if question.is_headline)
    codes = {choice.code for choice in headline.choices}
    if not all(OPTION_CODE.fullmatch(code) for code in codes):
        raise Invalid(f"question {headline.name!r}: the headline's codes are 1-8 letters or digits "
                      "(what an SMS reply says)")
    yes_no = definition.get("yes_no", {})
    if not isinstance(yes_no, dict) or set(yes_no) - {"yes", "no"} or not set(yes_no.values()) <= codes:
        raise Invalid("yes_no maps \"yes\" and \"no\" to option codes of this poll")
    return questions


def check_sms_template(name: str, text: str) -> None:
    """Raise Invalid unless `text` has the {link} placeholder and only plain placeholders of SMS_PLACEHOLDERS.

    The template is filled with str.format, which would also obey a
    conversion (`!r`), a format spec (`:>300000000` pads to gigabytes) and
    attribute or index access (`{sender.__class__}` prints Python's
    internals): a placeholder is a bare name, nothing more.
    """
    try:
        parsed = [(field, spec, conversion) for _literal, field, spec, conversion in string.Formatter().parse(text)
                  if field is not None]
    except ValueError as exc:
        raise Invalid(f"{name} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    for field, spec, conversion in parsed:
        if field not in SMS_PLACEHOLDERS and re.fullmatch(r"\w*", field) and not spec and not conversion:
            raise Invalid(f"{name} uses unknown placeholder {{{field}}} (use {_PLACEHOLDER_NAMES})")
        if field not in SMS_PLACEHOLDERS or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise Invalid(f"{name} has placeholder {shown}: a placeholder is a plain name, "
                          f"one of {_PLACEHOLDER_NAMES}")
    if "link" not in {field for field, _spec, _conversion in parsed}:
        raise Invalid(f"{name} has no {{link}} placeholder: the message must carry the personal link")


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
