"""Dual-channel recordings: metadata, retention, access (not built yet)."""
