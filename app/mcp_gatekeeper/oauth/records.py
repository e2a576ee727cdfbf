"""What the authorization server keeps between requests, as stored in the ``Store``.

Every record is keyed by the SHA-256 of the secret that names it (state, code, refresh token),
and the upstream secrets inside records are sealed (``sealed.py``), so a leaked store dump hands
out nothing that can be replayed. Where each kind is kept, and under which key, is
``record_stores.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, PrivateAttr

from ..providers import UpstreamIdentity
from .sealed import SealedStr


class BrowserBinding(BaseModel):
    """The cookie that ties a login to the browser that started it (``endpoints/browser.py``):
    its name and the hash of its value."""

    cookie: str
    value_hash: str
    secure: bool


class User(BaseModel):
    """The signed-in user, as vouched for by the identity provider."""

    subject: str
    email: str
    groups: tuple[str, ...] = ()
    name: str = ""
    recheck_secret: SealedStr | None = None
    #: ``provider.copyClaims`` from the latest login or re-check, copied into access tokens.
    claims: dict[str, Any] = {}

    @classmethod
    def from_upstream(cls, identity: UpstreamIdentity) -> User:
        return cls(
            subject=identity.subject,
            email=identity.email,
            groups=identity.groups,
            name=identity.name,
            recheck_secret=identity.recheck_secret,
            claims=dict(identity.claims),
        )

    def to_upstream(self) -> UpstreamIdentity:
        return UpstreamIdentity(
            subject=self.subject,
            email=self.email,
            email_verified=True,
            groups=self.groups,
            name=self.name,
            recheck_secret=self.recheck_secret,
            claims=self.claims,
        )


class AuthorizationRequest(BaseModel):
    """A validated /authorize request."""

    issuer: str
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    scopes: tuple[str, ...]
    #: ``prompt=consent`` (OIDC Core §3.1.2.1): ask again even when an approval is remembered.
    prompt_consent: bool = False
    #: RFC 8628: set for a device sign-in (``device_grants.py``), the hash of its device code
    #: (``redirect_uri`` and ``code_challenge`` are then empty: nobody is redirected), and the
    #: user code the consent page shows so that a phished code can be recognised.
    device_code_hash: str | None = None
    user_code: SealedStr | None = None

    @property
    def is_device(self) -> bool:
        return self.device_code_hash is not None


class LoginTransaction(BaseModel):
    """Between /authorize and the identity provider's callback (namespace ``logins``)."""

    request: AuthorizationRequest
    browser: BrowserBinding
    provider_secrets: dict[str, SealedStr]
    started_at: float


class PendingConsent(BaseModel):
    """A signed-in user looking at the consent page (namespace ``consents``)."""

    request: AuthorizationRequest
    user: User
    browser: BrowserBinding
    #: Echoed by the consent form; the page is also bound to the browser cookie.
    csrf: str
    started_at: float


class AuthorizationCode(BaseModel):
    """Single use, short-lived, bound to everything the token request must repeat."""

    request: AuthorizationRequest
    user: User
    auth_time: float


class IssuedFromCode(BaseModel):
    """Remembered after a code is used, so a replay can revoke what it produced."""

    family_id: str | None
    access_jti: str
    access_expires_at: float


class RefreshFamily(BaseModel):
    """One login's chain of rotated refresh tokens (namespace ``families``)."""

    family_id: str
    client_id: str
    resource: str
    scopes: tuple[str, ...]
    user: User
    created_at: float
    checked_at: float
    current_hash: str
    revoked: bool = False
    #: RFC 9449 §5: the thumbprint of the DPoP key a public client's refresh tokens are bound
    #: to (every refresh must prove it); None for confidential clients and unbound logins.
    dpop_jkt: str | None = None
    #: (jti, exp) of the access tokens issued from this family that may still be live.
    access_tokens: list[tuple[str, float]] = []
    #: The record exactly as read from (or last written to) the store: what the next
    #: compare-and-swap expects to find there (``families.py``). Not serialised.
    _stored: bytes | None = PrivateAttr(default=None)


