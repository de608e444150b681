"""Partner-side pairing server for ServiceTitan's Leads Integration Platform."""

from importlib.resources import files

from flask import Flask

from oidc_provider.core.release import VERSION as __version__

__all__ = ["__version__", "create_app"]


def create_app(test_config: dict | None = None) -> Flask:
    """The application: settings, extensions, the authorization server, pages, commands."""
    from oidc_provider import cli, servicetitan
    from oidc_provider.core import settings as config
    from oidc_provider.core.extensions import csrf, db, migrate
    from oidc_provider.oidc import server
    from oidc_provider.web import (
        admin,
        endpoints,
        metrics,
        partner_api,
        prebuilt,
        request_log,
        reverse_proxy,
        security_headers,
        sessions,
        throttling,
    )

    app = Flask(
        __name__,
        template_folder=str(files("oidc_provider.templates")),
        static_folder=str(files("oidc_provider.static")),
        instance_relative_config=True,
    )
    try:
        warnings = config.load_settings(app, test_config)
    except config.SettingError as error:
        # One line, for the server's log and the terminal, then stop: not a traceback.
        raise SystemExit(f"oidc_provider: {error}") from None
    request_log.init_app(app)
    for warning in warnings:
        app.logger.warning(warning)
    metrics.init_app(app)
    prebuilt.init_app(app)
    reverse_proxy.init_app(app)
    app.json.sort_keys = False  # keep documented key order, e.g. Status first in account-info
    db.init_app(app)
    migrate.init_app(app, db, directory=str(files("oidc_provider.migrations")))
    csrf.init_app(app)
    throttling.init_app(app)
    sessions.init_app(app)
    server.init_app(app)
    servicetitan.init_app(app)
    security_headers.init_app(app)
    endpoints.init_app(app)
    partner_api.init_app(app)
    admin.init_app(app)
    cli.init_app(app)
    return app
