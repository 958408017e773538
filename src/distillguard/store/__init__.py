"""Durable storage: the event log and the API key store (SQLite by default)."""
