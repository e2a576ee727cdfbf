"""Loopback test harness: real gateways in front of the auth service and an echo upstream."""

from .gateways import (
    GATEWAY_NAMES,
    IDENTITY_HEADERS,
    TRUSTED_HOST_HEADERS,
    Gateway,
    GatewayError,
    run_gateway,
)
from .ports import free_port, wait_for_port
from .processes import Proc, start_proc
from .upstream import EchoUpstream, echo_upstream

__all__ = [
    "GATEWAY_NAMES",
    "IDENTITY_HEADERS",
    "TRUSTED_HOST_HEADERS",
    "EchoUpstream",
    "Gateway",
    "GatewayError",
    "Proc",
    "echo_upstream",
    "free_port",
    "run_gateway",
    "start_proc",
    "wait_for_port",
]
