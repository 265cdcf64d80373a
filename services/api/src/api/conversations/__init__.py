"""Conversations: what contacts and the bot said, the guard's decisions, operator controls."""
