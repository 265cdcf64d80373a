"""Realtime: `GET /events`, a tenant-scoped server-sent-event stream of instance status changes."""
