"""Fresh databases for tests and benchmarks: SQLite files, or databases on a PostgreSQL server.

One template is prepared once (the tests migrate it; a benchmark sets up its
poll in it) and each test or benchmark side gets a copy, so nothing is
shared between them. `Databases.on(server_url, folder)` picks the backend.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa


class Databases:
    name = ""

    @staticmethod
    def on(server_url: str | None, folder: Path) -> Databases:
        """PostgreSQL databases on `server_url` if given, else SQLite files in `folder`."""
        return PostgresDatabases(server_url) if server_url else SqliteDatabases(folder)

    def template(self) -> str:
        """The URL of the template, empty until the caller prepares it."""
        raise NotImplementedError

    def copy(self, label: str | None = None) -> str:
        """A fresh copy of the prepared template."""
        raise NotImplementedError

    def empty(self) -> str:
        """A database without any schema."""
        raise NotImplementedError

    def plain(self, url: str) -> str:
        """The address a bare driver (sqlite3, psycopg) takes."""
        raise NotImplementedError

    def drop(self, url: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Drop everything made, the template included."""


class SqliteDatabases(Databases):
    name = "SQLite"

    def __init__(self, folder: Path):
        self.folder = folder
        self.counter = itertools.count()

    def template(self) -> str:
        return f"sqlite:///{self.folder / 'template.db'}"

    def copy(self, label: str | None = None) -> str:
        path = self.folder / f"{label or f'test-{next(self.counter)}'}.db"
        shutil.copyfile(self.folder / "template.db", path)
        return f"sqlite:///{path}"

    def empty(self) -> str:
        return f"sqlite:///{self.folder / f'empty-{next(self.counter)}.db'}"

    def plain(self, url: str) -> str:
        return url.removeprefix("sqlite:///")

    def drop(self, url: str) -> None:
        path = Path(sa.make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresDatabases(Databases):
    name = "PostgreSQL"

    def __init__(self, server_url: str):
        self.server = sa.make_url(server_url)
        self.admin = sa.create_engine(self.server, isolation_level="AUTOCOMMIT")
        self.prefix = f"poll_test_{uuid.uuid4().hex[:8]}"
        self.counter = itertools.count()
        self.made: list[str] = []
        self._create(f"{self.prefix}_template")

    def _url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> str:
        # STRATEGY FILE_COPY: copying a small template file by file is faster than PostgreSQL 15's WAL_LOG.
        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
        self.made.append(name)
        return self._url(name)

    def template(self) -> str:
        return self._url(f"{self.prefix}_template")

    def copy(self, label: str | None = None) -> str:
        return self._create(f"{self.prefix}_{label or next(self.counter)}", f"{self.prefix}_template")

    def empty(self) -> str:
        return self._create(f"{self.prefix}_{next(self.counter)}")

    def plain(self, url: str) -> str:
        return url.replace("postgresql+psycopg://", "postgresql://")

    def drop(self, url: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')

    def close(self) -> None:
        for name in reversed(self.made):
            self.drop(self._url(name))
        self.admin.dispose()
