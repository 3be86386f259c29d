"""Alembic environment of the repository store: the shared runner (`xdsservice.database.run_env`)."""

from repository.store import metadata
from xdsservice.database import run_env

run_env(metadata)
