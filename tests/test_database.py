"""The database layer: bulk writes on both backends, and pooled server connections that were closed."""

import traceback
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from poll import db
from poll.models import Link, Recipient
from poll.services.audience import links
from poll.services.definition import polls


def test_bulk_insert_skips_clashes_and_bulk_update_sets_values_and_nulls(session, make_poll):
    poll = make_poll()
    audience = polls.audience_of(session, poll)
    phones = [f"+96477000000{i:02d}" for i in range(30)]
    db.bulk_insert(session, Recipient, {"phone": phones[:20], "governorate": ["IQ-BG"] * 20},
                   same={"audience_id": audience.id}, skip_conflicts_on=("audience_id", "phone"))
    # Ten clash with rows already there and are skipped; ten are new; one stratum is missing.
    db.bulk_insert(session, Recipient, {"phone": phones[10:], "governorate": ["IQ-NI"] * 19 + [None]},
                   same={"audience_id": audience.id}, skip_conflicts_on=("audience_id", "phone"))
    stored = dict(session.execute(sa.select(Recipient.phone, Recipient.governorate)).all())
    assert len(stored) == 30
    assert [stored[phone] for phone in (phones[0], phones[15], phones[25], phones[29])] == [
        "IQ-BG", "IQ-BG", "IQ-NI", None]

    assert links.issue_links(session, poll) == 30
    ids = session.scalars(sa.select(Link.id).order_by(Link.id)).all()
    start = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    sent = [start + timedelta(seconds=i) for i in range(30)]
    db.bulk_update(session, Link, "id", {
        "id": ids, "sent_at": sent, "delivered_at": [when if i % 3 else None for i, when in enumerate(sent)],
    })
    session.commit()
    rows = session.execute(sa.select(Link.sent_at, Link.delivered_at).order_by(Link.id)).all()
    assert [row.sent_at for row in rows] == sent
    assert [row.delivered_at for row in rows] == [when if i % 3 else None for i, when in enumerate(sent)]


@pytest.mark.parametrize("refused_by", ["foreign key", "unique"])
def test_a_database_error_does_not_quote_the_values_of_its_statement(session, make_poll, refused_by):
    phone = "+9647701234567"
    if refused_by == "foreign key":  # no audience 999999
        audience_id = 999999
    else:  # the phone is in the audience already; PostgreSQL's DETAIL would quote the row
        audience_id = polls.audience_of(session, make_poll()).id
        session.add(Recipient(audience_id=audience_id, phone=phone))
        session.commit()
    statement = sa.insert(Recipient).values(audience_id=audience_id, phone=phone, governorate="IQ-BG")
    with pytest.raises(sa.exc.IntegrityError) as raised:
        session.execute(statement)
    session.rollback()
    told = "".join(traceback.format_exception(raised.value))
    assert "INSERT INTO recipients" in told
    assert phone not in told and "parameters hidden" in told


@pytest.fixture
def server_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("server connections: the PostgreSQL run of the suite covers this")
    return database_url


def backend_of(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def close_from_the_server(url: str, pid: int) -> None:
    other = sa.create_engine(url)
    with other.connect() as connection:
        # With a timeout it returns once the backend has exited.
        assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}).scalar_one()
    other.dispose()


def test_an_idle_connection_closed_by_the_server_is_replaced(server_url, monkeypatch):
    monkeypatch.setattr(db.engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = db.make_engine(server_url)
    pid = backend_of(engine)
    close_from_the_server(server_url, pid)
    assert backend_of(engine) != pid
    engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_failure_renews_the_pool(server_url, monkeypatch):
    monkeypatch.setattr(db.engine, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = db.make_engine(server_url)
    pid = backend_of(engine)
    close_from_the_server(server_url, pid)
    with pytest.raises(sa.exc.OperationalError) as failure:
        backend_of(engine)
    assert failure.value.connection_invalidated
    assert backend_of(engine) != pid
    engine.dispose()
