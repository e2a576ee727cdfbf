"""Per-user credentials for the APIs MCP servers call (``proxy.hosts[].upstream``).

``cache`` keeps them in memory (the hot path reads it without I/O), ``provider_grants`` keeps
the identity provider's secret of each user's latest login in the store, ``exchange`` trades
the provider's token at a token endpoint (RFC 8693, Entra on-behalf-of), and ``fetcher`` makes
one credential from those for one user and host.
"""
