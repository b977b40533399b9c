"""Agent commands (login, logout, pause, unpause), the ACW timer and the ACW watch."""
