"""Alembic revisions of the repository store (a package so that `pip install .` ships them)."""
