"""Tests of adapters/store on SQLite and PostgreSQL. ``tests.store.pg`` is reusable by other test packages."""
