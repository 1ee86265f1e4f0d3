"""The REST service (WML v3 shape): `create_app(ctx)`; `caffebatch.server` adds the rest."""

from caffebatch.api.app import create_app

__all__ = ["create_app"]
