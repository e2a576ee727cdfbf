"""One pod, two uvicorn workers, a sqlite file: shared logins and keys, summed metrics, restarts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import yaml

from tests.ha.client import OAuthClient
from tests.ha.cluster import SCOPES, Replica
from tests.integration.harness import free_port
from tests.store.conftest import fernet_key

REQUESTS = 200
CONCURRENCY = 8


def allowed_total(metrics: str, host: str) -> float:
    pattern = (
        r'^mcp_gatekeeper_auth_decisions_total\{host="' + re.escape(host) + r'",result="allowed"\}'
        r" (\S+)$"
    )
    match = re.search(pattern, metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_two_workers_share_sqlite_state_and_sum_their_metrics(tmp_path: Path) -> None:
    """Logins work across workers, /metrics counts every worker's requests, restarts keep all."""
    port = free_port()
    host = f"127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    config = {
        "proxy": {"hosts": [{"host": host, "scopes": SCOPES}]},
        "server": {"host": "127.0.0.1", "workers": 2, "logLevel": "warning"},
        "store": {"url": f"sqlite://{tmp_path}/state.db", "encryptionKey": fernet_key()},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    replica = Replica(
        tmp_path / "config.yaml",
        port,
        tmp_path / "serve.log",
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    )
    replica.start()
    try:
        limits = httpx.Limits(max_keepalive_connections=0)  # new connections: both workers serve
        async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as http:
            oauth = OAuthClient(http, host)
            client_id = await oauth.register(replica.url)
            tokens = await oauth.login(client_id, [replica.url])
            gate = {"host": host, "authorization": f"Bearer {tokens.access}"}
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def authenticate() -> int:
                async with semaphore:
                    response = await http.get(f"{replica.url}/authenticate", headers=gate)
                    return response.status_code

            statuses = await asyncio.gather(*(authenticate() for _ in range(REQUESTS)))
            assert set(statuses) == {200}
            for _ in range(6):  # whichever worker answers, it reports both workers' counts
                scraped = (await http.get(f"{replica.url}/metrics")).text
                assert allowed_total(scraped, host) == REQUESTS
            assert "process_cpu_seconds_total" not in scraped
            pids = {path.stem.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
            assert len(pids) == 2 and "999999" not in pids, pids

            replica.stop()
            replica.start()
            statuses = [(await http.get(f"{replica.url}/authenticate", headers=gate)).status_code]
            refreshed = await oauth.refresh(replica.url, client_id, tokens.refresh)
            assert statuses == [200] and refreshed.status_code == 200, refreshed.text
    finally:
        replica.stop()


async def test_workers_write_no_access_line_per_request(tmp_path: Path) -> None:
    """Two workers at log level info: a hundred requests leave no access-log line behind (each
    worker sets its logging up after uvicorn turned the access log off)."""
    port = free_port()
    config = {
        "proxy": {"hosts": [{"host": f"127.0.0.1:{port}"}]},
        "server": {"host": "127.0.0.1", "workers": 2, "logLevel": "info"},
        "store": {"url": f"sqlite://{tmp_path}/state.db", "encryptionKey": fernet_key()},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    log = tmp_path / "serve.log"
    replica = Replica(tmp_path / "config.yaml", port, log)
    replica.start()
    try:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as http:
            for _ in range(100):
                assert (await http.get(f"{replica.url}/healthz")).status_code == 200
    finally:
        replica.stop()
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "uvicorn.access" in line or "/healthz" in line], lines
    assert any('"level": "info"' in line for line in lines)  # info lines are written at all
