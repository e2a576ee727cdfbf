"""Workload identity end to end: jobs with no secret of ours call MCP tools through a gateway.

A CI job's OIDC token comes from the real npm OpenID provider (``provider.mjs`` with a workload
client: its client-credentials access tokens are JWTs for the audience asked, shaped like a CI
provider's job token, ``repository``/``ref`` and a ``repo:...`` subject); mcp-gatekeeper finds
its keys by OpenID discovery. A Kubernetes CronJob's service-account token comes from
``ServiceAccountSigner`` (a projected token's shape, keys inline). Both are exchanged at
``/token`` through Traefik, and the Python SDK calls the notes server's tools with the result:
per-tool scopes and host isolation hold as for a signed-in user.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.config import Config
from tests.e2e.stack import HOST_A, HOST_B, gatekeeper, host_entry, notes_server, ready_line
from tests.flows.workload_signer import K8S_AUDIENCE, K8S_ISSUER, ServiceAccountSigner
from tests.integration.harness import run_gateway, start_proc, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.providers.oidc_server import CLIENT_ID, CLIENT_SECRET, INSTALL_HINT, OIDC_DIR

pytestmark = pytest.mark.gateway

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ, WRITE = "notes:read", "notes:write"
#: The audience the CI job asks its provider for (GitHub's ``id-token`` ``audience=``).
CI_AUDIENCE = "https://mcp-gatekeeper.example.test/workloads"
MAIN = {
    "sub": "repo:acme/notes:ref:refs/heads/main",
    "repository": "acme/notes",
    "repository_owner": "acme",
    "ref": "refs/heads/main",
    "workflow": "nightly-digest",
    "run_id": 4242,
}
FORK = {"sub": "repo:mallory/notes:pull_request", "repository": "mallory/notes", "ref": "main"}
CI_JOBS = {"deploy-main": MAIN, "fork-pr": FORK}
SIGNER = ServiceAccountSigner()


@dataclass(frozen=True)
class Workloads:
    port: int
    ci_issuer: str

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def mcp_url(self, host: str) -> str:
        return self.origin(host) + "/mcp"

    def ci_token(self, job: str = "deploy-main", audience: str = CI_AUDIENCE) -> str:
        """What the CI job asks its provider for: a JWT for ``audience``."""
        response = httpx.post(
            f"{self.ci_issuer}/token",
            auth=(job, f"{job}-secret"),
            data={"grant_type": "client_credentials", "resource": audience},
            trust_env=False,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def exchange(self, host: str, assertion: str, **form: str) -> httpx.Response:
        data = {"grant_type": JWT_BEARER, "assertion": assertion, **form}
        return httpx.post(self.origin(host) + "/token", data=data, trust_env=False, timeout=10)


def settings(port: int, notes_port: int, ci_issuer: str) -> dict[str, Any]:
    host_a, host_b = f"{HOST_A}:{port}", f"{HOST_B}:{port}"
    ci = {
        "issuer": ci_issuer,  # keys by OpenID discovery
        "audience": CI_AUDIENCE,
        "maxLifetime": "10m",
        "rules": [
            {
                "claims": {"repository": ["acme/notes"], "ref": ["refs/heads/main"]},
                "hosts": [host_a],
                "scopes": [READ],
            }
        ],
    }
    cluster = {
        "issuer": K8S_ISSUER,
        "jwks": SIGNER.jwks(),
        "audience": K8S_AUDIENCE,
        "maxLifetime": "1h",
        "singleUse": False,  # the pod reuses its mounted token until the kubelet rotates it
        # Two issuers: each names its workloads apart (a CI job could be called anything).
        "subjectPrefix": "cluster:",
        "rules": [
            {
                "claims": {
                    "kubernetes.io.namespace": ["batch"],
                    "kubernetes.io.serviceaccount.name": ["notes-digest"],
                },
                "hosts": [host_b],
                "scopes": [READ, WRITE],
            }
        ],
    }
    return {
        "proxy": {
            "hosts": [{"host": name, **host_entry(notes_port)} for name in (host_a, host_b)],
            "trustedHostHeaders": trusted_host_headers("traefik"),
        },
        "server": {"host": LOOPBACK},
        "grants": {"jwtBearer": {"enabled": True, "issuers": [ci, cluster]}},
    }


@pytest.fixture(scope="module")
def workloads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workloads]:
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"node or tests/e2e/oidc/node_modules/oidc-provider is missing: {INSTALL_HINT}")
    workdir: Path = tmp_path_factory.mktemp("workloads")
    with ExitStack() as running:
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        notes_port = running.enter_context(notes_server(workdir))
        gateway = running.enter_context(
            run_gateway(
                "traefik",
                auth_port=sock.getsockname()[1],
                upstream_port=notes_port,
                hosts=[HOST_A, HOST_B],
                workdir=workdir,
            )
        )
        clients = [
            {"client_id": job, "client_secret": f"{job}-secret", "claims": claims}
            for job, claims in CI_JOBS.items()
        ]
        env = {
            "HOST": LOOPBACK,
            "PORT": "0",
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "WORKLOAD_CLIENTS": json.dumps(clients),
        }
        log = workdir / "ci-provider.log"
        provider = running.enter_context(
            start_proc([node, str(OIDC_DIR / "provider.mjs")], log, env=env)
        )
        ci_issuer = ready_line(provider, log, "READY ").split()[1]
        config = Config.model_validate(settings(gateway.port, notes_port, ci_issuer))
        running.enter_context(gatekeeper(config, sock))
        yield Workloads(gateway.port, ci_issuer)


async def call(url: str, token: str, tool: str, **arguments: Any) -> Any:
    """One tool call by the Python SDK with ``token``; the structured result."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def refusal(response: httpx.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body["error_description"]


