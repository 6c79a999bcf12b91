"""Names of stored values (poll states, refusal kinds, weighting margins) in the page's language."""

from flask_babel import lazy_gettext as _l

STATUS = {"draft": _l("draft"), "open": _l("open"), "closed": _l("closed")}
REFUSAL = {
    "unknown-link": _l("unknown link"),
    "already-answered": _l("link already used"),
    "not-open": _l("poll not open yet"),
    "closed": _l("poll closed"),
    "invalid-option": _l("no valid answer chosen"),
}
MARGINS = {"simulated population": _l("simulated population's"), "census": _l("census")}


def word(table: dict, key: str) -> str:
    """The translated name of `key`, or `key` itself when it has none."""
    return str(table.get(key, key))
