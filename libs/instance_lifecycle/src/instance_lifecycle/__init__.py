"""instance_lifecycle."""
