"""Routing config as data: stored versions, REST, and applying them to Asterisk."""
