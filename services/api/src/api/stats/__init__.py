"""Statistics for the tenant: reads of the analytics views, cached in Redis."""
