"""Public discovery documents: protected-resource metadata (RFC 9728), authorization-server
metadata and OIDC discovery (RFC 8414), JWKS."""
