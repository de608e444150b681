"""Audit events that repeat are one row per source, reason and interval, with a count.

Revision ID: 0008_audit_event_counts
Revises: 0007_partner_api_clients
Create Date: 2026-12-03 11:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_audit_event_counts"
down_revision = "0007_partner_api_clients"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("count", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("repeat_key", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_repeat_key"), ["repeat_key"])


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_repeat_key"), type_="unique")
        batch_op.drop_column("repeat_key")
        batch_op.drop_column("count")
