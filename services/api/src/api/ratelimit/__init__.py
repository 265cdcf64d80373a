"""Per-tenant, per-endpoint rate limits held in Redis."""
