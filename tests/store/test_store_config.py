"""store.* and server.workers: what the configuration accepts and what it refuses, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.config import ConfigError, load_config
from tests.store.conftest import fernet_key
from tests.support import config_dict


def problems(tmp_path: Path, extra: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config_dict(), **extra}))
    try:
        load_config(path, env or {})
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def test_several_workers_need_a_shared_store(tmp_path: Path) -> None:
    """workers > 1 with memory:// is refused once, naming both settings; with sqlite it is
    fine."""
    found = problems(tmp_path, {"server": {"workers": 2}})
    assert [line.split(": ")[0] for line in found] == ["server.workers, store.url"]
    shared = {"url": f"sqlite://{tmp_path}/s.db", "encryptionKey": fernet_key()}
    assert problems(tmp_path, {"server": {"workers": 2}, "store": shared}) == []


def test_a_shared_store_needs_an_encryption_key(tmp_path: Path) -> None:
    """sqlite and Redis hold private keys: no encryptionKey, no start."""
    for url in (f"sqlite://{tmp_path}/s.db", "redis://redis:6379/0"):
        found = problems(tmp_path, {"store": {"url": url}})
        assert len(found) == 1 and found[0].startswith("store.encryptionKey:"), found


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgres://db/x", "the scheme must be one of"),
        ("sqlite://relative.db", "three slashes"),
        ("redis://:secret@redis:6379/0", "not in the URL"),
        ("redis+sentinel://s1:26379", "name the master"),
        ("memory://x", "exactly memory://"),
    ],
)
def test_unusable_urls_are_explained(tmp_path: Path, url: str, why: str) -> None:
    """Each wrong store.url says how to write it."""
    found = problems(tmp_path, {"store": {"url": url, "encryptionKey": fernet_key()}})
    assert len(found) == 1 and found[0].startswith("store.url:") and why in found[0], found


def test_keys_come_from_secret_files_and_are_checked(tmp_path: Path) -> None:
    """encryptionKeyFile and previousEncryptionKeysFile work (one key per line); bad keys fail."""
    current, old = fernet_key(), [fernet_key(), fernet_key()]
    (tmp_path / "key").write_text(current + "\n")
    (tmp_path / "old").write_text("\n".join(old) + "\n")
    path = tmp_path / "config.yaml"
    store = {
        "url": "redis://redis:6379/0",
        "encryptionKeyFile": str(tmp_path / "key"),
        "previousEncryptionKeysFile": str(tmp_path / "old"),
    }
    path.write_text(yaml.safe_dump({**config_dict(), "store": store}))
    config = load_config(path, {})
    assert config.store.encryption_key is not None
    assert config.store.encryption_key.get_secret_value() == current
    assert config.store.previous_keys() == old
    env = {"MCP_GATEKEEPER_STORE__ENCRYPTIONKEY": "not-a-key"}
    found = problems(tmp_path, {"store": {"url": "redis://redis:6379/0"}}, env)
    assert len(found) == 1 and "not a Fernet key" in found[0]


def test_credentials_are_for_redis_and_never_logged(tmp_path: Path) -> None:
    """password on sqlite is refused; on Redis it is masked in the logged configuration."""
    from mcp_gatekeeper.config import redacted

    sqlite = {"url": f"sqlite://{tmp_path}/s.db", "encryptionKey": fernet_key(), "password": "x"}
    assert problems(tmp_path, {"store": sqlite})[0].startswith("store.url:")
    path = tmp_path / "config.yaml"
    store = {"url": "rediss://r:6380/0", "encryptionKey": fernet_key(), "password": "hunter2"}
    path.write_text(yaml.safe_dump({**config_dict(), "store": store}))
    logged = str(redacted(load_config(path, {})))
    assert "hunter2" not in logged and store["encryptionKey"] not in logged
