"""Migrations on SQLite and PostgreSQL: from an empty database, and from every earlier
revision, to the head; and the head matches the models (``flask db check``)."""

from __future__ import annotations

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from oidc_provider import create_app
from oidc_provider.core.extensions import db
from tests.conftest import ENCRYPTION_KEY


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_app(request, tmp_path):
    """The app over an empty database of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.sqlite'}"
    else:
        url = request.getfixturevalue("new_postgres_database")("migrations")
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test-secret-key",
            "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def revisions(app) -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory(app.extensions["migrate"].directory)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision(app) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def db_check(app):
    return app.test_cli_runner().invoke(args=["db", "check"])


def test_there_is_exactly_one_head(empty_app):
    script = ScriptDirectory(empty_app.extensions["migrate"].directory)

    assert len(script.get_heads()) == 1
    assert script.get_heads()[0] == revisions(empty_app)[-1]


def test_an_empty_database_upgrades_to_the_head_and_matches_the_models(empty_app):
    directory = empty_app.extensions["migrate"].directory
    with empty_app.app_context():
        upgrade(directory=directory)
        tables = set(inspect(db.engine).get_table_names())

    assert current_revision(empty_app) == revisions(empty_app)[-1]
    assert {table.name for table in db.metadata.sorted_tables} <= tables
    result = db_check(empty_app)
    assert result.exit_code == 0, result.output  # and non-zero on drift: the next test


def test_db_check_notices_a_schema_that_drifted_from_the_models(empty_app):
    with empty_app.app_context():
        upgrade(directory=empty_app.extensions["migrate"].directory)
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE clients ADD COLUMN stray INTEGER"))

    assert db_check(empty_app).exit_code != 0


def test_every_earlier_revision_upgrades_to_the_head(empty_app):
    directory = empty_app.extensions["migrate"].directory
    history = revisions(empty_app)
    with empty_app.app_context():
        upgrade(directory=directory)

    for revision in reversed(history[:-1]):
        with empty_app.app_context():
            downgrade(directory=directory, revision=revision)
        assert current_revision(empty_app) == revision
        with empty_app.app_context():
            upgrade(directory=directory)
        assert current_revision(empty_app) == history[-1], f"from {revision}"

    with empty_app.app_context():
        downgrade(directory=directory, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)
    assert db_check(empty_app).exit_code == 0


def test_custom_pairings_move_into_the_one_pairing_record_and_back(empty_app):
    """0009: every Custom pairing becomes a pairing with mechanism "custom"; an OpenID Connect
    pairing takes its client's environment; the downgrade moves the Custom ones back."""
    directory = empty_app.extensions["migrate"].directory
    with empty_app.app_context():
        upgrade(directory=directory, revision="0008_audit_event_counts")
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO accounts (id, name, eligible) VALUES ('acct-1', 'One', :yes)"), {"yes": True}
            )
            connection.execute(
                text(
                    "INSERT INTO tenant_users (id, subject, email, name, session_version)"
                    " VALUES (1, 'sub-1', 'owner@example.com', 'Owner', 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO clients (id, client_id, name, redirect_uris, scope, id_token_alg, account_info_claim,"
                    " async_pairing, remember_consent, default_response_mode, enabled, created_at,"
                    " servicetitan_environment, multi_account_support)"
                    " VALUES (1, 'st', 'ServiceTitan', '[]', 'openid', 'RS256', :no, :no, :yes, 'form_post', :yes,"
                    " '2026-12-01 00:00:00', 'production', :no)"
                ),
                {"yes": True, "no": False},
            )
            connection.execute(
                text(
                    "INSERT INTO pairings (client_pk, user_id, account_id, request_id, status, created_at, updated_at)"
                    " VALUES (1, 1, 'acct-1', 'req-oidc', 'COMPLETED', '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO custom_pairings (environment, request_id, user_id, account_id, status, created_at)"
                    " VALUES ('sandbox', 'req-custom-1', 1, 'acct-1', 'COMPLETED', '2026-12-02 00:00:00'),"
                    " ('sandbox', 'req-custom-2', 1, NULL, 'DECLINED', '2026-12-02 01:00:00')"
                )
            )
        upgrade(directory=directory, revision="0009_one_pairing_record")
        with db.engine.connect() as connection:
            moved = connection.execute(
                text(
                    "SELECT mechanism, environment, request_id, account_id, status, client_pk FROM pairings ORDER BY id"
                )
            ).all()
        assert [tuple(row) for row in moved] == [
            ("openid", "production", "req-oidc", "acct-1", "COMPLETED", 1),
            ("custom", "sandbox", "req-custom-1", "acct-1", "COMPLETED", None),
            ("custom", "sandbox", "req-custom-2", None, "DECLINED", None),
        ]
        assert "custom_pairings" not in inspect(db.engine).get_table_names()

        downgrade(directory=directory, revision="0008_audit_event_counts")
        with db.engine.connect() as connection:
            back = connection.execute(
                text("SELECT environment, request_id, account_id, status FROM custom_pairings ORDER BY id")
            ).all()
            left = connection.execute(text("SELECT request_id FROM pairings")).scalars().all()
        assert [tuple(row) for row in back] == [
            ("sandbox", "req-custom-1", "acct-1", "COMPLETED"),
            ("sandbox", "req-custom-2", None, "DECLINED"),
        ]
        assert left == ["req-oidc"]


def test_webhook_rows_from_before_environments_become_productions(empty_app):
    """0010: what came in at the one receiver URL, and the keys that opened it, were
    production's; a downgrade drops the column and keeps the rows."""
    directory = empty_app.extensions["migrate"].directory
    with empty_app.app_context():
        upgrade(directory=directory, revision="0008_audit_event_counts")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO webhook_signing_keys (id, key_encrypted, source, created_at)"
                    " VALUES (1, 'x', 'pasted', '2026-12-01 00:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO webhook_deliveries (id, topic, received_at, headers, body, state, problems)"
                    " VALUES (1, 'availabilities', '2026-12-01 00:00:00', '{}', :body, 'stored', '[]')"
                ),
                {"body": b"{}"},
            )
            connection.execute(
                text(
                    "INSERT INTO availability_snapshots"
                    " (id, delivery_id, account_id, profile_id, service_id, received_at, payload)"
                    " VALUES (1, 1, 'a', 'p', 's', '2026-12-01 00:00:00', '{}')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO lead_status_updates (id, status_update_id, delivery_id, partner_booking_id,"
                    " account_id, profile_id, status, event_timestamp, event_data)"
                    " VALUES (1, 'su-1', 1, 'b-1', 'a', 'p', 'Accepted', 1, '{}')"
                )
            )
        upgrade(directory=directory, revision="0010_webhook_environments")
        tables = ("webhook_signing_keys", "webhook_deliveries", "availability_snapshots", "lead_status_updates")
        with db.engine.connect() as connection:
            for table in tables:
                assert connection.execute(text(f"SELECT environment FROM {table}")).scalars().all() == ["production"]
        downgrade(directory=directory, revision="0008_audit_event_counts")
        for table in tables:
            assert "environment" not in {column["name"] for column in inspect(db.engine).get_columns(table)}
            with db.engine.connect() as connection:
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1
