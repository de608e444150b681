"""Index pairings by request id: the admin console searches pairings by it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:45:41.060449

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pairings_request_id"), ["request_id"], unique=False)


def downgrade():
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairings_request_id"))
