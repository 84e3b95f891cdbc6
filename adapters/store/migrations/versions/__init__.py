"""Hand-written, deterministic Alembic revisions of the scan store."""
