"""proxy.hosts[].rules: compiled at load, deny overrides allow, errors deny, decisions cached;
checked at /authenticate with a real MCP server behind the host, and on the consent page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcp_gatekeeper.config import Config, ScopeConfig
from mcp_gatekeeper.config.loader import ConfigError, load_config
from mcp_gatekeeper.providers.copied_claims import MAX_CLAIM_BYTES, copy_claims
from mcp_gatekeeper.rules import Call, HostRules
from mcp_gatekeeper.rules.offered import offered_scopes
from tests.mcp_servers import RunningServer, Variant, serve_mcp
from tests.support import config_dict, mint, running
from tests.unit.test_tool_authorization import scopes_learnt

A = "a.example.test"
ROLES = "https://mcp-demo/roles"
#: agentgateway's example, verbatim.
AGENTGATEWAY = (
    'mcp.tool.name == "delete_file" && jwt.scope.contains("files:delete") && '
    'jwt["https://mcp-demo/roles"].contains("admin")'
)
RULES = [
    {
        "deny": 'mcp.tool.name == "read_rows" && mcp.tool.arguments.table == "salaries"',
        "message": "salaries are off limits",
    },
    {"allow": AGENTGATEWAY, "message": "only admins may delete files"},
    {"allow": 'mcp.tool.name != "delete_file"', "message": "only admins may delete files"},
]
SCOPES = [
    {"name": "files:read", "tools": ["read_rows"]},
    {"name": "files:delete", "tools": ["delete_file"]},
]
REQUEST = {"host": A, "method": "POST"}


def rules(*raw: dict[str, str]) -> HostRules:
    return HostRules(
        [
            ("deny", r["deny"], r["message"])
            if "deny" in r
            else ("allow", r["allow"], r["message"])
            for r in raw
        ]
    )


def call(tool: str, **arguments: Any) -> Call:
    return Call("tools/call", tool, arguments)


def admin(scope: str = "files:read files:delete") -> dict[str, Any]:
    return {"sub": "ann", "scope": scope, ROLES: ["admin"]}


# --- configuration --------------------------------------------------------------------------


def problems(tmp_path: Path, host: dict[str, Any]) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config_dict(hosts=[{"host": A, **host}])), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return [str(problem) for problem in caught.value.problems]


def test_compile_errors_name_the_field(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "rules": [
                {"allow": AGENTGATEWAY, "message": "fine"},
                {"deny": "mcp.tool.name ==", "message": "syntax"},
                {"allow": 'jwt.scope > 1 + "a"', "message": "types"},
                {"allow": "request.host", "message": "not a boolean"},
                {"deny": "nosuch == 1", "message": "unknown variable"},
                {"allow": "true", "deny": "false", "message": "both"},
            ]
        },
    )
    assert found[0].startswith("proxy.hosts[0].rules[1].deny: CEL: at 1:17: Syntax error")
    assert found[1].startswith("proxy.hosts[0].rules[2].allow: CEL: at 1:15: found no matching")
    assert (
        found[2] == "proxy.hosts[0].rules[3].allow: CEL: must be a boolean expression, not string"
    )
    assert found[3].startswith("proxy.hosts[0].rules[4].deny: CEL: at 1:1: undeclared reference")
    assert found[4] == "proxy.hosts[0].rules[5]: a rule has exactly one of allow and deny"
    assert len(found) == 5


def test_copy_claims_refuses_our_own_claims(tmp_path: Path) -> None:
    raw = config_dict(hosts=[{"host": A}])
    raw["provider"] = {
        "name": "oidc",
        "issuerURL": "https://idp.example.test",
        "clientID": "c",
        "clientSecret": "s",
        "copyClaims": [ROLES, "scope"],
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert [str(p) for p in caught.value.problems] == [
        "provider.copyClaims: scope: written by mcp-gatekeeper itself, never copied"
    ]


def test_copied_claims_are_bounded_whole() -> None:
    """An oversized claim is left out, never cut (a shortened list could hide a denied role)."""
    idp = {ROLES: ["admin"], "big": ["x" * MAX_CLAIM_BYTES], "absent_elsewhere": 1}
    assert copy_claims(idp, [ROLES, "big", "missing"]) == {ROLES: ["admin"]}


# --- decisions ------------------------------------------------------------------------------


def test_agentgateway_example_verbatim() -> None:
    host = rules(*RULES)
    assert host.refusal("t1", admin(), [call("delete_file")], REQUEST) is None
    refused = host.refusal("t2", admin("files:read"), [call("delete_file")], REQUEST)
    assert refused is not None and refused.message == "only admins may delete files"
    user = {"sub": "bob", "scope": "files:delete", ROLES: ["user"]}
    assert host.refusal("t3", user, [call("delete_file")], REQUEST) is not None
    assert host.refusal("t3", user, [call("read_rows", table="orders")], REQUEST) is None


def test_deny_overrides_allow_and_reads_arguments() -> None:
    host = rules(*RULES)
    refused = host.refusal("t", admin(), [call("read_rows", table="salaries")], REQUEST)
    assert refused is not None and (refused.message, refused.index) == (
        "salaries are off limits",
        0,
    )
    # In a batch, one refused call refuses the request.
    batch = [call("read_rows", table="orders"), call("read_rows", table="salaries")]
    assert host.refusal("t", admin(), batch, REQUEST) is not None


def test_an_evaluation_error_never_allows() -> None:
    """A claim the token lacks: a failing deny refuses, a failing allow allows nothing."""
    failing_deny = rules({"deny": 'jwt.department == "contractors"', "message": "no contractors"})
    refused = failing_deny.refusal("t", {"sub": "x"}, [call("read_rows")], REQUEST)
    assert refused is not None and refused.message == "no contractors"
    failing_allow = rules({"allow": '"admin" in jwt.roles', "message": "admins only"})
    assert failing_allow.refusal("t", {"sub": "x"}, [call("x")], REQUEST) is not None
    assert failing_allow.refusal("u", {"roles": ["admin"]}, [call("x")], REQUEST) is None


def test_arguments_unseen_are_not_guessed() -> None:
    """Headers name the tool but not its arguments: a rule on arguments cannot clear it."""
    host = rules(*RULES)
    unseen = Call("tools/call", "read_rows", None)
    assert host.refusal("t", admin(), [unseen], REQUEST) is not None


def test_plumbing_is_never_held_to_rules() -> None:
    host = rules({"allow": "false", "message": "nothing"})
    plumbing = [Call("initialize"), Call("server/discover"), Call("tools/list")]
    plumbing.append(Call("notifications/initialized"))
    assert host.refusal("t", {}, plumbing, REQUEST) is None
    assert host.refusal("t", {}, [Call("prompts/get")], REQUEST) is not None


def test_decisions_are_cached_per_token_and_call() -> None:
    host = rules(RULES[0], {"allow": f'"admin" in jwt["{ROLES}"]', "message": "admins only"})
    assert host.refusal("t", admin(), [call("read_rows", table="orders")], REQUEST) is None
    assert host.cached_decisions == 1
    # Same token, same call: the cached answer, not an evaluation (claims are fixed per jti,
    # so the cache may ignore them: these would be refused).
    assert host.refusal("t", {}, [call("read_rows", table="orders")], REQUEST) is None
    assert host.cached_decisions == 1
    # Other arguments, another token: decided afresh.
    assert host.refusal("t", admin(), [call("read_rows", table="salaries")], REQUEST) is not None
    assert host.refusal("u", {}, [call("read_rows", table="orders")], REQUEST) is not None
    assert host.cached_decisions == 3


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mcp_gatekeeper.rules.engine.MAX_CACHED_DECISIONS", 5)
    host = rules(*RULES)
    for n in range(20):
        host.refusal(f"t{n}", admin(), [call("read_rows", table="orders")], REQUEST)
    assert host.cached_decisions == 5


def test_consent_hides_only_scopes_no_call_could_use() -> None:
    config = Config.model_validate(
        config_dict(hosts=[{"host": A, "scopes": SCOPES, "rules": RULES}])
    ).proxy.hosts[0]
    scopes = [ScopeConfig.model_validate(scope) for scope in SCOPES]
    offered = offered_scopes(config, {"sub": "bob", ROLES: ["user"]}, scopes)
    assert [scope.name for scope in offered] == ["files:read"]  # read_rows: arguments unknown
    offered = offered_scopes(config, {"sub": "ann", ROLES: ["admin"]}, scopes)
    assert [scope.name for scope in offered] == ["files:read", "files:delete"]


# --- at /authenticate, with a real MCP server ----------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_mcp(
        Variant(page_meta=({"scopes": SCOPES},), tools=("read_rows", "delete_file"))
    ) as s:
        yield s


@pytest.fixture
async def gate(server: RunningServer) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    host = {"host": A, "scopes": SCOPES, "endpoint": server.url, "rules": RULES}
    async with running(Config.model_validate(config_dict(hosts=[host]))) as (app, client):
        await scopes_learnt(client)
        yield app, client


async def ask(gate: tuple[Any, httpx.AsyncClient], roles: list[str], body: Any) -> httpx.Response:
    app, client = gate
    token = mint(app, A, scopes=("files:read", "files:delete"), extra_claims={ROLES: roles})
    headers = {"host": A, "authorization": f"Bearer {token}"}
    return await client.post("/authenticate/mcp", headers=headers, content=json.dumps(body))


def rpc(tool: str, **arguments: Any) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


async def test_authenticate_refuses_with_the_rule_message(gate: Any) -> None:
    assert (await ask(gate, ["admin"], rpc("delete_file", path="/x"))).status_code == 200
    refused = await ask(gate, ["user"], rpc("delete_file", path="/x"))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "forbidden",
        "error_description": "only admins may delete files",
    }
    salaries = await ask(gate, ["admin"], rpc("read_rows", table="salaries"))
    assert salaries.json()["error_description"] == "salaries are off limits"
    assert (await ask(gate, ["user"], rpc("read_rows", table="orders"))).status_code == 200


async def test_a_post_showing_nothing_is_refused_on_a_host_with_rules(gate: Any) -> None:
    app, client = gate
    token = mint(app, A, scopes=("files:read", "files:delete"))
    headers = {"host": A, "authorization": f"Bearer {token}", "content-length": "0"}
    response = await client.post("/authenticate/mcp", headers=headers)
    assert response.status_code == 403
    assert "rules need to see" in response.json()["error_description"]
