"""The device flow (RFC 8628) in process with the demo provider: a headless command line gets a
token for one MCP host after a person approves its code in a browser; and how each step holds up
against guessing, replay, impatient polling and stolen device codes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.oauth.approvals import approval_key
from mcp_gatekeeper.oauth.records import Approval, AuthorizationRequest, User
from tests.flows.device_driver import DEVICE_CODE, DeviceDriver, device_config
from tests.flows.driver import hidden_inputs
from tests.flows.test_audit_metrics import audit_counts
from tests.support import FakeClock, make_config, running, state_of

A = "a.example.test"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


class World:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app, self.client, self.clock = app, client, clock
        self.driver = DeviceDriver(client)

    async def gate(self, token: str, host: str = A) -> int:
        response = await self.client.get(
            "/authenticate", headers={"host": host, "authorization": f"Bearer {token}"}
        )
        return response.status_code

    async def approved(self, client_id: str) -> dict[str, str]:
        """Codes for ``client_id``, approved in the browser; the device has not polled yet."""
        codes = await self.driver.codes(client_id)
        page = await self.driver.consent_page(codes["user_code"])
        done = await self.driver.answer_consent(page, "approve")
        assert done.status_code == 200 and "return to your device" in done.text
        return codes


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    config = device_config(userCodeAttemptsPerMinute=3)
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        yield World(app, client, clock)


async def test_device_flow_yields_a_token_that_opens_the_gate(world: World) -> None:
    """Codes → pending → the person enters the code, signs in, approves → one token."""
    client = await world.driver.register_device()
    assert "redirect_uris" not in client or client["redirect_uris"] == []
    codes = await world.driver.codes(client["client_id"])
    assert USER_CODE.match(codes["user_code"])
    assert codes["verification_uri"] == f"https://{A}/device"
    assert codes["verification_uri_complete"].endswith("user_code=" + codes["user_code"])
    assert (codes["expires_in"], codes["interval"]) == (600, 5)
    pending = await world.driver.poll(client["client_id"], codes["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    # The complete URI only fills the field in: nothing happens until the button is pressed.
    prefilled = await world.client.get(
        "/device", params={"user_code": codes["user_code"]}, headers={"host": A}
    )
    assert prefilled.status_code == 200 and f'value="{codes["user_code"]}"' in prefilled.text
    assert "frame-ancestors 'none'" in prefilled.headers["content-security-policy"]
    assert prefilled.headers["cache-control"] == "no-store"
    page = await world.driver.consent_page(codes["user_code"].lower().replace("-", " "))
    done = await world.driver.answer_consent(page, "approve")
    assert done.status_code == 200 and "return to your device" in done.text
    world.clock.advance(5)
    tokens = await world.driver.poll(client["client_id"], codes["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "read" and body["refresh_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == f"https://{A}/mcp" and claims["email"] == "demo@example.com"
    assert claims["client_id"] == client["client_id"]
    assert await world.gate(body["access_token"]) == 200
    assert await world.gate(body["access_token"], host="b.example.test") == 401
    world.clock.advance(5)
    again = await world.driver.poll(client["client_id"], codes["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refreshed = await world.driver.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": client["client_id"],
        }
    )
    assert refreshed.status_code == 200, refreshed.text
    counts = await audit_counts(world.client)
    assert counts["device_authorized"] == 1 and counts["token_issued"] == 2


async def test_without_refresh_token_grant_no_refresh_token(world: World) -> None:
    client = await world.driver.register_device(grant_types=[DEVICE_CODE])
    codes = await world.approved(client["client_id"])
    tokens = await world.driver.poll(client["client_id"], codes["device_code"])
    assert tokens.status_code == 200 and "refresh_token" not in tokens.json()


async def test_consent_names_device_client_host_and_code_and_is_never_remembered(
    world: World,
) -> None:
    """Each device sign-in shows the page, naming what a phished person must recognise."""
    client = await world.driver.register_device(client_name="<b>Evil</b> CLI")
    # Even an approval remembered for exactly this request (user, client, host, scopes) is
    # not used for a device sign-in.
    device_request = AuthorizationRequest(
        issuer=f"https://{A}",
        client_id=client["client_id"],
        redirect_uri="",
        state=None,
        code_challenge="",
        resource=f"https://{A}/mcp",
        scopes=("read",),
        device_code_hash="any",
    )
    demo = User(subject="demo", email="demo@example.com")
    remembered = Approval(subject="demo", email="demo@example.com", scopes=("read",))
    approvals = state_of(world.app).records.approvals
    await approvals.put(approval_key(device_request, demo), remembered, 3600)
    for _ in range(2):
        codes = await world.driver.codes(client["client_id"])
        page = await world.driver.consent_page(codes["user_code"])
        assert "device sign-in" in page.text and codes["user_code"] in page.text
        assert "&lt;b&gt;Evil&lt;/b&gt; CLI" in page.text and "<b>Evil</b>" not in page.text
        assert f"<b>{A}</b>" in page.text and "send you back" not in page.text
        assert "runs on your own computer" not in page.text
        done = await world.driver.answer_consent(page, "approve")
        assert done.status_code == 200


async def test_denying_gives_the_device_access_denied(world: World) -> None:
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    page = await world.driver.consent_page(codes["user_code"])
    done = await world.driver.answer_consent(page, "deny")
    assert done.status_code == 200 and "denied" in done.text
    denied = await world.driver.poll(client["client_id"], codes["device_code"])
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"
    world.clock.advance(5)
    gone = await world.driver.poll(client["client_id"], codes["device_code"])
    assert gone.json()["error"] == "invalid_grant"
    assert (await audit_counts(world.client))["device_denied"] == 1


async def test_a_user_code_works_once(world: World) -> None:
    """After the answer, the same code is just a wrong code (and another approval cannot land)."""
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    first = await world.driver.consent_page(codes["user_code"])
    second = await world.driver.consent_page(codes["user_code"])
    assert (await world.driver.answer_consent(first, "approve")).status_code == 200
    late = await world.driver.answer_consent(second, "deny")
    assert late.status_code == 400 and "already answered" in late.text
    again = await world.driver.enter(codes["user_code"])
    assert again.status_code == 400 and "not valid" in again.text
    tokens = await world.driver.poll(client["client_id"], codes["device_code"])
    assert tokens.status_code == 200


async def test_one_code_starts_a_bounded_number_of_logins(world: World) -> None:
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    for _ in range(3):
        assert (await world.driver.enter(codes["user_code"])).status_code == 303
    refused = await world.driver.enter(codes["user_code"])
    assert refused.status_code == 400 and "too many times" in refused.text


async def test_guessing_user_codes_is_limited_per_address(world: World) -> None:
    """Three wrong codes a minute from one address; then even a right code waits (429)."""
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    guesser = {"x-forwarded-for": "203.0.113.7"}
    for guess in ("BCDF-GHJK", "not a code", "ZZZZ-ZZZZ"):
        wrong = await world.driver.enter(guess, **guesser)
        assert wrong.status_code == 400 and "not valid" in wrong.text
    limited = await world.driver.enter(codes["user_code"], **guesser)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Too many" in limited.text
    # Another address is not held back, and a right code costs nothing.
    other = {"x-forwarded-for": "198.51.100.1"}
    for _ in range(3):
        assert (await world.driver.enter(codes["user_code"], **other)).status_code == 303
    assert (await world.driver.enter("BCDF-GHJK", **other)).status_code == 400
    world.clock.advance(20)
    assert (await world.driver.enter("BCDF-GHJK", **guesser)).status_code == 400
    assert (await world.driver.enter("BCDF-GHJK", **guesser)).status_code == 429


async def test_polling_too_fast_slows_the_device_down(world: World) -> None:
    """Each slow_down adds 5 s to the interval of that device code (RFC 8628 §3.5)."""
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    client_id, device_code = client["client_id"], codes["device_code"]

    async def poll_after(seconds: float) -> str:
        world.clock.advance(seconds)
        response = await world.driver.poll(client_id, device_code)
        assert response.status_code == 400, response.text
        error: str = response.json()["error"]
        return error

    assert await poll_after(0) == "authorization_pending"
    assert await poll_after(1) == "slow_down"  # interval now 10 s
    assert await poll_after(6) == "slow_down"  # 6 < 10: interval now 15 s
    assert await poll_after(14) == "slow_down"  # 14 < 15: interval now 20 s
    assert await poll_after(20) == "authorization_pending"
    assert await poll_after(20) == "authorization_pending"


async def test_an_expired_device_code_gives_expired_token(world: World) -> None:
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    world.clock.advance(601)
    expired = await world.driver.poll(client["client_id"], codes["device_code"])
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token"
    late = await world.driver.enter(codes["user_code"])
    assert late.status_code == 400 and "not valid" in late.text


async def test_a_device_code_is_bound_to_its_client(world: World) -> None:
    owner = await world.driver.register_device()
    thief = await world.driver.register_device()
    codes = await world.approved(owner["client_id"])
    stolen = await world.driver.poll(thief["client_id"], codes["device_code"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    unknown = await world.driver.poll(owner["client_id"], "x" * 43)
    assert unknown.json()["error"] == "invalid_grant"
    # The thief's attempt used nothing up: the owner still gets its token.
    assert (await world.driver.poll(owner["client_id"], codes["device_code"])).status_code == 200


async def test_polling_floods_do_not_grow_state(world: World) -> None:
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    store = state_of(world.app).store
    namespaces = ("device-grants", "user-codes", "user-code-guesses", "logins", "issued-tokens")

    async def entries() -> int:
        return sum([len(await store.items(namespace)) for namespace in namespaces])

    before = await entries()
    for _ in range(200):
        response = await world.driver.poll(client["client_id"], codes["device_code"])
        assert response.json()["error"] in ("authorization_pending", "slow_down")
    assert await entries() == before == 2


async def test_the_code_form_is_bound_to_the_browser(world: World) -> None:
    client = await world.driver.register_device()
    codes = await world.driver.codes(client["client_id"])
    page = await world.client.get("/device", headers={"host": A})
    form = {**hidden_inputs(page.text), "user_code": codes["user_code"]}
    world.client.cookies.clear()
    forged = await world.client.post("/device", data=form, headers={"host": A})
    assert forged.status_code == 400 and "CSRF" in forged.text


async def test_device_authorization_checks_client_and_resource(world: World) -> None:
    browser_client = await world.driver.register()
    refused = await world.driver.start(browser_client["client_id"])
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    unknown = await world.driver.start("nobody")
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    client = await world.driver.register_device()
    other = await world.driver.start(client["client_id"], resource="https://elsewhere.test/mcp")
    assert other.status_code == 400 and other.json()["error"] == "invalid_target"
    # One issuer per host: b's resource is not this issuer's.
    cross = await world.driver.start(client["client_id"], resource="https://b.example.test/mcp")
    assert cross.json()["error"] == "invalid_target"
    narrow = await world.driver.codes(client["client_id"], scope="unknown")
    page = await world.driver.consent_page(narrow["user_code"])
    await world.driver.answer_consent(page, "approve", scopes=[])
    tokens = await world.driver.poll(client["client_id"], narrow["device_code"])
    assert tokens.status_code == 200 and tokens.json()["scope"] == ""


async def test_a_confidential_client_authenticates(world: World) -> None:
    client = await world.driver.register_device(token_endpoint_auth_method="client_secret_basic")
    unauthenticated = await world.driver.start(client["client_id"])
    assert unauthenticated.status_code == 401
    response = await world.client.post(
        "/device_authorization",
        data={"scope": "read"},
        auth=(client["client_id"], client["client_secret"]),
        headers={"host": A},
    )
    assert response.status_code == 200, response.text
    metadata = (await world.client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["device_authorization_endpoint"] == f"https://{A}/device_authorization"
    assert DEVICE_CODE in metadata["grant_types_supported"]


async def test_everything_is_off_by_default() -> None:
    async with running(make_config(), FakeClock(), base_url=f"https://{A}") as (_app, client):
        driver = DeviceDriver(client)
        registration = await client.post(
            "/register",
            json={"token_endpoint_auth_method": "none", "grant_types": [DEVICE_CODE]},
            headers={"host": A},
        )
        assert registration.status_code == 400
        assert "grant_types must include authorization_code" in registration.text
        both = await client.post(
            "/register",
            json={
                "redirect_uris": ["http://127.0.0.1:3030/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", DEVICE_CODE],
            },
            headers={"host": A},
        )
        assert both.status_code == 400 and "unsupported grant_types" in both.text
        start = await driver.start("anyone")
        assert start.status_code == 400 and start.json()["error"] == "unsupported_grant_type"
        page = await client.get("/device", headers={"host": A})
        assert page.status_code == 400 and "not enabled" in page.text
        metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
        assert "device_authorization_endpoint" not in metadata


async def test_device_only_registration_rules(world: World) -> None:
    with_redirect = await world.client.post(
        "/register",
        json={
            "redirect_uris": ["http://127.0.0.1:3030/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": [DEVICE_CODE],
        },
        headers={"host": A},
    )
    assert with_redirect.status_code == 400 and "no redirect_uris" in with_redirect.text
    both = await world.driver.register(grant_types=["authorization_code", DEVICE_CODE])
    assert both["grant_types"] == ["authorization_code", DEVICE_CODE]


async def test_starting_device_authorizations_is_limited_per_address(world: World) -> None:
    """Ten a minute from one address (requestsPerMinutePerAddress); then 429 slow_down."""
    client_id = (await world.driver.register_device())["client_id"]
    flooder = {"x-forwarded-for": "203.0.113.9", "host": A}
    form = {"client_id": client_id}
    for _ in range(10):
        started = await world.client.post("/device_authorization", data=form, headers=flooder)
        assert started.status_code == 200, started.text
    limited = await world.client.post("/device_authorization", data=form, headers=flooder)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.json() == {
        "error": "slow_down",
        "error_description": "Too many device authorizations from this address "
        "(grants.deviceCode.requestsPerMinutePerAddress: 10 a minute)",
    }
    other = {"x-forwarded-for": "198.51.100.9", "host": A}
    assert (await world.client.post("/device_authorization", data=form, headers=other)).is_success
    world.clock.advance(6)  # one request's worth refilled
    again = await world.client.post("/device_authorization", data=form, headers=flooder)
    assert again.status_code == 200


async def test_a_client_holds_a_bounded_number_of_waiting_codes() -> None:
    clock = FakeClock()
    config = device_config(maxPendingPerClient=2)
    async with running(config, clock, base_url=f"https://{A}") as (_app, client):
        driver = DeviceDriver(client)
        client_id = (await driver.register_device())["client_id"]

        async def start(address: str) -> httpx.Response:
            headers = {"x-forwarded-for": address, "host": A}
            form = {"client_id": client_id}
            return await client.post("/device_authorization", data=form, headers=headers)

        assert (await start("203.0.113.1")).status_code == 200
        clock.advance(60)
        assert (await start("203.0.113.2")).status_code == 200
        full = await start("203.0.113.3")  # another address changes nothing
        assert full.status_code == 429 and full.json()["error"] == "slow_down"
        assert "2 device authorizations waiting" in full.json()["error_description"]
        assert full.headers["retry-after"] == "540"  # when the first code expires
        other = (await driver.register_device())["client_id"]
        assert (await driver.codes(other))["user_code"]
        clock.advance(541)
        assert (await start("203.0.113.3")).status_code == 200


async def test_a_device_code_is_redeemed_only_at_its_own_authorization_server(
    world: World,
) -> None:
    client_id = (await world.driver.register_device())["client_id"]
    codes = await world.approved(client_id)
    form = {"grant_type": DEVICE_CODE, "device_code": codes["device_code"], "client_id": client_id}
    elsewhere = await world.client.post("/token", data=form, headers={"host": "b.example.test"})
    assert elsewhere.status_code == 400 and elsewhere.json() == {
        "error": "invalid_grant",
        "error_description": "The device code was issued by https://a.example.test, "
        "not https://b.example.test",
    }
    assert (await world.driver.poll(client_id, codes["device_code"])).status_code == 200
