"""Loopback test harness: real gateways in front of the auth service and an echo upstream."""

from .configs import GatewayOptions
from .gateways import (
    BODY_FORWARDING_GATEWAYS,
    GATEWAY_NAMES,
    IDENTITY_HEADERS,
    TRUSTED_HOST_HEADERS,
    Gateway,
    GatewayError,
    run_gateway,
    trusted_host_headers,
)
from .ports import free_port, wait_for_port
from .processes import Proc, start_proc
from .upstream import EchoUpstream, echo_upstream

__all__ = [
    "BODY_FORWARDING_GATEWAYS",
    "GATEWAY_NAMES",
    "IDENTITY_HEADERS",
    "TRUSTED_HOST_HEADERS",
    "EchoUpstream",
    "Gateway",
    "GatewayError",
    "GatewayOptions",
    "Proc",
    "echo_upstream",
    "free_port",
    "run_gateway",
    "start_proc",
    "trusted_host_headers",
    "wait_for_port",
]
