"""Alembic environment: run with the connection afterword hands over (see Store.migrate)."""

from __future__ import annotations

from alembic import context

from afterword.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
