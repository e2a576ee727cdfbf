"""Public discovery documents: protected-resource metadata, OIDC discovery, JWKS."""
