"""Integration tests: the service behind real gateways on loopback."""
