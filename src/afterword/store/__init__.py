"""Persistence: SQLAlchemy models, Alembic migrations, and the repository.

SQLite (embedded default, one writer) and PostgreSQL (any number of workers, claims with
``FOR UPDATE SKIP LOCKED``) run the same code and the same test suite.
"""

from afterword.store.db import Store, default_database_url

__all__ = ["Store", "default_database_url"]
