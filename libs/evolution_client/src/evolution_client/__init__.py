"""Typed async client for the Evolution API v2 endpoints Mirage uses."""
