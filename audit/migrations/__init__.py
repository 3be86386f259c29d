"""Alembic migrations of the audit store, run from code: `upgrade(engine)` brings a database to head.

The version table is `audit_alembic_version`, so the audit tables can live in the registry's database.
New revision: `alembic -c audit/migrations/alembic.ini revision -m "..."` then edit it by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent
VERSION_TABLE = "audit_alembic_version"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
