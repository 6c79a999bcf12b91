"""Every difference between SQLite and PostgreSQL that the project relies on, side by side.

SQLite is the embedded default: one writer at a time, no round trips, a
transaction that reads and then writes cannot wait for a busy lock. PostgreSQL
is the scale path: many writers, every statement a round trip to the server.
Each backend is a class with the same methods, and `of(session)` picks one;
services never branch on the backend themselves.

The answer's write (`write_answer`) is the hottest path of the project and
the clearest difference: on SQLite six or seven statements in one IMMEDIATE
transaction, on PostgreSQL the same as one statement of data-modifying CTEs. Both write only if the link's receipt was new, so a link's second
answer writes nothing on either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from itertools import repeat
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from poll.db import write_queue
from poll.db.direct import Binds, Direct, Driver
from poll.db.engine import IMMEDIATE
from poll.models import TALLY_SHARDS, Answer, Link, Receipt

# Rows per statement (PostgreSQL) or per executemany (SQLite) of the bulk writes.
BULK_CHUNK = 50_000

# The parts of an answer's write, named alike for both backends. Each writes
# only when the receipt was new: SQLite stops after a receipt that inserted
# nothing; PostgreSQL's CTEs all select FROM receipt.
_RECEIPT = "INSERT INTO receipts (link_id) VALUES (:link) ON CONFLICT (link_id) DO NOTHING RETURNING link_id"
_MARK_LINK = "UPDATE links SET answered_on = :today, opened_on = coalesce(opened_on, :today) WHERE id = :link"
_COUNTERS = """
INSERT INTO poll_counters (poll_id, name, shard, value)
SELECT :poll_id, counter.name, :shard, counter.value
FROM {receipt}(SELECT 'answered' AS name, 1 AS value UNION ALL SELECT 'opened', :opened) AS counter
WHERE counter.value > 0
ON CONFLICT (poll_id, name, shard) DO UPDATE SET value = poll_counters.value + excluded.value"""
_BY_STRATUM = """
INSERT INTO answer_tallies (poll_id, option_id, governorate, sex, age_band, channel, shard, count)
SELECT :poll_id, :option_id, coalesce(:governorate, ''), coalesce(:sex, ''), coalesce(:age_band, ''), :channel, :shard, 1
{from_receipt}
ON CONFLICT (poll_id, option_id, governorate, sex, age_band, channel, shard) DO UPDATE SET count = answer_tallies.count + 1"""
_BY_HOUR = """
INSERT INTO hourly_tallies (poll_id, option_id, hour, shard, count)
SELECT :poll_id, :option_id, :answered_hour, :shard, 1 {from_receipt}
ON CONFLICT (poll_id, option_id, hour, shard) DO UPDATE SET count = hourly_tallies.count + 1"""
_ANSWER = """
INSERT INTO answers (id, poll_id, option_id, channel, answered_hour, governorate, sex, age_band, "values", variant,
                     link_id)
