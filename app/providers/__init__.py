"""Upstream identity providers behind one small interface (``base.IdentityProvider``)."""

from .base import IdentityProvider, LoginDenied, LoginRedirect, ProviderError, UpstreamIdentity

__all__ = ["IdentityProvider", "LoginDenied", "LoginRedirect", "ProviderError", "UpstreamIdentity"]
