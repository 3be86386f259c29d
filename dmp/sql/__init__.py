"""The DMP record store in SQL (SQLAlchemy 2 Core, the same on SQLite and PostgreSQL)."""
