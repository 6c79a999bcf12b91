"""Names of stored values (poll states, refusal kinds, weighting margins) in the page's language."""

from flask_babel import lazy_gettext as _l

from poll.text import reveal_controls

STATUS = {"draft": _l("draft"), "open": _l("open"), "closed": _l("closed")}
REFUSAL = {
    "unknown-link": _l("unknown link"),
    "already-answered": _l("link already used"),
    "not-open": _l("poll not open yet"),
    "closed": _l("poll closed"),
    "invalid-option": _l("no valid answer chosen"),
    "rate-limited": _l("too many attempts, turned away"),
}
MARGINS = {"simulated population": _l("simulated population's"), "census": _l("census")}


def word(table: dict, key: str) -> str:
    """The translated name of `key`, or `key` itself when it has none."""
    return str(table.get(key, key))


def visible(text: object) -> str:
    """`text` with invisible format characters (bidi overrides, zero-width joiners) shown as <U+XXXX>.

    A right-to-left override in an operator name or a poll slug can make an
    audit entry read as something else; spelled out, it cannot hide.
    """
    return reveal_controls(str(text))
