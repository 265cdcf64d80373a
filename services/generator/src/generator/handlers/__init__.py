"""The generator's Kafka consumers, one module per consumed topic."""
