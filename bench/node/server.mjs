// node-oidc-provider configured like idp, for bench/run.sh.
//
// Environment:
//   BENCH_PORT           port on 127.0.0.1 (issuer http://localhost:PORT)
//   BENCH_STATE          directory for the signing keys (kept across restarts) and the seed files
//   BENCH_CLIENT_ID, BENCH_CLIENT_SECRET   the confidential client (client_secret_basic)
//   BENCH_AT_ALG         JWS algorithm of JWT access tokens (run.sh passes idp's: RS256 or ES256)
//   BENCH_SEED           number of refresh tokens to mint at start (0: none)
//
// What is equivalent to idp: ES256 ID tokens; JWT access tokens (RFC 9068, typ at+jwt) signed
// with BENCH_AT_ALG for client_credentials and refresh_token (resource indicators with a default
// resource); refresh tokens that rotate on every use (a reused one revokes the grant);
// client_secret_basic; userinfo; introspection.
// What is not: oidc-provider keeps everything in this process's memory (an unbounded Map; the
// built-in MemoryAdapter is an LRU of 1000 entries that would evict the seeded grants under
// load), whereas idp writes every token to SQLite or PostgreSQL. oidc-provider serves userinfo
// and introspection only for opaque access tokens (a JWT access token is for a resource server,
// not for userinfo, and introspection refuses structured tokens), so the seeded access token
// for those two endpoints is opaque; idp's is its usual JWT, verified and looked up by jti.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import {
  existsSync, readFileSync, renameSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import Provider from 'oidc-provider';

const port = Number(process.env.BENCH_PORT ?? 3000);
const state = process.env.BENCH_STATE ?? '.';
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench';
const clientSecret = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret';
const atAlg = process.env.BENCH_AT_ALG ?? 'RS256';
const seed = Number(process.env.BENCH_SEED ?? 0);
const issuer = `http://localhost:${port}`;
const API = `${issuer}/userinfo`; // idp's access-token audience; here a resource indicator

// Signing keys: ES256 and RS256 (2048), like idp; made once, read back on restart.
const keysFile = join(state, 'jwks.json');
let jwks;
if (existsSync(keysFile)) {
  jwks = JSON.parse(readFileSync(keysFile, 'utf8'));
} else {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  jwks = {
    keys: [
      { ...ec, kid: randomUUID(), alg: 'ES256', use: 'sig' },
      { ...rsa, kid: randomUUID(), alg: 'RS256', use: 'sig' },
    ],
  };
  writeFileSync(keysFile, JSON.stringify(jwks), { mode: 0o600 });
}

// An unbounded in-memory store (see above); entries expire by their TTL.
const stores = new Map();
class MapAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  static grants = new Map(); // grantId -> [ [name, id] ]

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
    if (payload.grantId) {
      const members = MapAdapter.grants.get(payload.grantId) ?? [];
      members.push([this.name, id]);
      MapAdapter.grants.set(payload.grantId, members);
    }
    if (this.name === 'Session' && payload.uid) {
      stores.get('Session').set(`uid:${payload.uid}`, { payload: id, expiresAt });
    }
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = await this.find(`uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [name, id] of MapAdapter.grants.get(grantId) ?? []) {
      stores.get(name)?.delete(id);
    }
    MapAdapter.grants.delete(grantId);
  }
}

const users = new Map();
function account(id) {
  return {
    accountId: id,
    async claims() {
      const user = users.get(id) ?? {};
      return {
        sub: id,
        name: user.name,
        preferred_username: user.username,
        email: user.email,
        email_verified: false,
        updated_at: 0,
      };
    },
  };
}

const configuration = {
  adapter: MapAdapter,
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: 'bench',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: ['https://app.example/callback'],
      id_token_signed_response_alg: 'ES256',
      scope: 'openid offline_access profile email api',
    },
  ],
  jwks,
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'updated_at'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api'],
  async findAccount(_ctx, id) {
    return users.has(id) ? account(id) : undefined;
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => API,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: API,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: atAlg } },
      }),
    },
  },
  rotateRefreshToken: true,
  pkce: { required: () => true },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    IdToken: 600,
    AuthorizationCode: 60,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 12 * 3600,
    Interaction: 15 * 60,
  },
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256', 'RS256'],
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// Seed tokens, minted the way the authorization-code grant would have minted them, after the
// server answers (so that they do not count in its start time); written with a rename, so that
// run.sh sees whole files.
async function mintSeed() {
  const client = await provider.Client.find(clientId);
  const refresh = [];
  let accessToken;
  for (let i = 0; i < seed; i += 1) {
    const accountId = randomUUID();
    users.set(accountId, { username: `user${i}`, name: `User ${i}`, email: `user${i}@example.com` });
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(API, 'api');
    const grantId = await grant.save();
    const authTime = Math.floor(Date.now() / 1000);
    const common = {
      accountId,
      client,
      grantId,
      gty: 'authorization_code',
      authTime,
      acr: 'phr',
      amr: ['pop', 'user', 'mfa'],
      expiresWithSession: false,
    };
    refresh.push(await new provider.RefreshToken({
      ...common,
      scope: 'openid offline_access api',
      resource: API,
      rotations: 0,
    }).save());
    if (i === 0) {
      // Opaque (see above): what oidc-provider accepts at userinfo and introspection.
      accessToken = await new provider.AccessToken({ ...common, scope: 'openid offline_access' }).save();
    }
  }
  writeFileSync(join(state, 'refresh_tokens.tmp'), `${refresh.join('\n')}\n`);
  renameSync(join(state, 'refresh_tokens.tmp'), join(state, 'refresh_tokens.txt'));
  writeFileSync(join(state, 'access_token.tmp'), `${accessToken}\n`);
  renameSync(join(state, 'access_token.tmp'), join(state, 'access_token.txt'));
}

createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.error(`oidc-provider listening on ${issuer} (access tokens ${atAlg})`);
  if (seed > 0) {
    mintSeed().catch((err) => {
      console.error('seeding failed', err);
      process.exit(1);
    });
  }
});
