"""The release, defined here only: the wheel's metadata (pyproject.toml reads it),
``flask --app oidc_provider version`` and ``/healthz`` all show it. CHANGELOG.md says what
each release changed."""

VERSION = "1.0.0"
