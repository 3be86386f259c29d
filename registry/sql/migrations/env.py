"""Alembic environment of the registry schema: the shared runner (`xdsservice.database.run_env`)."""

from registry.sql.schema import metadata
from xdsservice.database import run_env

run_env(metadata)
