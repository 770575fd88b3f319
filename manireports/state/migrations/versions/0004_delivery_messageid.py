"""The Message-ID of each scheduled mail, recorded before the server is asked to take it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

- `messageid` on deliveries: written with the status `sending` just before the SMTP DATA
  command, so a delivery whose process died in mid-transaction can be recognised (and the mail
  looked up in the mail server's log) instead of being sent a second time blindly.

The step checks before it adds, so a rerun after an interrupted upgrade completes. The downgrade
drops the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DELIVERIES = "manireports_deliveries"


def _columns() -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(DELIVERIES)}


def upgrade() -> None:
    if "messageid" not in _columns():
        with op.batch_alter_table(DELIVERIES) as batch:
            batch.add_column(sa.Column("messageid", sa.String(255)))


def downgrade() -> None:
    if "messageid" in _columns():
        with op.batch_alter_table(DELIVERIES) as batch:
            batch.drop_column("messageid")
