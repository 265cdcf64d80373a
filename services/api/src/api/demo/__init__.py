"""The demo tenant of PRODUCT §10 (development mode only)."""
