"""The upstream identity provider users log in with, and who may log in."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .common import AccessPolicy, StrictModel, settings_problem
from .host_rules import copied_claim_names


def _https_url(value: str) -> str:
    if not re.match(r"^https://[^/?#\s]+(/[^?#\s]*)?$", value) and not re.match(
        r"^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/[^?#\s]*)?$", value
    ):
        raise ValueError("must be an https:// URL (http:// only on loopback)")
    return value.rstrip("/")


class GitHubConfig(StrictModel):
    """GitHub.com or GitHub Enterprise Server."""

    web_url: str = Field("https://github.com", alias="webURL")
    api_url: str = Field("https://api.github.com", alias="apiURL")

    _urls = field_validator("web_url", "api_url")(_https_url)


class GoogleConfig(StrictModel):
    """Google Workspace extras: hosted domain, and groups through the Directory API."""

    hosted_domain: str | None = Field(None, alias="hostedDomain")
    service_account_key: SecretStr | None = Field(
        None, alias="serviceAccountKey", description="Service-account JSON key (use ...File)"
    )
    admin_email: str | None = Field(
        None, alias="adminEmail", description="Workspace admin the service account acts as"
    )

    @model_validator(mode="after")
    def _groups_need_both(self) -> GoogleConfig:
        if (self.service_account_key is None) != (self.admin_email is None):
            raise ValueError("serviceAccountKey and adminEmail go together (Workspace groups)")
        return self


class ProviderConfig(AccessPolicy):
    name: Literal["oidc", "google", "github", "demo"]
    client_id: str = Field("", alias="clientID")
    client_secret: SecretStr | None = Field(None, alias="clientSecret")
    issuer_url: str | None = Field(None, alias="issuerURL")
    scopes: list[str] | None = Field(None, description="Scopes asked of the IdP (default per IdP)")
    groups_claim: str = Field("groups", alias="groupsClaim")
    copy_claims: list[str] = Field(
        default_factory=list,
        alias="copyClaims",
        description="Claims of the ID token (or userinfo) copied into access tokens, for rules",
    )
    organization: str | None = Field(
        None, description="GitHub: members of this organization only (Go chart name)"
    )
    github: GitHubConfig = Field(default_factory=lambda: GitHubConfig.model_validate({}))
    google: GoogleConfig = Field(default_factory=lambda: GoogleConfig.model_validate({}))

    _copy_claims = field_validator("copy_claims")(copied_claim_names)
    _issuer = field_validator("issuer_url")(
        lambda value: None if value is None else _https_url(value)
    )

    @model_validator(mode="after")
    def _required_per_provider(self) -> ProviderConfig:
        if self.name == "demo":
            return self
        missing = [
            alias
            for alias, value in (("clientID", self.client_id), ("clientSecret", self.client_secret))
            if not value
        ]
        if self.name == "oidc" and not self.issuer_url:
            missing.append("issuerURL")
        if missing:
            raise settings_problem(missing, f"required by the {self.name} provider")
        return self
