"""Personas: the voice of an instance's replies."""