SELECT :id, :poll_id, :option_id, :channel, :answered_hour, :governorate, :sex, :age_band, :values, :variant, :link_id
{from_receipt}"""
# A split-ballot poll's answers by variant: nothing for a poll without one (variant NULL).
_BY_VARIANT = """
INSERT INTO variant_tallies (poll_id, variant, option_id, shard, count)
SELECT :poll_id, :variant, :option_id, :shard, 1 {from_receipt} {and_} :variant IS NOT NULL
ON CONFLICT (poll_id, variant, option_id, shard) DO UPDATE SET count = variant_tallies.count + 1"""
# The other questions' tally: `tally` is a JSON list of [question id, value], one per cell (see answers.tally_values).
_BY_VALUE = """
INSERT INTO value_tallies (poll_id, question_id, option_id, value, shard, count)
SELECT :poll_id, {question_id}, :option_id, {value}, :shard, 1
FROM {cells}
ON CONFLICT (poll_id, question_id, option_id, value, shard) DO UPDATE SET count = value_tallies.count + 1"""
_SQLITE_BY_VALUE = _BY_VALUE.format(
    question_id="json_extract(cell.value, '$[0]')", value="json_extract(cell.value, '$[1]')",
    cells="json_each(:tally) AS cell WHERE true",
)
_POSTGRESQL_BY_VALUE = _BY_VALUE.format(
    question_id="(cell ->> 0)::integer", value="cell ->> 1",
    cells="receipt, jsonb_array_elements(CAST(:tally AS jsonb)) AS cell",
)
NO_VALUES = "[]"
# A first look at a link: its day, if it had none, and the poll's "opened" counter when it was so marked.
_OPEN_LINK = "UPDATE links SET opened_on = :today WHERE id = :link AND opened_on IS NULL RETURNING id"
_COUNT_OPEN = """
INSERT INTO poll_counters (poll_id, name, shard, value)
SELECT :poll_id, 'opened', :shard, 1 {from_opened}
ON CONFLICT (poll_id, name, shard) DO UPDATE SET value = poll_counters.value + 1"""


_TYPES = {
    "today": Link.answered_on.type,
    "answered_hour": Answer.answered_hour.type,
    "opened": sa.BigInteger(),
    # Typed, since they can be NULL.
    "link_id": sa.Integer(),
    "governorate": sa.String(),
    "sex": sa.String(),
    "age_band": sa.String(),
    "values": Answer.values.type,
    "variant": sa.String(),
    "tally": sa.String(),
    "shard": sa.SmallInteger(),
}


def _typed(statement: str) -> sa.TextClause:
    # The parameters' types, for those the statement uses.
    return sa.text(statement).bindparams(
        *(sa.bindparam(name, type_=type_) for name, type_ in _TYPES.items() if f":{name}" in statement)
    )


class SQLite:
    """The embedded database: one writer at a time, statements cost no round trip."""

    name = "sqlite"
    # Reading a link and recording its first open as one statement (answers.look): no gain without round trips.
    opens_in_the_look = False

    @staticmethod
    def shard(driver: Driver) -> int:
        """The tally shard this connection's answers and opens count in (models.TALLY_SHARDS): one writer at a
        time contends for no row, so one shard."""
        return 0
    # A join whose tables are read in the order written: SQLite keeps the left table of a CROSS JOIN outside.
    JOIN_IN_ORDER = "CROSS JOIN"

    @staticmethod
    def insert(table: sa.Table) -> sa.Insert:
        return sqlite_insert(table)

    @staticmethod
    def begin_write(session: so.Session) -> None:
        """Take the write lock at BEGIN, so concurrent writers queue on the busy timeout instead of failing.

        A deferred transaction that has read cannot wait for the lock in WAL
        mode: its snapshot may be stale, and SQLite refuses it at once. Call
        this before the session has run any statement.
        """
        session.connection(execution_options={IMMEDIATE: True})

    def begin_single_statements(self, session: so.Session, *, writes: bool) -> None:
        # A transaction costs no round trip here: keep it, as a writer if the request writes.
        if writes:
            self.begin_write(session)

    def then_together(self, session: so.Session) -> None:
        """After `begin_single_statements`, make what follows one writing transaction with what came before."""
        if not session.connection().get_execution_options().get(IMMEDIATE):
            session.commit()  # it only read: start again as a writer
            self.begin_write(session)

    # The answer, in six to eight statements of one IMMEDIATE transaction.
    _PARAMS = Binds(_TYPES)
    # Run on the driver's cursor (poll.db.direct): SQLite's statements cost less than SQLAlchemy's execution.
    _RECEIPT = Direct(sa.text(_RECEIPT))
    _MARK_LINK = Direct(_typed(_MARK_LINK))
    # Whether the answer also counts as an open is read under the write lock, before the link is marked: the
    # request read the link before it took the lock.
    _COUNTED = Direct(_typed(_COUNTERS.format(receipt="").replace(
        ":opened", "(SELECT count(*) FROM links WHERE id = :link AND opened_on IS NULL)")))
    # "WHERE true": SQLite needs a WHERE before ON CONFLICT to tell it from a join's ON.
    _WRITES = tuple(Direct(_typed(part.format(from_receipt="WHERE true"))) for part in (_BY_STRATUM, _BY_HOUR, _ANSWER))
    _BY_VALUE = Direct(_typed(_SQLITE_BY_VALUE))
    _BY_VARIANT = Direct(_typed(_BY_VARIANT.format(from_receipt="WHERE", and_="")))

    def write_answer(self, driver: Driver, params: Mapping[str, Any]) -> bool:
        """Write an answer, its receipt, its link's day and its tallies; False if the link had its answer already.

        On a checked-out connection (`Driver.checkout`) the write lock is taken
        here and held for these statements only, not for the request's Python
        around them: five workers queueing on a lock held through a page's
        work slept in SQLite's busy handler more than they worked.
        """
        converted = self._PARAMS.convert(driver.dialect, params)  # once for all its statements
        with self._writing(driver):
            if not self._RECEIPT.rows(driver, converted, converted=True):
                return False
            self._COUNTED.rows(driver, converted, converted=True)
            self._MARK_LINK.rows(driver, converted, converted=True)
            for statement in self._WRITES:
                statement.rows(driver, converted, converted=True)
            if params["tally"] != NO_VALUES:
                self._BY_VALUE.rows(driver, converted, converted=True)
            if params["variant"] is not None:
                self._BY_VARIANT.rows(driver, converted, converted=True)
            return True

    @staticmethod
    @contextlib.contextmanager
    def _writing(driver: Driver) -> Iterator[None]:
        # A checked-out connection's writes: one IMMEDIATE transaction, entered through the writers' queue
        # (write_queue). A session's connection is inside its transaction already, which may hold the lock.
        if not driver.autocommit:
            yield
            return
        with write_queue.queued(driver.engine), driver.transaction("BEGIN IMMEDIATE"):
            yield

    _OPEN_LINK = Direct(_typed(_OPEN_LINK))
    _COUNT_OPEN = Direct(_typed(_COUNT_OPEN.format(from_opened="WHERE true")))

    def record_open(self, driver: Driver, params: Mapping[str, Any]) -> bool:
        """Mark the link opened on `today` unless it was, and count it; whether this look was its first open.

        On a checked-out connection the two statements are one IMMEDIATE transaction of their own.
        """
        with self._writing(driver):
            if not self._OPEN_LINK.rows(driver, params):
                return False
            self._COUNT_OPEN.rows(driver, params)
            return True

    def claim_receipts(self, session: so.Session, link_ids: list[int]) -> set[int]:
        """Insert receipts for the links that have none; returns those links (their answers may be written).

        Call inside a write transaction: it holds the database's write lock, so
        no one can answer between the look-up and the insert.
        """
        taken: set[int] = set()
        for chunk in _chunks(link_ids, 10_000):
            taken.update(session.scalars(sa.select(Receipt.link_id).where(Receipt.link_id.in_(chunk))))
        fresh = [link_id for link_id in dict.fromkeys(link_ids) if link_id not in taken]
        if fresh:
            session.execute(sa.insert(Receipt), [{"link_id": link_id} for link_id in fresh])
        return set(fresh)

    def bulk_insert(self, session: so.Session, statement: sa.Insert, table: sa.Table,
                    columns: Mapping[str, Sequence], same: Mapping[str, Any]) -> None:
        """The driver's executemany of bound tuples, `same` repeated for every row."""
        connection = session.connection()
        bound_same = _bound(connection, table, {name: [value] for name, value in same.items()})
        constants = {name: repeat(values[0]) for name, values in bound_same.items()}
        compiled = statement.compile(dialect=connection.dialect, column_keys=[*columns, *same])
        for chunk in _column_chunks(columns):
            _executemany(connection, compiled, _bound(connection, table, chunk) | constants)

    def bulk_update(self, session: so.Session, table: sa.Table, key: str, columns: Mapping[str, Sequence]) -> None:
        """The driver's executemany of one UPDATE per row."""
        connection = session.connection()
        compiled = (
            sa.update(table)
            .where(table.c[key] == sa.bindparam(f"given_{key}"))
            .values({name: sa.bindparam(f"given_{name}") for name in columns if name != key})
            .compile(dialect=connection.dialect)
        )
        for chunk in _column_chunks(columns):
            bound = _bound(connection, table, chunk)
            _executemany(connection, compiled, {f"given_{name}": values for name, values in bound.items()})

    @staticmethod
    def claiming(query: sa.Select) -> sa.Select:
        """`query` as a claim of rows for one worker: SQLite has one writer, so the write lock is the claim."""
        return query

    @staticmethod
    @contextlib.contextmanager
    def migrating(connection: sa.Connection) -> Iterator[None]:
        """Run migrations with foreign keys off, checked at the end.

        Alembic's batch mode rebuilds a table by copying it and dropping the
        old one; with foreign keys on, the drop would first delete or null
        every row that refers to it.
        """
        driver = connection.connection.driver_connection
        driver.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, where SQLite honours it
        try:
            with connection.begin():
                yield
                if connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows that refer to nothing; nothing was changed")
        finally:
            driver.execute("PRAGMA foreign_keys=ON")