def mcp_status(url: str, token: str) -> int:
    """What the gateway answers a bare MCP request with ``token`` (401: not good here)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    return httpx.post(url, json=body, headers=headers, trust_env=False, timeout=10).status_code


async def test_a_ci_job_calls_a_tool_with_its_oidc_token(workloads: Workloads) -> None:
    response = workloads.exchange(HOST_A, workloads.ci_token())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == READ and "refresh_token" not in body
    token = body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == MAIN["sub"] and claims["client_id"] == MAIN["sub"]
    assert claims["workload_iss"] == workloads.ci_issuer and claims["gty"] == JWT_BEARER
    url = workloads.mcp_url(HOST_A)
    assert "welcome" in (await call(url, token, "list_notes"))["result"]
    me = await call(url, token, "whoami")
    assert (me["user"], me["scopes"]) == (MAIN["sub"], READ)
    # The rule grants read only: the write is refused at the gateway and never runs.
    with pytest.raises(BaseException):  # noqa: B017 (the SDK's error type is not the point)
        await call(url, token, "add_note", title="from-ci", text="should not exist")
    assert "from-ci" not in (await call(url, token, "list_notes"))["result"]
    # A token for host A is no token for host B.
    assert mcp_status(workloads.mcp_url(HOST_B), token) == 401


def test_a_ci_token_is_used_once_for_its_audience_repository_and_rule(
    workloads: Workloads,
) -> None:
    assertion = workloads.ci_token()
    error, why = refusal(workloads.exchange(HOST_A, assertion, scope=f"{READ} {WRITE}"))
    assert (error, why) == (
        "invalid_scope",
        f"rule 0 of {workloads.ci_issuer} does not grant {WRITE}",
    )
    error, why = refusal(workloads.exchange(HOST_B, assertion, resource=workloads.mcp_url(HOST_B)))
    assert error == "invalid_target" and why.endswith(f"does not grant {workloads.mcp_url(HOST_B)}")
    # Refusals for what was asked leave the JWT usable; the exchange then uses it up.
    assert workloads.exchange(HOST_A, assertion).status_code == 200
    error, why = refusal(workloads.exchange(HOST_A, assertion))
    assert (error, why) == ("invalid_grant", "this JWT was already used (jti replayed)")
    other_audience = workloads.ci_token(audience="https://vault.example.test")
    error, why = refusal(workloads.exchange(HOST_A, other_audience))
    assert (error, why) == ("invalid_grant", "the JWT is not valid: Audience doesn't match")
    error, why = refusal(workloads.exchange(HOST_A, workloads.ci_token("fork-pr")))
    assert (error, why) == (
        "invalid_grant",
        f"no rule grants this workload of {workloads.ci_issuer} anything",
    )


def test_keys_the_ci_issuer_does_not_publish_are_refused(workloads: Workloads) -> None:
    """Signed by someone else under the issuer's name: under its kid, or a kid it does not
    publish (the key set is fetched again for an unknown kid, and still lacks it)."""
    claims = jwt.decode(workloads.ci_token(), options={"verify_signature": False})
    kid = jwt.get_unverified_header(workloads.ci_token())["kid"]
    fresh = {**claims, "jti": "forged-1"}
    error, why = refusal(workloads.exchange(HOST_A, SIGNER.sign(fresh, kid=kid)))
    assert (error, why) == ("invalid_grant", "the JWT is not valid: Signature verification failed")
    error, why = refusal(workloads.exchange(HOST_A, SIGNER.sign({**fresh, "jti": "forged-2"})))
    assert (error, why) == (
        "invalid_grant",
        "the JWT is signed with a key the signer does not publish",
    )


async def test_a_cronjob_calls_tools_with_its_service_account_token(workloads: Workloads) -> None:
    mounted = SIGNER.token(namespace="batch", name="notes-digest", now=time.time())
    first = workloads.exchange(HOST_B, mounted)  # the rule's one host: no resource needed
    assert first.status_code == 200, first.text
    assert first.json()["scope"] == f"{READ} {WRITE}"
    # singleUse: false, as a pod's projected token is read again on every run.
    token = workloads.exchange(HOST_B, mounted).json()["access_token"]
    url = workloads.mcp_url(HOST_B)
    await call(url, token, "add_note", title="digest", text="nightly digest")
    assert "digest" in (await call(url, token, "list_notes"))["result"]
    assert (await call(url, token, "whoami"))["user"] == (
        "cluster:system:serviceaccount:batch:notes-digest"
    )
    assert mcp_status(workloads.mcp_url(HOST_A), token) == 401
    other = SIGNER.token(namespace="batch", name="notes-reader", now=time.time())
    error, why = refusal(workloads.exchange(HOST_B, other))
    assert (error, why) == (
        "invalid_grant",
        f"no rule grants this workload of {K8S_ISSUER} anything",
    )
