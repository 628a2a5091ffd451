"""Alembic's environment for the vault: it runs on the connection vault.db.migrate hands it,
inside the transaction (and lock) that migrate holds, never on one of its own."""

from __future__ import annotations

from alembic import context

from vault.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it; Alembic's batch mode does that for every dialect.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
