"""Alembic environment of the DMP record schema: the shared runner (`xdsservice.database.run_env`)."""

from dmp.sql.schema import metadata
from xdsservice.database import run_env

run_env(metadata)
