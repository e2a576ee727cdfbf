"""The OAuth 2.1 authorization-server facade MCP clients talk to."""
