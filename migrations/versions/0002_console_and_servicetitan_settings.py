"""Console and ServiceTitan settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:16:20.520284

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():

    op.create_table(
        "extra_detail_parameters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("key_folded", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_folded"),
    )
    op.create_table(
        "job_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=128), nullable=False),
        sa.Column("partner_key", sa.String(length=128), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_key"),
    )
    with op.batch_alter_table("job_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_types_category"), ["category"], unique=False)

    op.create_table(
        "servicetitan_environments",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("identity_url", sa.String(length=2048), nullable=True),
        sa.Column("api_url", sa.String(length=2048), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=True),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "webhook_signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_encrypted", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("servicetitan_environment", sa.String(length=16), nullable=True))
        # Existing clients get false: ServiceTitan's default until its admin ticks the box.
        batch_op.add_column(sa.Column("multi_account_support", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("logo_content_type", sa.String(length=32), nullable=True))

    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=254), nullable=True))


def downgrade():

    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.drop_column("decided_by")
        batch_op.drop_column("decided_at")

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("logo_content_type")
        batch_op.drop_column("logo")
        batch_op.drop_column("multi_account_support")
        batch_op.drop_column("servicetitan_environment")

    op.drop_table("webhook_signing_keys")
    op.drop_table("servicetitan_environments")
    with op.batch_alter_table("job_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_types_category"))

    op.drop_table("job_types")
    op.drop_table("extra_detail_parameters")
