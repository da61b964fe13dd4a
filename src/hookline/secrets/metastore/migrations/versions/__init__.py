"""Alembic revision scripts of the hookline metastore."""
