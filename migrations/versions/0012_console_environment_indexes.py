"""Index bookings by environment: the console shows one environment at a time, newest
first, and a page of the rarer environment must not read every booking of the other.

Revision ID: 0012_console_environment_indexes
Revises: 0011_events
Create Date: 2026-12-03 15:10:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_console_environment_indexes"
down_revision = "0011_events"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_environment_id", ["environment", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_environment_id")
