"""AMI wire: framing, login, ping, reconnect, typed events and safe actions."""
