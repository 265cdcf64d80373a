"""Mirage ingest service."""
