"""HTTP edge: REST and websocket routes."""
