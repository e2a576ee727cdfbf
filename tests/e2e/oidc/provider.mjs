// A real OpenID Connect provider (panva/oidc-provider, OpenID-certified) for loopback tests.
//
// env: HOST (127.0.0.1), PORT (0 = ephemeral), CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma sep)
//      AUTO_LOGIN=1   interactions complete by themselves: log in as login_hint (or 'test-user')
//                     and grant every scope asked; AUTO_LOGIN=0 uses the built-in HTML forms.
//      ACCOUNTS_FILE  JSON {"<sub>": {"email": ..., "email_verified": ..., "groups": [...]}, ...},
//                     re-read on every account lookup so a test can change a user's groups (or
//                     remove the user with null) while the provider runs. Unlisted subjects get
//                     <sub>@example.test, verified, no groups.
//      TOKEN_AUTH_METHOD  the client's token endpoint auth method (client_secret_basic); it is
//                     also the only method advertised, to test the client_secret_post fallback.
//      WORKLOAD_CLIENTS  JSON [{"client_id", "client_secret", "claims": {...}}]: confidential clients
//                     of the client_credentials grant whose access tokens are JWTs for the
//                     resource indicator asked (aud = that resource), with "claims" merged in
//                     ("sub" too): a CI provider's OIDC token for a job, as workload identity.
//      WORKLOAD_TTL   those tokens' lifetime in seconds (300).
//      ID_JAG_FILE    enterprise IdP mode: the RFC 8693 token exchange of draft-ietf-oauth-identity-
//                     assertion-authz-grant. The client trades a user's ID token (subject_token_type
//                     id_token, requested_token_type id-jag) for an ID-JAG signed with this
//                     provider's key: typ oauth-id-jag+jwt, aud = the audience asked (a resource
//                     authorization server), resource and scope as asked, the user's email and groups,
//                     and client_id = what the file maps this client to at that audience:
//                     JSON {"<client_id here>": {"<audience>": "<client_id there>"}}, re-read on every
//                     exchange (a test registers its client first). No policy: it issues what is asked.
//      ID_JAG_TTL     the ID-JAGs' lifetime in seconds (300).
//      UPSTREAM_EXCHANGE=1  upstream API mode (mcp-gatekeeper's proxy.hosts[].upstream): the login
//                     client may trade a user's access token of this provider (subject_token_type
//                     access_token) for another access token of the same user, aud = the audience
//                     asked, scope as asked (RFC 8693); and introspection is on, so a test API
//                     can ask whose a token is. Not combined with ID_JAG_FILE.
//      CUSTOM_CLAIMS  comma-separated claim names (namespaced ones like https://mcp-demo/roles too)
//                     released with the openid scope, their values from ACCOUNTS_FILE: served by
//                     userinfo, as scope claims are for the code flow (OIDC Core §5.4).
//      CLAIMS_IN_ID_TOKEN=1  scope claims (those above included) in the ID token as well
//                     (conformIdTokenClaims off), as Okta's and Entra ID's custom claims are.
// Prints one line "READY <issuer>" on stdout once listening.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 0);
const AUTO = (process.env.AUTO_LOGIN ?? '1') === '1';
const CLIENT_ID = process.env.CLIENT_ID || 'mcp-auth';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'mcp-auth-secret';
const REDIRECT_URIS = (process.env.REDIRECT_URIS || 'http://127.0.0.1:8080/callback').split(',');
const ACCOUNTS_FILE = process.env.ACCOUNTS_FILE || '';
const TOKEN_AUTH_METHOD = process.env.TOKEN_AUTH_METHOD || 'client_secret_basic';
const WORKLOAD_CLIENTS = JSON.parse(process.env.WORKLOAD_CLIENTS || '[]');
const WORKLOAD_TTL = Number(process.env.WORKLOAD_TTL || 300);
const ID_JAG_FILE = process.env.ID_JAG_FILE || '';
const ID_JAG_TTL = Number(process.env.ID_JAG_TTL || 300);
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const ID_JAG_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const CUSTOM_CLAIMS = (process.env.CUSTOM_CLAIMS || '').split(',').filter(Boolean);
const CLAIMS_IN_ID_TOKEN = process.env.CLAIMS_IN_ID_TOKEN === '1';
const UPSTREAM_EXCHANGE = !ID_JAG_FILE && process.env.UPSTREAM_EXCHANGE === '1';
const WORKLOAD_CLAIMS = Object.fromEntries(WORKLOAD_CLIENTS.map((c) => [c.client_id, c.claims || {}]));
const workloadClients = WORKLOAD_CLIENTS.map((c) => ({
  client_id: c.client_id, client_secret: c.client_secret, redirect_uris: [],
  grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: TOKEN_AUTH_METHOD,
}));
// Only with workload clients: the other tests' flows stay exactly as they were.
const workloadFeatures = WORKLOAD_CLIENTS.length === 0 ? {} : {
  clientCredentials: { enabled: true },
  resourceIndicators: {
    enabled: true,
    getResourceServerInfo: async (ctx, resourceIndicator) => ({
      scope: 'ci', audience: resourceIndicator, accessTokenTTL: WORKLOAD_TTL, accessTokenFormat: 'jwt',
    }),
  },
};

