"""The engine on a database server: pooled connections that the server closed are not handed out."""

import pytest
import sqlalchemy as sa

from poll import db


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
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = db.make_engine(server_url)
    pid = backend_of(engine)
    close_from_the_server(server_url, pid)
    assert backend_of(engine) != pid
    engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_failure_renews_the_pool(server_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = db.make_engine(server_url)
    pid = backend_of(engine)
    close_from_the_server(server_url, pid)
    with pytest.raises(sa.exc.OperationalError) as failure:
        backend_of(engine)
    assert failure.value.connection_invalidated
    assert backend_of(engine) != pid
    engine.dispose()
