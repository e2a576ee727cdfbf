"""Who may log in: allowed email domains, emails and groups, per instance and per host.

Regular expressions match the whole string (``re.fullmatch``), unlike the Go service, where
``example\\.com`` also admitted ``evil-example.com``. Both the instance policy and the host's
policy must admit the user.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..config.common import AccessPolicy
from ..providers import UpstreamIdentity


def refusal(identity: UpstreamIdentity, policies: Sequence[AccessPolicy]) -> str | None:
    """Why ``identity`` may not log in, or ``None``."""
    if not identity.email_verified:
        return "the identity provider has not verified your email address"
    domain = identity.email.rpartition("@")[2].lower()
    for policy in policies:
        if policy.allowed_email_domains and not any(
            re.fullmatch(pattern, domain, re.IGNORECASE) for pattern in policy.allowed_email_domains
        ):
            return f"accounts from {domain or 'your domain'} are not allowed here"
        if policy.allowed_emails and not any(
            re.fullmatch(pattern, identity.email, re.IGNORECASE)
            for pattern in policy.allowed_emails
        ):
            return f"{identity.email} is not on the list of allowed accounts"
        if policy.allowed_groups and not set(policy.allowed_groups) & set(identity.groups):
            return "you are not in any of the groups allowed here: " + ", ".join(
                policy.allowed_groups
            )
    return None
