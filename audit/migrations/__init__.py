"""Alembic migrations of the audit store, run from code: `upgrade(engine)` brings a database to head.

The version table is `audit_alembic_version`, so the audit tables can live in the registry's database.
New revision: `alembic -c audit/migrations/alembic.ini revision -m "..."` then edit it by hand.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from xdsservice.database import Migrations

VERSION_TABLE = "audit_alembic_version"
MIGRATIONS = Migrations(Path(__file__).parent, VERSION_TABLE)


def upgrade(engine: Engine, revision: str = "head") -> None:
    MIGRATIONS.upgrade(engine, revision)
