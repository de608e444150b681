"""An offline stand-in for ServiceTitan, starting with its side of OpenID Connect pairing."""

from st_sandbox.app import create_app

__all__ = ["create_app"]
