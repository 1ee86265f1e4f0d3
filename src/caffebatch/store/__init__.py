"""The service's metadata store: tables, the database, and deployment states."""

from caffebatch.store.database import Database

__all__ = ["Database"]
