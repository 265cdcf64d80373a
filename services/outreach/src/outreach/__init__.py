"""Mirage outreach service."""
