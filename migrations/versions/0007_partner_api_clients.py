"""Partner API clients and their access tokens.

Revision ID: 0007_partner_api_clients
Revises: 0006_operations_console
Create Date: 2026-12-03 11:25:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_partner_api_clients"
down_revision = "0006_operations_console"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_secret_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "api_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_client_pk", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["api_client_pk"], ["api_clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_access_tokens_api_client_pk"), ["api_client_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_access_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_api_client_pk"))
    op.drop_table("api_access_tokens")
    op.drop_table("api_clients")