class Approval(BaseModel):
    """A remembered approval: who approved, and which of the requested scopes."""

    subject: str
    email: str
    scopes: tuple[str, ...]


class DeviceGrant(BaseModel):
    """RFC 8628: one device authorization, from /device_authorization until its token is taken
    (namespace ``device-grants``, named by the device code's hash). Polls and the user's answer
    update it by compare-and-swap, so every replica sees one state."""

    client_id: str
    issuer: str
    resource: str
    scopes: tuple[str, ...]
    user_code_hash: str
    expires_at: float
    #: Seconds a poll must wait after the previous one; each ``slow_down`` adds 5 (§3.5).
    interval: float
    last_poll: float | None = None
    #: How often the verification page accepted its user code (each starts a login).
    entries: int = 0
    status: Literal["pending", "approved", "denied"] = "pending"
    #: Who approved, once approved.
    user: User | None = None


class UserCode(BaseModel):
    """A user code (namespace ``user-codes``, named by its hash): which device grant it is."""

    device_code_hash: str


class GuessBucket(BaseModel):
    """Wrong user codes one client address may still enter (a token bucket in the store, so
    replicas share it; namespace ``user-code-guesses``)."""

    tokens: float
    refilled: float


class PendingDeviceGrants(BaseModel):
    """When each device authorization one client started recently expires (namespace
    ``device-pending``, named by the client id): at most ``maxPendingPerClient`` live ones."""

    expires_at: list[float] = []


class IssuedRecord(BaseModel):
    """Who holds a live access token (``issued.py``); never the token itself."""

    client_id: str
    #: As the client named itself when the token was issued (metadata-document clients have
    #: no stored registration to take it from).
    client_name: str | None = None
    subject: str
    email: str
    groups: tuple[str, ...] = ()
    expires_at: float
    #: The access token this one was exchanged from (RFC 8693), so revoking it ends this one.
    parent_jti: str | None = None


class DelegatedTokens(BaseModel):
    """The live tokens exchanged from one access token (namespace ``delegations``, named by its
    ``jti``): (jti, exp) of each, so revoking it finds them without a scan (``issued.py``)."""

    children: list[tuple[str, float]] = []


class UsedDpopProof(BaseModel):
    """A DPoP proof accepted at /token (namespace ``dpop-proofs``, named by the hash of its key's
    thumbprint and its ``jti``), kept while its ``iat`` could still pass: seen once, refused
    after, at every replica."""

    used_at: float


class MachineClientRecord(BaseModel):
    """A machine client an administrator made (``admin clients create``; namespace
    ``machine-clients``, named by its client id): its secret only as a hash, or its public keys."""

    client_id: str
    name: str | None = None
    secret_hash: str | None = None
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    hosts: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: float


class ProviderGrant(BaseModel):
    """The identity provider's secret from a user's latest login (namespace ``provider-grants``,
    named by the subject): where ``proxy.hosts[].upstream`` gets the provider's token for the
    user at /authenticate (``upstream/provider_grants.py``). Rotated by compare-and-swap."""

    subject: str
    secret: SealedStr
    updated_at: float


class ConnectTransaction(BaseModel):
    """A login sent through the upstream API's authorization to connect the user's account
    (namespace ``connects``, named by the ``state`` sent there): the approved request, bound to
    the login's browser, and the PKCE verifier (``oauth/connected_accounts.py``)."""

    request: AuthorizationRequest
    user: User
    browser: BrowserBinding
    host: str
    verifier: SealedStr
    started_at: float


class ConnectedAccount(BaseModel):
    """A user's connected account at one host's upstream API (namespace ``connected-accounts``,
    named by ``connected_accounts.account_key``): its tokens sealed, refreshed by
    compare-and-swap (``upstream/connected.py``)."""

    subject: str
    email: str
    host: str
    access_token: SealedStr
    refresh_token: SealedStr | None = None
    #: When the access token expires (None: the API stated no expiry).
    expires_at: float | None = None
    connected_at: float
    updated_at: float