class PostgreSQL:
    """The scale path: many writers, and a round trip to the server for every statement."""

    name = "postgresql"
    # PostgreSQL's planner orders joins from its statistics (a CROSS JOIN takes no ON here).
    JOIN_IN_ORDER = "JOIN"
    # A link read and its first open recorded in one statement (answers.look): one round trip, not two.
    opens_in_the_look = True

    @staticmethod
    def shard(driver: Driver) -> int:
        """The tally shard this connection's answers and opens count in (models.TALLY_SHARDS), by its server
        process: concurrent answers add to rows of their own instead of queueing for one row each, which they
        would hold until their commit reached the disk."""
        return driver.connection.info.backend_pid % TALLY_SHARDS

    @staticmethod
    def insert(table: sa.Table) -> sa.Insert:
        return postgresql_insert(table)

    @staticmethod
    def begin_write(session: so.Session) -> None:
        """Nothing to do: writers wait for row locks, not for the database."""

    @staticmethod
    def begin_single_statements(session: so.Session, *, writes: bool) -> None:
        """Let each statement commit by itself, saving the BEGIN and COMMIT round trips around it.

        Writes that belong together must then be one statement (as the
        answer's is), or come after `session.commit()`, which ends this mode.
        """
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    @staticmethod
    def then_together(session: so.Session) -> None:
        """After `begin_single_statements`, make what follows one transaction (each statement before committed itself)."""
        session.commit()  # ends the autocommit mode; nothing is pending

    # The answer, as one statement: every part hangs on the receipt. The counters are read from the marked link,
    # so the link's row is locked before the poll's counters, as a first look's open locks them (answers.record_open):
    # locked in the other order, an answer and a look at the same link deadlocked.
    _ANSWER_IN_ONE_STATEMENT = Direct(_typed(
        "WITH receipt AS (" + _RECEIPT + "), "
        # Whether the answer also counts an open is read from the link's row as locked (FOR UPDATE reads its latest
        # version), not as the request read it: a first look may have counted the open meanwhile.
        "marked AS (UPDATE links SET answered_on = :today, opened_on = coalesce(links.opened_on, :today) "
        "FROM (SELECT id, opened_on FROM links WHERE id IN (SELECT link_id FROM receipt) FOR UPDATE) AS was "
        "WHERE links.id = was.id RETURNING was.opened_on IS NULL AS newly_opened), "
        "counted AS (" + _COUNTERS.format(receipt="marked, ").replace(
            ":opened", "(SELECT count(*) FROM marked WHERE marked.newly_opened)") + "), "
        "by_stratum AS (" + _BY_STRATUM.format(from_receipt="FROM receipt") + "), "
        "by_hour AS (" + _BY_HOUR.format(from_receipt="FROM receipt") + "), "
        "by_value AS (" + _POSTGRESQL_BY_VALUE + "), "
        "by_variant AS (" + _BY_VARIANT.format(from_receipt="FROM receipt", and_="WHERE") + ") "
        + _ANSWER.format(from_receipt="FROM receipt") + " RETURNING id"
    ))

    def write_answer(self, driver: Driver, params: Mapping[str, Any]) -> bool:
        """Write an answer, its receipt, its link's day and its tallies; False if the link had its answer already."""
        return self._ANSWER_IN_ONE_STATEMENT.first(driver, params) is not None

    # A first look in one statement, the link's row locked before the poll's counters, as an answer locks them.
    _OPEN_IN_ONE_STATEMENT = Direct(_typed(
        "WITH opened AS (" + _OPEN_LINK + ") " + _COUNT_OPEN.format(from_opened="FROM opened") + " RETURNING value"
    ))

    def record_open(self, driver: Driver, params: Mapping[str, Any]) -> bool:
        """Mark the link opened on `today` unless it was, and count it; whether this look was its first open."""
        return self._OPEN_IN_ONE_STATEMENT.first(driver, params) is not None

    def claim_receipts(self, session: so.Session, link_ids: list[int]) -> set[int]:
        """Insert receipts for the links that have none; returns those links (their answers may be written)."""
        claimed: set[int] = set()
        for chunk in _chunks(link_ids, 10_000):
            statement = (
                self.insert(Receipt.__table__).on_conflict_do_nothing(index_elements=["link_id"])
                .from_select(["link_id"], sa.select(sa.func.unnest(sa.literal(chunk, sa.ARRAY(sa.Integer)))))
                .returning(Receipt.__table__.c.link_id)
            )
            claimed.update(session.scalars(statement))
        return claimed

    def bulk_insert(self, session: so.Session, statement: sa.Insert, table: sa.Table,
                    columns: Mapping[str, Sequence], same: Mapping[str, Any]) -> None:
        """One INSERT ... SELECT unnest(arrays) per chunk: each row of an executemany would be a statement."""
        constants = [sa.literal(value, table.c[name].type) for name, value in same.items()]
        for chunk in _column_chunks(columns):
            rows = sa.select(*(_array(table.c[name], values) for name, values in chunk.items()), *constants)
            session.execute(statement.from_select([*chunk, *same], rows))

    def bulk_update(self, session: so.Session, table: sa.Table, key: str, columns: Mapping[str, Sequence]) -> None:
        """One UPDATE ... FROM unnest(arrays) per chunk."""
        for chunk in _column_chunks(columns):
            given = sa.select(*(_array(table.c[name], values).label(name) for name, values in chunk.items()))
            given = given.subquery("given")
            session.execute(
                sa.update(table)
                .where(table.c[key] == given.c[key])
                .values({name: given.c[name] for name in chunk if name != key})
            )

    @staticmethod
    def claiming(query: sa.Select) -> sa.Select:
        """`query` as a claim of rows for one worker among many: rows another worker locked are skipped."""
        return query.with_for_update(skip_locked=True)

    @staticmethod
    @contextlib.contextmanager
    def migrating(connection: sa.Connection) -> Iterator[None]:
        """Run migrations in one transaction (PostgreSQL's DDL is transactional)."""
        with connection.begin():
            yield


