"""Alembic environment: migrations run on the engine the registry hands over (see migrate.py)."""

from alembic import context

from registry.sql.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` command line: XDS_REGISTRY_DATABASE_URL or the registry's default
    from registry.config import RegistrySettings
    from registry.sql.engine import make_engine
    from xdsservice.config import load_settings

    engine = make_engine(load_settings(RegistrySettings, "registry").database_url_resolved())

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
