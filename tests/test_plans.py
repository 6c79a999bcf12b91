"""Live figures stay flat as a poll grows: no statement behind them reads every link or every answer.

Timings belong to the benchmarks (scripts/bench/results.py); what a test can
hold fixed is the plan. Every statement that the results JSON, the dashboard,
its refreshing panel and the public pages run is explained, and none may scan
a table that grows with the poll, or walk a whole poll's rows of one by index. SQLite's planner decides without table
statistics, from the indexes alone, so its plans here are the plans at a
million answers; PostgreSQL's depend on statistics, and its plans at 1M are
checked by the results benchmark instead.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from poll.models import Link, OptOut, Recipient, utcnow
from tests.helpers import generous_budget

# Tables that grow with the audience and its answers.
GROWING = ("links", "answers", "recipients", "receipts", "outbox_messages", "refusals", "audit_events")
PAGES = (
    "/api/v1/polls/{slug}/results",
    "/dashboard/{slug}?lang=en",
    "/dashboard/{slug}/panel?lang=en",
    "/results/{slug}?lang=en",
    "/results/{slug}/methodology?lang=en",
    "/api/v1/polls/{slug}/results?public=1",
)


@pytest.fixture
def engine(app):
    engine = app.extensions["poll.db"].kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's plans depend on table statistics: scripts/bench/results.py checks them at 1M")
    return engine


@pytest.mark.parametrize("anonymous", [True, False])
def test_no_statement_behind_the_live_figures_scans_a_growing_table(client, session, engine, login, make_poll,
                                                                    make_links, anonymous):
    poll = make_poll("plans", anonymous=anonymous)
    tokens = make_links(poll, 30)
    session.execute(sa.update(Link).where(Link.poll_id == poll.id).values(sent_at=utcnow()))
    stopped = session.scalars(sa.select(Recipient.phone).limit(3)).all()
    session.add_all(OptOut(phone=phone) for phone in stopped)  # the STOPs read by the dispositions
    session.commit()
    for number, token in enumerate(tokens[10:]):
        assert client.post(f"/p/{token}", data={"option": str(1 + number % 3)}).status_code == 201
    generous_budget(session, "plans")
    login()
    statements: list[tuple[str, object]] = []

    def seen(_connection, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        for page in PAGES:
            assert client.get(page.format(slug="plans")).status_code == 200, page
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    reads = [(statement, parameters) for statement, parameters in statements
             if statement.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert any("opt_outs" in statement for statement, _ in reads) != anonymous  # the STOP count ran where it counts
    scans = []
    with engine.connect() as connection:
        for statement, parameters in reads:
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters):
                if walks_a_growing_table(row[3]):
                    scans.append(f"{row[3]}: {' '.join(statement.split())[:160]}")
    assert scans == []


# Columns that pick out a whole poll (or its audience, or one answer of it): an index on them alone still reads
# rows in proportion to the poll.
WHOLE = {"poll_id", "option_id", "audience_id"}


def walks_a_growing_table(detail: str) -> bool:
    """Whether one line of SQLite's query plan reads a growing table whole, or a whole poll's rows of it."""
    words = detail.split()
    if len(words) < 2 or words[0] not in ("SCAN", "SEARCH") or words[1] not in GROWING:
        return False
    if words[0] == "SCAN":
        return True
    constrained = set(re.findall(r"(\w+)[=<>]", detail.partition("(")[2]))
    return constrained <= WHOLE


def test_a_walk_of_a_polls_links_is_told_from_a_look_up():
    assert walks_a_growing_table("SEARCH links USING INDEX sqlite_autoindex_links_2 (poll_id=?)")
    assert walks_a_growing_table("SCAN answers")
    assert not walks_a_growing_table("SEARCH links USING INDEX sqlite_autoindex_links_2 (poll_id=? AND recipient_id=?)")
    assert not walks_a_growing_table("SEARCH recipients USING INTEGER PRIMARY KEY (rowid=?)")
    assert not walks_a_growing_table("SCAN server_counters")
