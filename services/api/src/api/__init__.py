"""Mirage api service."""
