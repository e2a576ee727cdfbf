"""``create_app(config)``: wires the long-lived objects, the routes and the error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
from fastapi import FastAPI

from . import __version__
from .admin import api as admin_api
from .asgi import GatekeeperApp, sending
from .config import Config, redacted
from .forward_auth import build_authenticator
from .forward_auth.credentials import upstream_answers
from .forward_auth.rate_limit_sync import build_rate_limits
from .hosts import HostRegistry
from .keys import KeyManager, SigningKey, generate_signing_key
from .metadata import authorization_server, jwks, protected_resource
from .oauth.assertions import UsedAssertions
from .oauth.clients.machines import MachineClients
from .oauth.clients.metadata_documents import MetadataDocuments
from .oauth.clients.registry import ClientRegistry
from .oauth.endpoints import ROUTERS as OAUTH_ROUTERS
from .oauth.enterprise import EnterpriseIssuers
from .oauth.record_stores import OAuthRecords
from .oauth.refresh_limit import RefreshLimit
from .oauth.sealed import RecordCodec
from .oauth.workloads import WorkloadIssuers
from .ops import health
from .ops.audit import RateLimitedAudit, audit, event_counter
from .ops.metrics import Metrics
from .ops.middleware import ImmediateAnswers, ObservabilityMiddleware
from .ops.store_status import install_store_status
from .ops.tracing import Tracer, build_tracer
from .paths import EXACT_ROUTES, PREFIX_ROUTES
from .providers import IdentityProvider
from .providers.registry import build_provider
from .responses import install_error_handlers
from .scopes.catalog import ScopeCatalog, service_token
from .services import Services
from .store import Store, StoreUnavailable
from .store.factory import encryption_for, open_store
from .store.health import MonitoredStore
from .tokens import RevocationList
from .tokens.dpop import ProofVerifier
from .tokens.dpop_nonce import DpopNonces
from .tokens.revocation_sync import RevocationSync

log = logging.getLogger("mcp_gatekeeper")


def create_app(
    config: Config,
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    generate_key: Callable[[float], SigningKey] = generate_signing_key,
    provider: IdentityProvider | None = None,
    tracer: Tracer | None = None,
) -> FastAPI:
    # Every store operation reports to the monitor: /readyz and the store_up gauge read it.
    store = MonitoredStore(store if store is not None else open_store(config.store, clock))
    metrics = Metrics()
    hosts = HostRegistry(config)
    revocations = RevocationList(clock, clock_skew=config.tokens.clock_skew.total_seconds())
    poll_interval = config.store.poll_interval
    revocation_sync = (
        None
        if store.process_local
        else RevocationSync(
            store, revocations, poll_interval=poll_interval.total_seconds(), clock=clock
        )
    )

    def key_generated(key: SigningKey, reason: str) -> None:
        metrics.key_rotations.labels(reason=reason).inc()
        audit("key_generated", kid=key.kid, reason=reason)

    encryption = encryption_for(config.store)
    keys = KeyManager(
        store,
        rotation_interval=config.tokens.key_rotation_interval,
        token_lifetime=config.tokens.access_token_ttl + config.tokens.clock_skew,
        clock=clock,
        generate=generate_key,
        on_new_key=key_generated,
        encryption=encryption,
        poll_interval=poll_interval,
    )
    # None unless tracing.endpoint is set: then nothing of OpenTelemetry is even imported.
    # ``tracer`` replaces the one the configuration would build (tests export in memory).
    tracer = tracer if tracer is not None else build_tracer(config.tracing)
    deny_audit = RateLimitedAudit(
        config.server.deny_log_rate, on_suppressed=metrics.deny_logs_suppressed.inc
    )
    # One client for every call to the identity provider and the MCP servers: bounded waits.
    upstream_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
    catalog = ScopeCatalog(
        upstream_http,
        store=store,
        token_source=lambda host: service_token(
            keys.ring, host, scopes=catalog.known(host).names, now=clock()
        ),
        clock=clock,
    )
    by_name = {host.host: host for host in hosts.hosts}
    metrics.gauge_per_host(
        "mcp_gatekeeper_host_scopes_known",
        "1 once the host's scopes are known (from its MCP server or the store); while 0, its "
        "tool calls are refused and no token is issued for it",
        by_name,
        lambda name: float(catalog.known(by_name[name]).available),
    )
    authenticator = build_authenticator(
        config, hosts, keys, revocations, metrics, deny_audit, catalog, clock
    )
    # proxy.hosts[].rateLimits: buckets in memory, shared through the store every second.
    bucket_sync = build_rate_limits(config, hosts, metrics, store, clock)
    authenticator.limits = bucket_sync.limiter if bucket_sync is not None else None
    documents = (
        MetadataDocuments(config.clients.metadata_documents, clock=clock)
        if config.clients.metadata_documents.enabled
        else None
    )
    records = OAuthRecords.open(store, RecordCodec(encryption))
    services = Services(
        config=config,
        hosts=hosts,
        store=store,
        keys=keys,
        metrics=metrics,
        clients=ClientRegistry(
            store,
            config.clients,
            config.proxy.allowed_redirect_urls,
            documents,
            clock,
            device_flow=config.grants.device_code.enabled,
        ),
        provider=provider or build_provider(config.provider, upstream_http, clock),
        revocations=revocations,
        clock=clock,
        scopes=catalog,
        records=records,
        refresh_limit=RefreshLimit(clock, config.tokens.refreshes_per_minute),
        http=upstream_http,
        used_assertions=UsedAssertions(store),
        dpop_proofs=ProofVerifier(
            max_age=config.tokens.dpop_proof_max_age.total_seconds(),
            leeway=config.tokens.clock_skew.total_seconds(),
        ),
        dpop_nonces=DpopNonces(lambda: keys.ring),
        machines=MachineClients(
            config.grants.client_credentials, records.machine_clients, upstream_http, clock
        ),
        workloads=WorkloadIssuers(config.grants.jwt_bearer, upstream_http),
        enterprise=EnterpriseIssuers(config.grants.enterprise, upstream_http),
    )
    # Per-user credentials for the APIs MCP servers call (proxy.hosts[].upstream).
    authenticator.upstream = upstream_answers(services, metrics, deny_audit)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "starting mcp-gatekeeper", extra={"version": __version__, "config": redacted(config)}
        )
        if store.process_local:
            log.warning(
                "state is in this process's memory: run exactly one worker and one replica "
                "(several need the shared store)"
            )
        # The background work counts its audit events (key generation) in this app's metrics.
        background_context = contextvars.copy_context()
        background_context.run(event_counter.set, metrics.count_event)

        def spawn(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
            return asyncio.create_task(work, name=name, context=background_context)

        try:
            await spawn(keys.start(), "key-bootstrap")
        except StoreUnavailable as exc:
            # Not ready (no key) until the store answers; keys.run() keeps trying.
            log.warning("no key ring yet, the store is unavailable: %s", exc)
        # Before any discovery: a server that is down must not leave its tools unguarded.
        await catalog.load(hosts.hosts)
        background = [
            spawn(keys.run(), "key-rotation"),
            *(
                [spawn(revocation_sync.run(), "revocation-sync")]
                if revocation_sync is not None
                else []
            ),
            *([spawn(metrics.refresh_forever(), "metrics-gauges")] if metrics.multiprocess else []),
            spawn(catalog.run(hosts.hosts), "scope-discovery"),
            *([spawn(bucket_sync.run(), "rate-limit-sync")] if bucket_sync is not None else []),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await catalog.aclose()
            await upstream_http.aclose()
            if documents is not None:
                await documents.aclose()
            await store.close()
            if tracer is not None:
                await asyncio.to_thread(tracer.shutdown)  # the last spans, off the event loop

    app = GatekeeperApp(
        title="mcp-gatekeeper",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No OpenTelemetry here (Prometheus metrics instead): nothing to check per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    # Disconnecting a connected account drops this replica's cached credentials at once.
    app.state.upstream_credentials = authenticator.upstream.cache
    app.hot_path = ObservabilityMiddleware(
        sending(authenticator.answer), metrics, EXACT_ROUTES, PREFIX_ROUTES, tracer
    )
    app.immediate = ImmediateAnswers(
        authenticator.answer_at_once, metrics, EXACT_ROUTES, PREFIX_ROUTES, tracer
    )
    metadata_routers = (protected_resource.router, authorization_server.router, jwks.router)
    for router in (*metadata_routers, *OAUTH_ROUTERS, admin_api.router, health.router):
        app.include_router(router)
    install_error_handlers(app)
    install_store_status(app, store, metrics)
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        exact_routes=EXACT_ROUTES,
        prefix_routes=PREFIX_ROUTES,
        tracer=tracer,
    )
    return app
