"""Mirage sender service."""
