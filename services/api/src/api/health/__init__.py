"""`GET /health`: PostgreSQL, Redis, Kafka and Evolution API, each bounded in time."""
