"""Webhook deliveries, lead status updates, availability snapshots and webhook signing keys
carry their ServiceTitan environment; what was there before came in at the production URL.

Revision ID: 0010_webhook_environments
Revises: 0009_one_pairing_record
Create Date: 2026-12-03 14:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_webhook_environments"
down_revision = "0009_one_pairing_record"
branch_labels = None
depends_on = None

# Every row received or made before environments existed is production's: the one
# receiver URL was production's, and existing set-ups keep working.
TABLES = ("webhook_signing_keys", "webhook_deliveries", "lead_status_updates", "availability_snapshots")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("environment", sa.String(length=16), server_default="production", nullable=False)
            )


def downgrade():
    # A plain ALTER TABLE DROP COLUMN, on SQLite too (3.35 and later): a batch operation
    # would copy webhook_deliveries and drop the original, and with foreign keys on, that
    # drop deletes the lead updates and availability snapshots that refer to it.
    for table in reversed(TABLES):
        op.drop_column(table, "environment")