Dialect = SQLite | PostgreSQL
_DIALECTS: dict[str, Dialect] = {"sqlite": SQLite(), "postgresql": PostgreSQL()}


def named(name: str) -> Dialect:
    """The backend called `name` ("sqlite" or "postgresql")."""
    return _DIALECTS[name]


def of(session_or_connection: so.Session | sa.Connection | sa.Engine) -> Dialect:
    """The backend `session_or_connection` talks to."""
    bind = session_or_connection.get_bind() if isinstance(session_or_connection, so.Session) else session_or_connection
    return _DIALECTS[bind.dialect.name]


def answer_params(row: Mapping[str, Any], link_id: int, today: date, opened: int,
                  tally: str = NO_VALUES, shard: int = 0) -> dict[str, Any]:
    """What `write_answer` takes: the answers row, the link's id, the day, whether it counts as opened,
    the value tally's cells (JSON) and the tally shard it counts in (`shard`)."""
    return {**row, "link": link_id, "today": today, "opened": opened, "tally": tally, "shard": shard}


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _column_chunks(columns: Mapping[str, Sequence]):
    count = len(next(iter(columns.values())))
    for start in range(0, count, BULK_CHUNK):
        yield {name: values[start : start + BULK_CHUNK] for name, values in columns.items()}


def _array(column: sa.Column, values: Sequence) -> sa.ColumnElement:
    # One PostgreSQL array parameter, unnested into a column of rows.
    return sa.func.unnest(sa.literal(list(values), postgresql.ARRAY(column.type)))


def _bound(connection: sa.Connection, table: sa.Table, columns: Mapping[str, Sequence]) -> dict[str, list]:
    # Each column's values as the driver receives them.
    bound = {}
    for name, values in columns.items():
        processor = table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        bound[name] = [processor(value) for value in values] if processor else list(values)
    return bound


def _executemany(connection: sa.Connection, compiled: sa.engine.Compiled, bound: Mapping[str, Any]) -> None:
    # The driver's executemany, each row's values in the order of the statement's parameters
    # (not strict: the values every row shares are endless repeats).
    connection.exec_driver_sql(str(compiled), list(zip(*(bound[name] for name in compiled.positiontup), strict=False)))
