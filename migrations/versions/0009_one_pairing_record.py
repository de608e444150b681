"""One pairing record for both mechanisms: Custom pairings move into ``pairings``, which
gains the mechanism, the environment and why a pairing ended.

Revision ID: 0009_one_pairing_record
Revises: 0008_audit_event_counts
Create Date: 2026-12-03 14:00:00

"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "0009_one_pairing_record"
down_revision = "0008_audit_event_counts"
branch_labels = None
depends_on = None

_CUSTOM_ONLY = sa.text("mechanism = 'custom'")


def _default_environment() -> str:
    # The environment of clients registered without one, as the product resolved it when
    # this revision was written (servicetitan/environments.py): migrations stay as written.
    configured = current_app.config.get("SERVICETITAN_ENVIRONMENT")
    if configured:
        return configured
    return "production" if current_app.config.get("MODE") == "production" else "sandbox"


def upgrade():
    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mechanism", sa.String(length=16), server_default="openid", nullable=False))
        batch_op.add_column(sa.Column("environment", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("unpaired_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("unpaired_by", sa.String(length=254), nullable=True))
        batch_op.alter_column("client_pk", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("account_id", existing_type=sa.String(length=128), nullable=True)

    # An OpenID Connect pairing is in its client's environment.
    op.execute(
        sa.text(
            "UPDATE pairings SET environment = COALESCE("
            "(SELECT clients.servicetitan_environment FROM clients WHERE clients.id = pairings.client_pk), :default)"
        ).bindparams(default=_default_environment())
    )
    op.execute(
        "INSERT INTO pairings (mechanism, environment, request_id, user_id, account_id, status, created_at, updated_at)"
        " SELECT 'custom', environment, request_id, user_id, account_id, status, created_at, created_at"
        " FROM custom_pairings ORDER BY id"
    )

    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.alter_column("environment", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_index(
            "uq_pairings_custom_request",
            ["environment", "request_id"],
            unique=True,
            sqlite_where=_CUSTOM_ONLY,
            postgresql_where=_CUSTOM_ONLY,
        )
        batch_op.create_index("ix_pairings_account_environment", ["account_id", "environment"], unique=False)

    with op.batch_alter_table("custom_pairings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_pairings_user_id"))
    op.drop_table("custom_pairings")


def downgrade():
    op.create_table(
        "custom_pairings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["tenant_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("environment", "request_id"),
    )
    with op.batch_alter_table("custom_pairings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custom_pairings_user_id"), ["user_id"], unique=False)

    op.execute(
        "INSERT INTO custom_pairings (environment, request_id, user_id, account_id, status, created_at)"
        " SELECT environment, request_id, user_id, account_id, status, created_at"
        " FROM pairings WHERE mechanism = 'custom' ORDER BY id"
    )
    op.execute("DELETE FROM pairings WHERE mechanism = 'custom'")

    with op.batch_alter_table("pairings", schema=None) as batch_op:
        batch_op.drop_index("ix_pairings_account_environment")
        batch_op.drop_index("uq_pairings_custom_request")
        batch_op.alter_column("account_id", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column("client_pk", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("unpaired_by")
        batch_op.drop_column("unpaired_reason")
        batch_op.drop_column("environment")
        batch_op.drop_column("mechanism")
