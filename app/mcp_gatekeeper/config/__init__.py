"""Configuration: the YAML schema, its loader and the redacted view logged at start-up."""

from .loader import CONFIG_PATH_ENV, ConfigError, Problem, load_config
from .model import Config, HostConfig, IdentityHeaders, ProxyConfig, ScopeConfig, TokensConfig


def redacted(config: Config) -> dict[str, object]:
    """The effective configuration as JSON-ready data, secrets masked."""
    return config.model_dump(mode="json", by_alias=True)


__all__ = [
    "CONFIG_PATH_ENV",
    "Config",
    "ConfigError",
    "HostConfig",
    "IdentityHeaders",
    "Problem",
    "ProxyConfig",
    "ScopeConfig",
    "TokensConfig",
    "load_config",
    "redacted",
]
