"""Tests of the upstream identity providers (a real OIDC provider; fake Google and GitHub)."""
