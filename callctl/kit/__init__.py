"""Helpers that several domains need, each in one place."""
