"""Alembic migrations of the repository store, run from code at start: `upgrade(engine)`.

The version table is `repository_alembic_version`, so the table can live in a database shared with the
registry or the audit sink. A database made before the store had migrations (its table made by
`create_all`, columns added by hand-written ALTERs) has no version table: it is stamped at the revision
its columns match, then upgraded like any other.
New revision: `alembic -c repository/migrations/alembic.ini revision -m "..."` then edit it by hand.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect

from xdsservice.database import Migrations

VERSION_TABLE = "repository_alembic_version"
MIGRATIONS = Migrations(Path(__file__).parent, VERSION_TABLE)
TABLE = "repository_document"


def _adopt_unversioned(conn: Connection) -> None:
    tables = set(inspect(conn).get_table_names())
    if TABLE not in tables or VERSION_TABLE in tables:
        return
    columns = {c["name"] for c in inspect(conn).get_columns(TABLE)}
    MIGRATIONS.stamp(conn, "0002" if "patient_id" in columns else "0001")


def upgrade(engine: Engine, revision: str = "head") -> None:
    MIGRATIONS.upgrade(engine, revision, before=_adopt_unversioned)
