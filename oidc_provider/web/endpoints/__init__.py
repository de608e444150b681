"""One blueprint module per endpoint family."""

from flask import Flask

from oidc_provider.web.endpoints import (
    account_info,
    authorize,
    custom_pairing,
    discovery,
    login,
    operations,
    token,
    userinfo,
    webhooks,
)

BLUEPRINTS = (
    discovery.bp,
    authorize.bp,
    login.bp,
    token.bp,
    userinfo.bp,
    account_info.bp,
    operations.bp,
    custom_pairing.bp,
    webhooks.bp,
)


def init_app(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
