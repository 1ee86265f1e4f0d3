"""The dashboard: server-rendered pages under /dashboard over the service's own functions.

`create_dashboard(ctx)` builds the app that `caffebatch.server.create_server` mounts. See
docs/dashboard.md.
"""

from caffebatch.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
