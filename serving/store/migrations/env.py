"""Alembic environment: runs migrations against the URL the caller configured."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from serving.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:  # serving.store.db.upgrade always sets it
    raise RuntimeError("alembic: no sqlalchemy.url in the configuration")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
