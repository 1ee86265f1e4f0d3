"""Alembic's entry point: runs the revisions on the connection `caffebatch.store.migrate` passes.

`render_as_batch` makes `alembic revision --autogenerate` write ALTERs as batch operations,
which SQLite needs (it cannot drop or change a column in place).
"""

from alembic import context

from caffebatch.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
