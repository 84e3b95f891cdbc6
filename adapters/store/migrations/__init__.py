"""Alembic environment of the scan store, shipped inside the package (run via :mod:`adapters.store.migrate`)."""
