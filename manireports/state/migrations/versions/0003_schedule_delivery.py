"""What scheduled delivery needs beyond revision 0002.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-12

- `skip_empty` on schedules: a run whose report has no rows mails nobody.
- `retry_at` on schedules: when a failed occurrence is tried again. It is kept apart from
  `next_run`, which stays the occurrence being delivered, so the period of a retried run is the
  period of the occurrence that failed.
- `occurrence` on deliveries: the occurrence (its `next_run`) a delivery belongs to, so a retry
  finds who already got the report and never mails them twice.

The downgrade drops the three columns; nothing else depends on them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from manireports.state import ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEDULES = "manireports_schedules"
DELIVERIES = "manireports_deliveries"


def upgrade() -> None:
    # Each step checks first (manireports.state.ddl), so a rerun after a killed upgrade completes.
    with op.batch_alter_table(SCHEDULES) as batch:
        ddl.batch_add_column(
            batch,
            SCHEDULES,
            sa.Column("skip_empty", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        )
        ddl.batch_add_column(batch, SCHEDULES, sa.Column("retry_at", sa.BigInteger))
    with op.batch_alter_table(DELIVERIES) as batch:
        ddl.batch_add_column(batch, DELIVERIES, sa.Column("occurrence", sa.BigInteger))
    ddl.create_index("ix_manireports_deliveries_occurrence", DELIVERIES, ["occurrence"])


def downgrade() -> None:
    with op.batch_alter_table(DELIVERIES) as batch:
        ddl.batch_drop_index(batch, DELIVERIES, "ix_manireports_deliveries_occurrence")
        ddl.batch_drop_column(batch, DELIVERIES, "occurrence")
    with op.batch_alter_table(SCHEDULES) as batch:
        ddl.batch_drop_column(batch, SCHEDULES, "retry_at")
        ddl.batch_drop_column(batch, SCHEDULES, "skip_empty")
