"""Alembic environment of the audit store: online only, on the connection `upgrade` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from audit.migrations import VERSION_TABLE
from audit.store import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn, target_metadata=metadata, version_table=VERSION_TABLE, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the alembic command line: sqlalchemy.url from alembic.ini or -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database as sqlalchemy.url in alembic.ini or -x url=...")
    with create_engine(url).begin() as conn:
        _run(conn)
