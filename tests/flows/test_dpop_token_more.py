"""DPoP at /token beyond the login: what the metadata tells clients, proofs used once across two
processes on one store, the device flow, and token exchange of a bound token."""

from __future__ import annotations

from pathlib import Path

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.tokens.dpop import ALGORITHMS
from tests.dpop_proofs import DpopKey
from tests.flows.device_driver import DEVICE_CODE, DeviceDriver
from tests.flows.dpop_world import (
    ALLOWED,
    OFF,
    REQUIRED,
    DpopWorld,
    basic,
    claims_of,
    dpop_config,
    dpop_world,
    refused,
)
from tests.store.conftest import fernet_key
from tests.support import FakeClock, make_config, running, state_of

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


async def test_metadata_says_which_hosts_take_dpop_tokens() -> None:
    async with dpop_world() as world:
        documents = {}
        for name in (ALLOWED, REQUIRED, OFF):
            headers = {"host": name}
            server = await world.http.get(
                "/.well-known/oauth-authorization-server", headers=headers
            )
            resource = await world.http.get(
                "/.well-known/oauth-protected-resource", headers=headers
            )
            documents[name] = (server.json(), resource.json())
    algorithms = list(ALGORITHMS)
    assert documents[ALLOWED][0]["dpop_signing_alg_values_supported"] == algorithms
    assert documents[ALLOWED][1]["dpop_signing_alg_values_supported"] == algorithms
    assert "dpop_bound_access_tokens_required" not in documents[ALLOWED][1]
    assert documents[REQUIRED][1]["dpop_bound_access_tokens_required"] is True
    assert documents[REQUIRED][1]["dpop_signing_alg_values_supported"] == algorithms
    for document in documents[OFF]:
        assert "dpop_signing_alg_values_supported" not in document
    assert "dpop_bound_access_tokens_required" not in documents[OFF][1]


async def test_the_token_from_token_opens_the_gate_with_its_key_only() -> None:
    """What /token binds is what /authenticate checks."""
    async with dpop_world() as world:
        key = DpopKey()
        token = (await world.login(key))["access_token"]
        url = f"https://{ALLOWED}/mcp"

        async def gate(signer: DpopKey) -> int:
            proof = signer.proof("POST", url, access_token=token, iat=world.clock.now)
            headers = {"host": ALLOWED, "authorization": f"DPoP {token}", "dpop": proof}
            return (await world.http.post("/authenticate/mcp", headers=headers)).status_code

        assert await gate(key) == 200
        assert await gate(DpopKey()) == 401


async def test_without_dpop_hosts_nothing_is_advertised() -> None:
    async with running(make_config()) as (_app, client):
        headers = {"host": "a.example.test"}
        server = await client.get("/.well-known/oauth-authorization-server", headers=headers)
    assert "dpop_signing_alg_values_supported" not in server.json()


async def test_a_proof_used_at_one_process_is_refused_at_another(tmp_path: Path) -> None:
    """Two processes on one sqlite store: the jti is kept in the store, not in either."""
    store = {"url": f"sqlite:///{tmp_path / 'state.db'}", "encryptionKey": fernet_key()}
    config = dpop_config(store=store)
    clock = FakeClock()
    base = f"https://{ALLOWED}"
    async with (
        running(config, clock, base_url=base) as (app1, http1),
        running(config, clock, base_url=base) as (app2, http2),
    ):
        first, second = (
            DpopWorld(app, http, clock, ALLOWED) for app, http in ((app1, http1), (app2, http2))
        )
        key = DpopKey()
        tokens = await first.login(key)
        proof = first.proof(key)
        _client, code, login = await first.code()
        assert (await first.post(first.code_form(code, login), proof)).status_code == 200
        replayed = await second.refresh(tokens, proof)
        assert refused(replayed, "invalid_dpop_proof", "already used")
        # The login made at the first process refreshes at the second, with the key only.
        assert (await second.refresh(tokens, second.proof(key))).status_code == 200


async def test_the_device_flow_binds_the_token_and_the_refresh_token() -> None:
    raw = dpop_config().model_dump(by_alias=True, mode="json")
    raw["grants"] = {"deviceCode": {"enabled": True}}
    async with dpop_world(Config.model_validate(raw)) as world:
        device = DeviceDriver(world.http, ALLOWED)
        client_id = (await device.register_device())["client_id"]
        codes = await device.codes(client_id)
        page = await device.consent_page(codes["user_code"])
        assert (await device.answer_consent(page, "approve")).status_code in (200, 303)
        key = DpopKey()
        form = {
            "grant_type": DEVICE_CODE,
            "device_code": codes["device_code"],
            "client_id": client_id,
        }
        wrong_method = await world.post(form, world.proof(key, claims={"htm": "PUT"}))
        assert refused(wrong_method, "invalid_dpop_proof", "htm")
        polled = await world.post(form, world.proof(key))
        assert polled.status_code == 200, polled.text
        tokens = polled.json() | {"client_id": client_id}
        assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint}
        assert refused(await world.refresh(tokens, None), "invalid_grant", "bound to a DPoP key")


def _exchange_config() -> Config:
    raw = dpop_config().model_dump(by_alias=True, mode="json")
    raw["grants"] = {"tokenExchange": {"enabled": True}}
    return Config.model_validate(raw)


async def _agent(world: DpopWorld) -> str:
    agent = await world.driver.register(
        token_endpoint_auth_method="client_secret_basic", client_name="Agent"
    )
    state_of(world.app).config.grants.token_exchange.actors.append(agent["client_id"])
    return basic(agent["client_id"], agent["client_secret"])


async def test_a_bound_token_is_exchanged_only_with_its_key_and_stays_bound() -> None:
    async with dpop_world(_exchange_config()) as world:
        key = DpopKey()
        user = await world.login(key)
        auth = await _agent(world)
        form = {
            "grant_type": EXCHANGE,
            "subject_token": user["access_token"],
            "subject_token_type": ACCESS,
        }
        stolen = await world.post(form, None, authorization=auth)
        assert refused(stolen, "invalid_grant", "subject_token is DPoP-bound")
        other = await world.post(form, world.proof(DpopKey()), authorization=auth)
        assert refused(other, "invalid_grant", "subject_token is DPoP-bound")
        held = await world.post(form, world.proof(key), authorization=auth)
        assert held.status_code == 200, held.text
        assert held.json()["token_type"] == "DPoP"
        exchanged = claims_of(held.json()["access_token"])
        assert exchanged["cnf"] == {"jkt": key.thumbprint} and "act" in exchanged
        # An unbound token exchanged with a proof comes out bound to the proof's key.
        plain = await world.login(None)
        mine = DpopKey()
        form["subject_token"] = plain["access_token"]
        bound = await world.post(form, world.proof(mine), authorization=auth)
        assert claims_of(bound.json()["access_token"])["cnf"] == {"jkt": mine.thumbprint}
