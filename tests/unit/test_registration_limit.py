"""The registration limits: one bucket for everybody, one per client address, and which
address a request counts against."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from mcp_gatekeeper.client_address import client_address
from mcp_gatekeeper.oauth.clients.registration_limit import (
    MAX_ADDRESSES,
    RegistrationLimit,
    address_key,
)
from mcp_gatekeeper.oauth.errors import SlowDown
from tests.support import FakeClock


def request(forwarded_for: list[str], peer: str = "10.1.2.3") -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return Request({"type": "http", "headers": headers, "client": (peer, 50000)})


@pytest.mark.parametrize(
    ("forwarded_for", "address"),
    [
        ([], "10.1.2.3"),  # no gateway header: the peer
        (["203.0.113.9"], "203.0.113.9"),
        (["1.1.1.1, 2.2.2.2,203.0.113.9"], "203.0.113.9"),  # what the client put first is not it
        (["1.1.1.1", "203.0.113.9"], "203.0.113.9"),  # the gateway's line comes last
        (["2001:DB8::1"], "2001:db8::1"),
        (["203.0.113.9, not-an-address"], "10.1.2.3"),  # no gateway wrote that: the peer
    ],
)
def test_the_address_is_the_one_the_gateway_appended(
    forwarded_for: list[str], address: str
) -> None:
    assert client_address(request(forwarded_for)) == address


def test_ipv6_clients_count_by_their_64() -> None:
    """One IPv6 subscriber holds a /64: new addresses in it are the same client."""
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("192.0.2.1") == "192.0.2.1"


def test_ipv4_clients_of_a_dual_stack_gateway_each_count_alone() -> None:
    """::ffff:a.b.c.d is one IPv4 client, not a /64 every IPv4 client would share."""
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") != address_key("::ffff:198.51.100.7")


def test_per_address_then_global_with_the_wait() -> None:
    clock = FakeClock()
    limit = RegistrationLimit(per_minute=5, per_address_per_minute=2, clock=clock)
    limit.take("192.0.2.1")
    limit.take("192.0.2.1")
    with pytest.raises(SlowDown, match="this address") as refused:
        limit.take("192.0.2.1")
    assert refused.value.retry_after == 30  # 2 a minute: one more in 30 s
    for address in ("192.0.2.2", "192.0.2.2", "192.0.2.3"):
        limit.take(address)  # refusals above cost nobody's share: 5 in all
    with pytest.raises(SlowDown, match="on this server") as refused:
        limit.take("192.0.2.4")
    assert refused.value.retry_after == 12  # 5 a minute: one more in 12 s
    clock.advance(30)
    limit.take("192.0.2.1")


def test_remembered_addresses_are_bounded() -> None:
    """Past MAX_ADDRESSES the least recently seen is forgotten (it starts full again; only the
    global bucket still counts it), the recent ones are still limited."""
    clock = FakeClock()
    limit = RegistrationLimit(per_minute=1e9, per_address_per_minute=1, clock=clock)
    addresses = [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(MAX_ADDRESSES + 1)]
    for address in addresses:
        limit.take(address)
    limit.take(addresses[0])  # forgotten
    with pytest.raises(SlowDown):
        limit.take(addresses[-1])
