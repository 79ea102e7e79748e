// A real OpenID provider for the end-to-end tests: `oidc-provider` (OpenID Certified) over HTTPS
// on loopback, with client credentials, introspection, revocation, RP-initiated logout and its
// development login form.
//
//   node provider.mjs CERT KEY PORT GATEWAY_ORIGIN
//
// Prints "issuer https://127.0.0.1:PORT" once it listens. Clients:
//   gateway / gw-secret   the gateway: introspects tokens, runs the login flow for the pages
//                         below (a login's redirect URI is the page it started from)
//   app / app-secret      an API consumer: gets tokens with client credentials
// Access tokens granted the `short` scope live five seconds, for sessions that expire.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [cert, key, port, gatewayOrigin] = process.argv.slice(2);
const issuer = `https://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'gateway',
      client_secret: 'gw-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [
        `${gatewayOrigin}/app/profile`,
        `${gatewayOrigin}/app/home`,
        `${gatewayOrigin}/quick/profile`,
        `${gatewayOrigin}/header/profile`,
      ],
      post_logout_redirect_uris: [`${gatewayOrigin}/app/bye`],
    },
    {
      client_id: 'app',
      client_secret: 'app-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read api:write',
    },
  ],
  scopes: ['openid', 'profile', 'email', 'offline_access', 'api:read', 'api:write', 'short'],
  // The ID token carries the user's claims, not only `sub`.
  conformIdTokenClaims: false,
  ttl: {
    AccessToken: (ctx, token) => (token.scope?.split(' ').includes('short') ? 5 : 3600),
  },
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  features: {
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The gateway introspects tokens issued to other clients.
      allowedPolicy: async () => true,
    },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    devInteractions: { enabled: true },
  },
  pkce: { required: () => false },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@example.com`, name: id }),
  }),
});
provider.proxy = false;

https
  .createServer({ cert: readFileSync(cert), key: readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => {
    console.log(`issuer ${issuer}`);
  });
