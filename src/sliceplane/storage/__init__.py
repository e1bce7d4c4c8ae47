"""Durable, revisioned storage of API objects (SQLite), with watch fan-out."""
