"""Alembic's environment: migrations run on the connection ``provenance.db`` hands over."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through provenance.db.upgrade_schema(engine).")
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
