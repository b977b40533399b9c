"""callctl: control plane for 12345 hotlines."""
