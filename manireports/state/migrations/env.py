"""Alembic environment for the state database.

There is no alembic.ini: `manireports.state.store.StateDB.upgrade()` builds the configuration and
hands over an open connection in `config.attributes["connection"]`, already inside a transaction
that it commits once every migration has run. Offline (`--sql`) mode is not supported, because the
data migrations read rows.
"""

from __future__ import annotations

from alembic import context

from manireports.state.store import VERSION_TABLE
from manireports.state.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "State database migrations run through `manireports db upgrade` "
        "(manireports.state.StateDB.upgrade), on a live connection."
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite can only change columns and constraints by copying the table.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
