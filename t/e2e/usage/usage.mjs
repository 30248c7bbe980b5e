// Usage limits as OpenAI's official Node client sees them (run by
// scripts/e2e-usage.sh, which starts the gateway): the client backs off on
// the gateway's 429 by itself (retry-after-ms) and its retry is served in
// the next window; without retries it throws a RateLimitError in OpenAI's
// shape; told not to retry (a request no window can hold), it does not;
// a streamed answer with include_usage is charged its usage; 16
// concurrent callers share a budget of exactly 4 requests.
//
// Every request costs 15 tokens (see scripts/e2e-usage.sh).

import OpenAI, { RateLimitError } from 'openai';
import assert from 'node:assert/strict';
import { createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const gateway = process.env.ZT_E2E_GATEWAY;
const key = readFileSync(process.env.ZT_E2E_KEY);
const auditLog = process.env.ZT_E2E_AUDIT;

const body = {
  model: 'm1',
  messages: [{ role: 'user', content: 'hello world!' }],
  max_tokens: 10,
};

const b64url = (s) => Buffer.from(s).toString('base64url');

// an RS256 token of the suite's test issuer (t/data), signed here
function mint(sub) {
  const now = Math.floor(Date.now() / 1000);
  const input = b64url(JSON.stringify({ alg: 'RS256', kid: 'rsa1', typ: 'JWT' }))
    + '.' + b64url(JSON.stringify({
      sub, iss: 'https://issuer.zt.test', aud: 'zt-gateway',
      scope: 'inference:invoke', iat: now, exp: now + 600,
    }));
  return input + '.' + b64url(createSign('RSA-SHA256').update(input).sign(key));
}

// a client whose every response is recorded as it reaches it
function client(path, { maxRetries = 2, stub = 'json' } = {}) {
  const seen = [];
  const sub = `e2e-${randomUUID()}`;

  const c = new OpenAI({
    apiKey: mint(sub),
    baseURL: `${gateway}${path}/v1`,
    maxRetries,
    defaultHeaders: { 'X-Stub': stub },
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      seen.push({
        at: Date.now(),
        status: res.status,
        remaining: res.headers.get('x-ratelimit-remaining-tokens'),
        retryAfterMs: res.headers.get('retry-after-ms'),
        shouldRetry: res.headers.get('x-should-retry'),
      });
      return res;
    },
  });

  return { c, seen, sub };
}

// the start of a second, and a little: the requests that follow share it
async function nextSecond() {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

let failures = 0;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failures++;
    console.log(`not ok - ${name}`);
    console.log(`# ${err.stack || err}`);
  }
}

await check('the client backs off on 429 by itself, its retry is served in the next window', async () => {
  const { c, seen } = client('/second');

  await nextSecond();
  await c.chat.completions.create(body);
  await c.chat.completions.create(body);

  const third = await c.chat.completions.create(body);

  assert.deepEqual(seen.map((s) => s.status), [200, 200, 429, 200]);
  assert.deepEqual(seen.map((s) => s.remaining), ['25', '8', '6', '25']);
  assert.equal(third.choices[0].message.content, 'ok');
  assert.equal(third.usage.total_tokens, 17);

  const wait = Number(seen[2].retryAfterMs);
  assert.ok(wait > 0 && wait <= 1000, `retry-after-ms ${wait}`);
  assert.ok(seen[3].at - seen[2].at >= wait - 5,
    `retried ${seen[3].at - seen[2].at} ms after, told ${wait}`);
  assert.ok(seen[3].at - seen[2].at < wait + 500, 'retried at once when told');
});

await check('without retries the client throws a RateLimitError in OpenAI\'s shape', async () => {
  const { c, seen } = client('/second', { maxRetries: 0 });

  await nextSecond();
  await c.chat.completions.create(body);
  await c.chat.completions.create(body);

  const err = await c.chat.completions.create(body).then(
    () => assert.fail('a third request had room'), (e) => e);

  assert.ok(err instanceof RateLimitError, `${err}`);
  assert.equal(err.status, 429);
  assert.equal(err.code, 'rate_limit_exceeded');
  assert.equal(err.type, 'tokens');
  assert.match(err.error.message,
    /^Rate limit reached for tokens per second: Limit 40, Used 34, Requested 15\. Please try again in \d{1,3}ms\.$/);
  assert.equal(err.headers.get('x-ratelimit-limit-tokens'), '40');
  assert.equal(err.headers.get('x-ratelimit-remaining-tokens'), '6');
  assert.equal(err.headers.get('retry-after'), '1');
  assert.equal(seen.length, 3);
});

await check('a request no window can hold is refused once: the client is told not to retry', async () => {
  const { c, seen } = client('/second', { maxRetries: 3 });

  const err = await c.chat.completions.create({ ...body, max_tokens: 50 }).then(
    () => assert.fail('served'), (e) => e);

  assert.ok(err instanceof RateLimitError, `${err}`);
  assert.match(err.error.message, /^Request too large for tokens per second: Limit 40, Requested 55\./);
  assert.deepEqual(seen.map((s) => [s.status, s.shouldRetry]), [[429, 'false']]);
});

await check('a streamed answer with include_usage is charged the usage of its last chunk', async () => {
  const { c, seen } = client('/second', { stub: 'sse' });

  await nextSecond();

  const stream = await c.chat.completions.create({
    ...body, stream: true, stream_options: { include_usage: true },
  });

  let text = '';
  let usage = null;

  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    usage = chunk.usage ?? usage;
  }

  assert.equal(text, 'ok');
  assert.deepEqual(usage, { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });

  // 40 - 15 (the stream, settled at its 15) - 15 (this one)
  const { response } = await c.chat.completions.create({ ...body, stream: false })
    .withResponse();

  assert.equal(response.headers.get('x-ratelimit-remaining-tokens'), '10');
  assert.deepEqual(seen.map((s) => s.status), [200, 200]);
});

await check('16 concurrent callers, one budget of 4 requests: exactly 4 are served', async () => {
  const { c, seen, sub } = client('/day', { maxRetries: 0 });

  const results = await Promise.allSettled(
    Array.from({ length: 16 }, () => c.chat.completions.create(body)));

  const served = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r) => r.status === 'rejected');

  assert.equal(served.length, 4);
  assert.equal(refused.length, 12);

  for (const r of refused) {
    assert.ok(r.reason instanceof RateLimitError, `${r.reason}`);
  }

  assert.equal(seen.length, 16);

  // the audit agrees: 4 lines allowed and charged 15 each, 12 refused
  await sleep(200);

  const lines = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l)).filter((l) => l.sub === sub);

  const allowed = lines.filter((l) => l.status === 200);

  assert.equal(allowed.length, 4);
  assert.equal(lines.filter((l) => l.status === 429).length, 12);

  for (const l of allowed) {
    assert.deepEqual(l.usage, {
      input_tokens: 5, output_tokens: 10, reserved: 15, charged: 15, from_answer: true,
    });
  }
});

console.log(failures ? `# ${failures} failed` : '# all passed');
process.exit(failures ? 1 : 0);
