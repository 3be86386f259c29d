"""Alembic environment of the audit store: the shared runner (`xdsservice.database.run_env`)."""

from audit.store import metadata
from xdsservice.database import run_env

run_env(metadata)
