"""Warm-up pairs: two of the tenant's numbers chatting in scheduled rounds (PRODUCT §3)."""
