"""``store``: where state lives, chosen by URL, and how its secrets are encrypted at rest."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from ..store.encryption import check_key, split_keys
from .common import Duration, StrictModel, settings_problem

MEMORY_URL = "memory://"
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")
SCHEMES = ("memory", "sqlite", *REDIS_SCHEMES)


class StoreConfig(StrictModel):
    url: str = Field(
        MEMORY_URL,
        description=(
            "memory:// (one process), sqlite:///absolute/path.db (one pod), redis://host:6379/0, "
            "rediss://..., unix:///path.sock, redis+sentinel://s1:26379,s2:26379/master or "
            "redis+cluster://node1:6379,node2:6379 (a Redis Cluster: any of its nodes)"
        ),
    )
    encryption_key: SecretStr | None = Field(
        None,
        alias="encryptionKey",
        description="Fernet key encrypting the signing keys and upstream secrets at rest",
    )
    previous_encryption_keys: SecretStr | None = Field(
        None,
        alias="previousEncryptionKeys",
        description="Older Fernet keys that still decrypt (comma- or newline-separated)",
    )
    username: str | None = Field(None, description="Redis ACL user")
    password: SecretStr | None = Field(None, description="Redis password (never in the URL)")
    ca_file: str | None = Field(None, alias="caFile", description="CA bundle for rediss:// (PEM)")
    key_prefix: str = Field("mcp-gatekeeper:", alias="keyPrefix", min_length=1)
    poll_interval: Duration = Field(
        timedelta(seconds=2),
        alias="pollInterval",
        description="How often each process picks up new keys and revocations",
    )
    timeout: Duration = Field(timedelta(seconds=1), description="Per store operation")

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def shared(self) -> bool:
        """True when several processes see the same state (everything but memory://)."""
        return self.scheme != "memory"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
        parts = urlsplit(value)
        if scheme == "memory" and value != MEMORY_URL:
            raise ValueError("write exactly memory://")
        if scheme == "sqlite" and (parts.netloc or not parts.path.startswith("/")):
            raise ValueError("write sqlite:///absolute/path.db (three slashes, then the path)")
        if scheme in REDIS_SCHEMES and "@" in parts.netloc:
            raise ValueError(
                "put the credentials in store.username and store.password (or passwordFile), "
                "not in the URL: the URL is logged"
            )
        if scheme == "redis+cluster" and (parts.path.strip("/") not in ("", "0") or parts.query):
            raise ValueError("a Redis Cluster has database 0 only: redis+cluster://h1:6379,h2:6379")
        if scheme == "redis+sentinel" and not parts.path.strip("/"):
            raise ValueError("name the master: redis+sentinel://host:26379,host2:26379/mymaster")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_key(value.get_secret_value())
        return value

    @field_validator("previous_encryption_keys")
    @classmethod
    def _previous_keys(cls, value: SecretStr | None) -> SecretStr | None:
        for key in split_keys(value.get_secret_value() if value else ""):
            check_key(key)
        return value

    @field_validator("poll_interval")
    @classmethod
    def _poll_interval(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=100) <= value <= timedelta(seconds=30):
            raise ValueError("must be between 100ms and 30s (it bounds the revocation delay)")
        return value

    @model_validator(mode="after")
    def _needs(self) -> StoreConfig:
        if self.shared and self.encryption_key is None:
            raise settings_problem(
                ["encryptionKey"],
                f"a {self.scheme}:// store keeps the private signing keys and upstream tokens; "
                "set an encryption key (from a Secret: encryptionKeyFile)",
            )
        if self.scheme == "redis+cluster" and self.ca_file:
            raise settings_problem(["caFile"], "TLS to a Redis Cluster is not supported yet")
        if self.scheme == "redis+cluster" and ("{" in self.key_prefix or "}" in self.key_prefix):
            raise settings_problem(
                ["keyPrefix"],
                "in a Redis Cluster a prefix with { or } becomes every key's hash tag, putting "
                "the whole store on one node; leave the braces out",
            )
        if self.scheme not in REDIS_SCHEMES and (self.password or self.username or self.ca_file):
            raise settings_problem(
                ["url"], "username, password and caFile apply to Redis stores only"
            )
        return self

    def previous_keys(self) -> list[str]:
        secret = self.previous_encryption_keys
        return split_keys(secret.get_secret_value()) if secret else []
