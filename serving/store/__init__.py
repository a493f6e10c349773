"""Persistence: SQLAlchemy models, the database, content-addressed photos and the audit chain."""
