"""Evolution instances: creation, QR, status, removal, persona."""
