"""Lab: a real Asterisk from a Debian sid rootfs, PostgreSQL and SIPp on loopback."""
