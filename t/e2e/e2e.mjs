// End-to-end check of zt-inference with a real OpenID provider
// (oidc-provider), run by scripts/e2e.sh against a gateway it started:
// the provider issues JWT access tokens (client credentials) and rotates
// its signing keys while traffic flows; the gateway must follow without a
// reload.
//
//   phase A  the provider signs with K1: every call passes (the first
//            makes the gateway discover the provider and fetch its keys)
//   phase B  the provider publishes K2 and signs with it, K1 still
//            published: old and new tokens pass, the first K2 token at
//            its first request
//   phase C  the provider drops K1: K2 tokens pass; a K1 token, cached by
//            the gateway before, is refused once the gateway refreshed
//
// Environment: ZT_E2E_GATEWAY (http://127.0.0.1:PORT), ZT_E2E_IDP_PORT,
// ZT_E2E_ERROR_LOG (the gateway's error log), ZT_E2E_REFRESH (seconds,
// the gateway's refresh=), ZT_E2E_MIN_REFETCH (its min_refetch=).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const gateway = process.env.ZT_E2E_GATEWAY;
const idpPort = Number(process.env.ZT_E2E_IDP_PORT);
const errorLog = process.env.ZT_E2E_ERROR_LOG;
const refresh = Number(process.env.ZT_E2E_REFRESH) * 1000;
const minRefetch = Number(process.env.ZT_E2E_MIN_REFETCH) * 1000;
const issuer = `http://127.0.0.1:${idpPort}`;
const client = { id: 'zt-e2e-client', secret: crypto.randomBytes(24).toString('hex') };

const failures = [];
const counts = { calls: 0, ok: 0, jwksFetches: 0, discoveryFetches: 0 };

function check(cond, what) {
  if (!cond) {
    failures.push(what);
    console.error(`e2e: FAIL ${what}`);
  }
}

function newKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

// a provider whose signing key is the first of keys; all of keys are published
function provider(keys) {
  const p = new Provider(issuer, {
    clients: [{
      client_id: client.id,
      client_secret: client.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'inference:invoke',
    }],
    jwks: { keys },
    scopes: ['inference:invoke'],
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:zt:gateway',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'inference:invoke',
          audience: 'zt-gateway',
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  return p.callback();
}

let handler;

const server = http.createServer((req, res) => {
  if (req.url === '/jwks') counts.jwksFetches++;
  if (req.url === '/.well-known/openid-configuration') counts.discoveryFetches++;
  handler(req, res);
});

async function token() {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=inference%3Ainvoke',
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

function kidOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;
}

async function call(jwt) {
  const res = await fetch(`${gateway}/v1/models`, { headers: { authorization: `Bearer ${jwt}` } });
  const body = await res.text();
  counts.calls++;
  if (res.status === 200) counts.ok++;
  return { status: res.status, body, auth: res.headers.get('www-authenticate') };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// callers that share fresh tokens from the provider for ms milliseconds;
// every call must pass
async function traffic(label, ms, kid) {
  const end = Date.now() + ms;
  let calls = 0;
  const worker = async () => {
    let jwt = await token();
    check(kidOf(jwt) === kid, `${label}: the provider signs with ${kid}, not ${kidOf(jwt)}`);
    for (let n = 0; Date.now() < end; n++) {
      if (n % 5 === 4) jwt = await token();
      const r = await call(jwt);
      calls++;
      check(r.status === 200, `${label}: a call with a ${kidOf(jwt)} token got ${r.status} ${r.auth || r.body}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  console.log(`e2e: ${label}: ${calls} calls`);
}

function gatewayLog(re) {
  return fs.readFileSync(errorLog, 'utf8').split('\n').filter((l) => re.test(l));
}

async function main() {
  const k1 = newKey('k1-' + crypto.randomBytes(4).toString('hex'));
  const k2 = newKey('k2-' + crypto.randomBytes(4).toString('hex'));

  handler = provider([k1]);
  await new Promise((r) => server.listen(idpPort, '127.0.0.1', r));

  // phase A
  await traffic('phase A (K1)', 2500, k1.kid);
  const cached = await token();
  check((await call(cached)).status === 200, 'phase A: the K1 token kept for phase C passes');
  check((await call(cached)).body.includes('HIT'), 'phase A: the K1 token kept for phase C is cached');

  // phase B: the provider rotates, K1 still published.  Tokens issued
  // before go on being used; the first K2 token comes min_refetch after the
  // rotation (the gateway may have fetched the keys just before it)
  handler = provider([k2, k1]);
  const rotated = Date.now();
  while (Date.now() - rotated < minRefetch + 100) {
    const old = await call(cached);
    check(old.status === 200, `phase B: a K1 token issued before the rotation got ${old.status}`);
  }
  const first = await token();
  check(kidOf(first) === k2.kid, 'phase B: new tokens carry K2');
  const r = await call(first);
  check(r.status === 200, `phase B: the first K2 token passes at its first request (${r.status} ${r.auth || ''})`);
  check((await call(cached)).status === 200, 'phase B: a K1 token still passes while K1 is published');
  await traffic('phase B (K2)', 2500, k2.kid);

  // phase C: K1 is dropped; K2 traffic goes on through refreshes
  handler = provider([k2]);
  const dropped = Date.now();
  await traffic('phase C (K2)', refresh + 2000, k2.kid);
  const late = await call(cached);
  check(late.status === 401, `phase C: the cached K1 token is refused ${Date.now() - dropped} ms after K1 was dropped (got ${late.status})`);

  // what the gateway says it did
  const versions = gatewayLog(/zt: key set of .* fetched: version \d+/);
  check(versions.length >= 3, `the gateway stored 3 versions at least (K1; K2+K1; K2), not ${versions.length}`);
  check(gatewayLog(/fetching the key set .* \(unknown key\)/).length >= 1,
        'the first K2 token made the gateway fetch the keys again');
  check(gatewayLog(/\[(alert|crit|emerg)\]/).length === 0, 'no alert in the gateway log');
  const seconds = (Date.now() - rotated) / 1000 + 3;
  check(counts.jwksFetches <= 2 + Math.ceil(seconds * 1000 / minRefetch),
        `the provider's JWKS was fetched ${counts.jwksFetches} times: at most once per min_refetch`);

  console.log(`e2e: ${counts.calls} calls, ${counts.ok} answered 200 (the other: the dropped key's 401); ` +
              `the provider served its JWKS ` +
              `${counts.jwksFetches} times, its discovery document ${counts.discoveryFetches} times; ` +
              `${versions.length} key set versions`);
  server.close();

  if (failures.length) {
    console.error(`e2e: ${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log('e2e: PASS');
}

main().catch((e) => {
  console.error('e2e:', e);
  process.exit(1);
});
