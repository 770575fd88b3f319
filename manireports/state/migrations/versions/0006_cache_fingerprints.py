"""Cache entries remember the Moodle data they were computed from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

- `fingerprint` on cache entries: a few index probes of the Moodle tables the report reads (their
  highest id, the latest completion time), taken before the report ran. An entry whose
  fingerprint no longer matches Moodle is not served, whatever its TTL.
- `invalidations` on cache entries: reads that found the entry fresh by its TTL but out of date
  with Moodle, for `cache stats`.

The site a state database belongs to is a setting (manireports_settings), so it needs no column.
The downgrade drops both columns; entries then live by their TTL alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from manireports.state import ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CACHE = "manireports_cache_summary"


def upgrade() -> None:
    with op.batch_alter_table(CACHE) as batch:
        ddl.batch_add_column(batch, CACHE, sa.Column("fingerprint", sa.String(255)))
        ddl.batch_add_column(
            batch,
            CACHE,
            sa.Column("invalidations", sa.Integer, nullable=False, server_default=sa.text("0")),
        )


def downgrade() -> None:
    with op.batch_alter_table(CACHE) as batch:
        ddl.batch_drop_column(batch, CACHE, "invalidations")
        ddl.batch_drop_column(batch, CACHE, "fingerprint")
