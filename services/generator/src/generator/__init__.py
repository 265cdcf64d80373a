"""Mirage generator service."""
