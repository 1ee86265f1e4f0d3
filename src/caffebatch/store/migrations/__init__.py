"""Alembic's scripts for the store: `env.py` and one revision per schema change in versions/.

They run from `caffebatch.store.migrate` with the store's own connection; no alembic.ini.
"""
