"""``mcp-gatekeeper probe URL``: walk an MCP URL as an MCP client would, through the gateway,
and say what is wrong with the wiring (routes, headers, metadata) and how to fix it."""

from __future__ import annotations

import httpx

from . import discovery, resource, routed_host
from .report import Check, Outcome, Report

__all__ = ["Check", "Outcome", "Report", "probe"]


async def probe(
    url: str,
    *,
    token: str | None = None,
    verify: bool | str = True,
    timeout: float = 10.0,
) -> Report:
    """Every check that can run; each needs what the previous ones found."""
    report = Report(url=url)
    async with httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False) as client:
        try:
            await _walk(report, client, url, token, verify=verify, timeout=timeout)
        except httpx.HTTPError as exc:
            request = exc.request.url if isinstance(exc, httpx.RequestError) else "a request"
            report.add("connection", Outcome.FAIL, f"{request}: {exc!r}")
            report.stopped = "a request got no answer"
    return report


async def _walk(
    report: Report,
    client: httpx.AsyncClient,
    url: str,
    token: str | None,
    *,
    verify: bool | str,
    timeout: float,
) -> None:
    metadata_url = await resource.challenge(report, client, url)
    if metadata_url is not None:
        await routed_host.check(report, url, metadata_url, verify=verify, timeout=timeout)
    if token is not None:
        await resource.with_token(report, client, url, token)
    if metadata_url is None:
        report.stopped = "discovery starts from the challenge's resource_metadata"
        return
    issuer = await discovery.resource_metadata(report, client, url, metadata_url)
    if issuer is None:
        report.stopped = "the protected-resource metadata names the authorization server"
        return
    metadata = await discovery.authorization_server(report, client, issuer)
    if metadata is None:
        report.stopped = "the authorization server's metadata names its endpoints"
        return
    await discovery.jwks(report, client, metadata)
    await discovery.endpoints(report, client, metadata)
