"""Plain DBAPI statements for the write paths (the registry's ITI-42, the repository's document rows), on
the connection of a SQLAlchemy transaction.

A single-document registration runs about ten statements. Through SQLAlchemy Core each costs 60-100 µs
of Python (statement cache key, parameter processing, result set-up), more than SQLite takes to run it;
through the driver (sqlite3, psycopg) it costs a few µs. So the write path's SQL is text, written once per
dialect: `Sql` holds it with `?` markers and `Dbapi` runs it on the driver connection under the
transaction SQLAlchemy opened (BEGIN IMMEDIATE on SQLite, `xdsservice.database`), so it commits or rolls
back with everything else of that transaction. Values are always bound, never formatted into the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def in_list(n: int) -> str:
    """`?, ?, ?` for an IN (...) of n bound values."""
    return ", ".join("?" * n)


class Dbapi:
    """The driver connection under a SQLAlchemy `Connection`, with `?` turned into the driver's marker."""

    def __init__(self, conn: Connection) -> None:
        self.driver: Any = conn.connection.driver_connection
        self.sqlite = conn.dialect.name == "sqlite"
        self._error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self._texts: dict[str, str] = {}

    @contextmanager
    def _errors(self, sql: str, params: Any) -> Iterator[None]:
        """Driver errors as SQLAlchemy's (IntegrityError, OperationalError, ...), like the rest of the store."""
        try:
            yield
        except self._error as exc:
            raise DBAPIError.instance(sql, params, exc, self._error) from exc

    def _text(self, sql: str) -> str:
        if self.sqlite:
            return sql
        text = self._texts.get(sql)
        if text is None:  # psycopg: %s markers (the write path's SQL has no literal %)
            text = self._texts[sql] = sql.replace("?", "%s")
        return text

    def _prepared(self, run: Any, sql: str, params: Any) -> None:
        """PostgreSQL: run `sql` as a server-side prepared statement (parsed and planned once per connection,
        then only bound and run: issue 15). The engine turns psycopg's automatic preparation off
        (`xdsservice.database`: a generic plan hurts some stored queries), and psycopg ignores
        `prepare=True` while it is off, so it is on for this statement only. The write path's statements
        are keyed lookups and inserts, whose generic plan is the custom one."""
        self.driver.prepare_threshold = 0
        try:
            run(self._text(sql), params)
        finally:
            self.driver.prepare_threshold = None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors(sql, params):
            if self.sqlite:
                return self.driver.execute(sql, params).fetchall()  # type: ignore[no-any-return]
            with self.driver.cursor() as cur:
                self._prepared(cur.execute, sql, params)
                return cur.fetchall()  # type: ignore[no-any-return]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with self._errors(sql, params):
            if self.sqlite:
                return int(self.driver.execute(sql, params).rowcount)
            with self.driver.cursor() as cur:
                self._prepared(cur.execute, sql, params)
                return int(cur.rowcount)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """PostgreSQL: the statements of the block go out together, in one round trip (psycopg pipeline
        mode; an error is raised when the block ends). SQLite: nothing to save."""
        if self.sqlite:
            yield
            return
        with self._errors("(pipeline)", None), self.driver.pipeline():
            yield

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        with self._errors(sql, rows):
            if self.sqlite:
                self.driver.executemany(sql, rows)
                return
            with self.driver.cursor() as cur:
                self._prepared(cur.executemany, sql, rows)
