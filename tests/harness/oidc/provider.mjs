// A real OpenID Connect provider (npm oidc-provider 9) on loopback, for Wharf's sign-in tests.
//
// Usage: node provider.mjs '<json>' (or the same JSON in WHARF_TEST_OIDC_CONFIG), where json is
//   {"port": 20001, "client": {"client_id": ..., "client_secret": ..., "redirect_uris": [...]},
//    "accounts": {"alice": {"email": ..., "email_verified": true, "name": ...}, ...},
//    "id_token_claims": true}
// It prints one line "oidc-provider ready <issuer>" on stdout once it listens; everything else
// (oidc-provider's development warnings) goes to stderr.
//
// Sign-in uses oidc-provider's built-in development interactions (features.devInteractions): a
// login form (fields `login` and `password`, button "Sign-in"; any password is accepted, the login
// is the account id) and then a consent form (button "Continue"); each page links "[ Cancel ]".
// A login that names no account ends the flow with error=access_denied.
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import { Provider } from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? process.env.WHARF_TEST_OIDC_CONFIG ?? '{}');
const port = Number(config.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('provider.mjs: the JSON config needs a "port"');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts ?? {};
const client = config.client ?? {};

// oidc-provider's default keystore is one fixed key published in the package (kid
// "keystore-CHANGE-ME", consts/dev_keystore.js); a key made at start is as cheap and means a
// restarted provider has rotated its key, as a real one may.
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider 9 takes client_secret_basic and client_secret_post as one family: a client
    // registered for either may use both (shared/client_auth.js, `methods = [...]`).
    token_endpoint_auth_method: 'client_secret_basic',
    // No setting is needed for http redirect URIs on 127.0.0.1: in oidc-provider 9 a "web"
    // client may register http URIs unless it uses the implicit grant (helpers/client_schema.js,
    // redirectUris(): only 'implicit-force-https' and 'implicit-forbid-localhost' check them).
    application_type: 'web',
  }],
  jwks: { keys: [signingKey] },
  // The default pkce.required() forces PKCE only on public clients and FAPI 2.0 (docs/README.md
  // "pkce.required"); Wharf's client is confidential and must still send S256 (the only method
  // oidc-provider 9 implements, helpers/pkce.js), so every request without a challenge is refused.
  pkce: { required: () => true },
  responseTypes: ['code'],
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Core 1.0 §5.4 puts scope-requested claims in UserInfo only when an access token is issued
  // (oidc-provider's default, conformIdTokenClaims: true); most providers (Google, Entra,
  // Keycloak) put email in the ID token as well, which id_token_claims (default true) mimics.
  conformIdTokenClaims: config.id_token_claims === false,
  // Keys that sign the provider's session and interaction cookies; test-only values.
  cookies: { keys: ['wharf-test-oidc-cookie-key'] },
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(accounts, id)) {
      return undefined; // an unknown login fails the sign-in instead of creating a user
    }
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...accounts[id] };
      },
    };
  },
});

// The dev login form takes any login, and oidc-provider 9 fails with a 500 server_error page
// (consent.js reads the grant of an account findAccount did not find) when it names no account.
// An unknown login ends the flow with access_denied instead, so the client gets an answer.
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/') && ctx.is('urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    ctx.req.body = body; // oidc-provider parses a body read upstream (shared/selective_body.js)
    const form = new URLSearchParams(body.toString());
    if (form.get('prompt') === 'login' && !Object.hasOwn(accounts, form.get('login'))) {
      const result = { error: 'access_denied', error_description: 'no such account' };
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result));
      ctx.status = 303;
      return;
    }
  }
  await next();
});

// oidc-provider answers its own bugs and refusals with a generic page; the cause goes to stderr,
// which the harness shows when a test fails.
provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error:', error));
for (const event of ['authorization.error', 'grant.error', 'interaction.error']) {
  provider.on(event, (_ctx, error) => {
    console.error(`oidc-provider ${event}: ${error.message} (${error.error_description})`);
  });
}

// Static clients are validated on first use; load ours now so bad metadata (a redirect URI
// that is no URL) fails the start, with the reason, instead of the first sign-in.
try {
  await provider.Client.find(client.client_id);
} catch (error) {
  console.error(`provider.mjs: the client is invalid: ${error.message} (${error.error_description})`);
  process.exit(1);
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  // Keep-alive connections from the test's HTTP clients would hold close() open.
  server.closeAllConnections();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
