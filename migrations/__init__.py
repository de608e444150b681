"""Database migrations (Alembic), shipped inside the package as oidc_provider.migrations."""
