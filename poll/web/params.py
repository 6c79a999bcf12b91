"""Reading numbers from a request's query: what the database can hold, or a 400."""

from __future__ import annotations

from flask import abort, request

# The largest value of an INTEGER column (ids of audit events and SMS are 32-bit on PostgreSQL).
MAX_ID = 2**31 - 1


def parse_whole_number(text: str | None) -> int | None:
    """`text` as a whole number from 0 to 2^31-1, or None if it is not one.

    A number larger than any id cannot name a row, and handing it to the
    database would fail there instead.
    """
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def whole_number(name: str) -> int | None:
    """The query argument `name` as a whole number; None when absent, 400 when it is not one."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    value = parse_whole_number(text)
    if value is None:
        abort(400, description=f"{name} must be a whole number from 0 to {MAX_ID}")
    return value
