"""Mirage simulator service."""
