"""The DMP record store's Alembic migrations (`dmp/sql/migrations`), run in-process at start-up, with their
own version table so that they live beside the registry's in one database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from xdsservice.database import Migrations

MIGRATIONS = Migrations(Path(__file__).parent / "migrations", version_table="dmp_alembic_version")


def upgrade(engine: Engine, revision: str = "head") -> None:
    MIGRATIONS.upgrade(engine, revision)


def downgrade(engine: Engine, revision: str) -> None:
    MIGRATIONS.downgrade(engine, revision)
