"""Upstream identity providers behind one small interface (``base.IdentityProvider``)."""

from .base import IdentityProvider, LoginDenied, LoginRedirect, ProviderError, UpstreamIdentity
from .registry import build_provider

__all__ = [
    "IdentityProvider",
    "LoginDenied",
    "LoginRedirect",
    "ProviderError",
    "UpstreamIdentity",
    "build_provider",
]
