"""Mirage guard service."""
