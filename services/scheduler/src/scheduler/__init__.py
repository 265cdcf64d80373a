"""Mirage scheduler service."""
