"""The AsyncAPI document of every topic, built from FastStream and `messaging.topology`."""
