"""What each MCP host offers: its scopes, tools and header binding, learnt over the MCP wire."""
