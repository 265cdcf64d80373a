"""Entry points that translate consumed events into calls of the sender's service."""
