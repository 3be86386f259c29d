"""The registry's Alembic migrations (`registry/sql/migrations`), run in-process at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from xdsservice.database import Migrations

MIGRATIONS = Migrations(Path(__file__).parent / "migrations")


def upgrade(engine: Engine, revision: str = "head") -> None:
    MIGRATIONS.upgrade(engine, revision)


def downgrade(engine: Engine, revision: str) -> None:
    MIGRATIONS.downgrade(engine, revision)
