"""The audit stream keeps to its documented schema (``ops/audit_schema.json``): every event the
code can raise is in it with the fields its call site passes, and what a real login, refresh,
replay, revocation and refused request write validates against it."""

from __future__ import annotations

import ast
from pathlib import Path

import jsonschema

from tests.audit_lines import audit_lines, audit_schema, schema_errors
from tests.flows.driver import Driver
from tests.support import make_config, mint, running

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "mcp_gatekeeper"
#: The one place an event name is passed on rather than written: the rate-limited deny stream.
FORWARDER = PACKAGE / "ops" / "audit.py"
A = "a.example.test"


def _is_audit_call(node: ast.Call) -> bool:
    """``audit(...)`` and the deny stream's ``deny_audit(...)`` / ``self._deny_audit(...)``."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return name == "audit" or name.endswith("_audit")


def audit_call_sites() -> list[tuple[str, str | None, set[str]]]:
    """(where, event name or None when not a literal, the keyword names passed)."""
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _is_audit_call(node) and node.args:
                first = node.args[0]
                event = first.value if isinstance(first, ast.Constant) else None
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                keywords = {keyword.arg for keyword in node.keywords if keyword.arg is not None}
                sites.append((where, event if isinstance(event, str) else None, keywords))
    return sites


def test_the_schema_is_a_valid_json_schema_shipped_in_the_package() -> None:
    schema = audit_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]["event"]["enum"]) == set(schema["$defs"])


def test_every_event_the_code_raises_is_documented_with_its_fields() -> None:
    schema = audit_schema()
    documented = schema["$defs"]
    sites = audit_call_sites()
    assert len(sites) > 20, "the scan finds the call sites"
    for where, event, keywords in sites:
        if event is None:
            assert where.startswith("ops/audit.py"), f"{where}: name the event with a literal"
            continue
        assert event in documented, f"{where}: {event!r} is not in ops/audit_schema.json"
        undocumented = keywords - set(documented[event]["properties"])
        assert not undocumented, f"{where}: {event} fields {undocumented} not in the schema"
    raised = {event for _, event, _ in sites if event is not None}
    assert set(documented) - raised == set(), "events in the schema that nothing raises"


def test_a_field_of_the_wrong_type_or_unknown_fails_the_schema() -> None:
    """The schema is strict enough to catch drift (it would not, were everything optional)."""
    line = {
        "time": "2026-01-01T00:00:00.000Z",
        "level": "info",
        "logger": "mcp_gatekeeper.audit",
        "message": "key_generated",
        "event": "key_generated",
        "kid": "k1",
        "reason": "rotation",
    }
    assert schema_errors(line) == []
    assert schema_errors({**line, "kid": 7}) != []
    assert schema_errors({**line, "token": "eyJ..."}) != []
    assert schema_errors({**line, "event": "made_up"}) != []
    assert schema_errors({**line, "trace_id": "not-hex"}) != []


async def test_what_a_login_and_its_tokens_write_validates() -> None:
    async with running(make_config(), base_url=f"https://{A}") as (app, client):
        driver = Driver(client)
        with audit_lines() as lines:
            client_id = (await driver.register())["client_id"]
            code, login = await driver.code_for(client_id)
            tokens = (await driver.exchange(code, login)).json()
            form = {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
            }
            refreshed = (await driver.token(form)).json()
            assert (await driver.token(form)).json()["error"] == "invalid_grant"  # replayed
            revoke = {"token": refreshed["access_token"], "client_id": client_id}
            assert (await client.post("/revoke", data=revoke)).status_code == 200
            token = mint(app, A, scopes=())
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get"}}
            headers = {"host": A, "authorization": f"Bearer {token}"}
            denied = await client.post("/authenticate/mcp", headers=headers, json=call)
            assert denied.status_code == 403
            bad = await client.get(
                "/authenticate", headers={"host": A, "authorization": "Bearer x"}
            )
            assert bad.status_code == 401
    events = [line["event"] for line in lines]
    for expected in (
        "client_registered",
        "login_allowed",
        "consent_given",
        "token_issued",
        "token_refreshed",
        "replay_detected",
        "grant_revoked",
        "token_revoked",
        "request_denied",
    ):
        assert expected in events, events
    for line in lines:
        assert schema_errors(line) == [], line
