"""Users, roles and bearer tokens: who may call which endpoint."""
