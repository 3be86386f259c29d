"""Alembic migrations of the registry schema (a package so that `pip install .` ships them)."""
