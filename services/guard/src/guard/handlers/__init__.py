"""The guard's Kafka entry points: they translate a consumed event into a call to the guard."""
