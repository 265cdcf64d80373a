"""Admin alerts: intake from Kafka, storage with cool-down aggregation, listing, delivery."""