function accountClaims(sub) {
  const accounts = ACCOUNTS_FILE ? JSON.parse(fs.readFileSync(ACCOUNTS_FILE, 'utf8')) : {};
  if (!(sub in accounts)) {
    return { email: `${sub}@example.test`, email_verified: true, groups: [] };
  }
  return accounts[sub]; // null: the account no longer exists
}

let provider;
let signingKey; // this provider's own private key (kid test-rs256), published at its jwks_uri

const b64url = (data) => Buffer.from(data).toString('base64url');

function signIdJag(claims) {
  const header = { alg: 'RS256', typ: 'oauth-id-jag+jwt', kid: 'test-rs256' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), signingKey))}`;
}

// RFC 8693 at the IdP, as draft-ietf-oauth-identity-assertion-authz-grant §4.3 profiles it.
async function idJagExchange(ctx) {
  const { params, client } = ctx.oidc;
  const fail = (error, description) => {
    ctx.status = 400;
    ctx.body = { error, error_description: description };
  };
  if (params.requested_token_type !== ID_JAG_TYPE) return fail('invalid_request', `requested_token_type must be ${ID_JAG_TYPE}`);
  if (params.subject_token_type !== ID_TOKEN_TYPE) return fail('invalid_request', `subject_token_type must be ${ID_TOKEN_TYPE}`);
  if (!params.subject_token || !params.audience) return fail('invalid_request', 'subject_token and audience are required');
  let payload;
  try {
    ({ payload } = await provider.IdToken.validate(params.subject_token, client));
  } catch (err) {
    return fail('invalid_grant', `subject_token is not an ID token of this client: ${err.message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp <= now) return fail('invalid_grant', 'subject_token has expired');
  const account = accountClaims(payload.sub);
  if (account === null) return fail('invalid_grant', 'the user no longer exists');
  const connected = JSON.parse(fs.readFileSync(ID_JAG_FILE, 'utf8'))[client.clientId] || {};
  const clientThere = connected[params.audience];
  if (!clientThere) return fail('invalid_target', `this client is not connected to ${params.audience}`);
  const claims = {
    iss: provider.issuer, sub: payload.sub, aud: params.audience, client_id: clientThere,
    email: account.email, email_verified: account.email_verified, groups: account.groups,
    jti: crypto.randomUUID(), iat: now, exp: now + ID_JAG_TTL,
    ...(params.resource ? { resource: params.resource } : {}),
    ...(params.scope ? { scope: params.scope } : {}),
  };
  ctx.set('Cache-Control', 'no-store');
  ctx.body = {
    issued_token_type: ID_JAG_TYPE, access_token: signIdJag(claims), token_type: 'N_A',
    expires_in: ID_JAG_TTL, ...(params.scope ? { scope: params.scope } : {}),
  };
}
// RFC 8693 §2.1 as an upstream API's token service: the same user, another audience.
async function upstreamExchange(ctx) {
  const { params, client } = ctx.oidc;
  const fail = (error, description) => {
    ctx.status = 400;
    ctx.body = { error, error_description: description };
  };
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) return fail('invalid_request', `subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if (!params.subject_token || !params.audience) return fail('invalid_request', 'subject_token and audience are required');
  const subject = await provider.AccessToken.find(params.subject_token);
  if (!subject || subject.isExpired) return fail('invalid_grant', 'subject_token is no live access token of this provider');
  const token = new provider.AccessToken({
    accountId: subject.accountId, client, grantId: subject.grantId, gty: 'token-exchange',
    scope: params.scope || '', aud: params.audience,
  });
  const value = await token.save();
  ctx.set('Cache-Control', 'no-store');
  ctx.body = {
    issued_token_type: ACCESS_TOKEN_TYPE, access_token: value, token_type: 'Bearer',
    expires_in: token.expiration, ...(params.scope ? { scope: params.scope } : {}),
  };
}

const server = http.createServer(async (req, res) => {
  try {
    if (AUTO && req.url.startsWith('/interaction/')) return await autoInteraction(req, res);
    return provider.callback()(req, res);
  } catch (err) {
    console.error(err);
    res.statusCode = 500; res.end(String(err));
  }
});

async function autoInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const accountId = params.login_hint || 'test-user';
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) for (const [ind, s] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(ind, s.join(' '));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.statusCode = 400; res.end(`unexpected prompt ${prompt.name}`);
}

server.listen(PORT, HOST, () => {
  const issuer = `http://${HOST}:${server.address().port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  signingKey = privateKey;
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
  provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code', 'refresh_token', ...(ID_JAG_FILE || UPSTREAM_EXCHANGE ? [TOKEN_EXCHANGE] : [])],
      response_types: ['code'],
      token_endpoint_auth_method: TOKEN_AUTH_METHOD,
    }, ...workloadClients],
    clientAuthMethods: [TOKEN_AUTH_METHOD],
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-only-cookie-key'] },
    pkce: { required: () => true },
    ...(CLAIMS_IN_ID_TOKEN ? { conformIdTokenClaims: false } : {}),
    scopes: ['openid', 'offline_access'],
    claims: {
      openid: ['sub', ...CUSTOM_CLAIMS], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: !AUTO },
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
      ...workloadFeatures,
      ...(UPSTREAM_EXCHANGE ? { introspection: { enabled: true, allowedPolicy: async () => true } } : {}),
    },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => { Object.assign(jwt.payload, WORKLOAD_CLAIMS[token.clientId] || {}); },
      },
    },
    // oidc-provider drops offline_access unless prompt=consent (OIDC Core §11). Keycloak, Okta,
    // Auth0 and Entra ID issue refresh tokens without it, and so does this test provider.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Rotate on every use, as Okta and Auth0 can: the service must keep the newest token.
    rotateRefreshToken: true,
    ...(AUTO ? { interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` } } : {}),
    findAccount: async (ctx, sub) => {
      const claims = accountClaims(sub);
      if (claims === null) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, name: `Test ${sub}`, preferred_username: sub, ...accountClaims(sub) }),
      };
    },
  });
  if (ID_JAG_FILE) {
    const names = ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope'];
    provider.registerGrantType(TOKEN_EXCHANGE, idJagExchange, new Set(names));
  }
  if (UPSTREAM_EXCHANGE) {
    const names = ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope'];
    provider.registerGrantType(TOKEN_EXCHANGE, upstreamExchange, new Set(names));
  }
  console.log(`READY ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
