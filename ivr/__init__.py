"""IVR flows as data compiled to dialplan (not built yet)."""
