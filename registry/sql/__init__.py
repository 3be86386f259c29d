"""The registry's SQL storage: schema, Alembic migrations, the store, and the stored-query SQL."""
