"""The REST service (WML v3 shape): `create_app(settings)`."""

from caffebatch.api.app import create_app

__all__ = ["create_app"]
