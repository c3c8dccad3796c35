import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callExpertOnce, reportedCostOf } from '#shared/outbound/expert-call.js';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';

// One attempt of an expert call through the real guarded client, against a local server (only
// 127.0.0.1 is contacted), each way an expert can behave classified as the callers need.

let server: http.Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits += 1;
    const send = (status: number, body: string, type = 'application/json', headers = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers });
      res.end(body);
    };
    if (req.url === '/ok') return send(200, JSON.stringify({ answer: 42, costUsd: 0.003 }));
    if (req.url === '/header-cost')
      return send(200, '"fine"', 'application/json', { 'x-conductor-cost-usd': '0.5' });
    if (req.url === '/busy') return send(503, '{}');
    if (req.url === '/throttled') return send(429, '{}');
    if (req.url === '/bad-request') return send(400, JSON.stringify({ error: 'no' }));
    if (req.url === '/garbage') return send(200, '{"answer": 4');
    if (req.url === '/hang') return; // never answers
    send(404, '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const local = new GuardedHttpClient({ allowPrivate: true });
const call = (path: string, timeoutMs = 2_000) =>
  callExpertOnce(local, {
    endpoint: `${base}${path}`,
    payload: { q: 1 },
    headers: {},
    timeoutMs,
    maxCostUsd: 10,
  });

describe('callExpertOnce', () => {
  it('a 2xx is an answer with its body and the cost it reported (body or header)', async () => {
    expect(await call('/ok')).toMatchObject({
      kind: 'answer',
      status: 200,
      body: { answer: 42 },
      reportedCostUsd: 0.003,
    });
    expect(await call('/header-cost')).toMatchObject({ kind: 'answer', body: 'fine', reportedCostUsd: 0.5 });
  });

  it('a 4xx other than 408 and 429 is an answer (the expert’s verdict), not retried', async () => {
    expect(await call('/bad-request')).toMatchObject({ kind: 'answer', status: 400 });
  });

  it('503 and 429 are unavailable with their status; a hang is a timeout', async () => {
    expect(await call('/busy')).toMatchObject({ kind: 'unavailable', code: 'upstream_status', status: 503 });
    expect(await call('/throttled')).toMatchObject({
      kind: 'unavailable',
      code: 'upstream_status',
      status: 429,
    });
    expect(await call('/hang', 150)).toMatchObject({ kind: 'unavailable', code: 'upstream_timeout' });
  });

  it('an answer that is not the JSON it claims is unusable', async () => {
    expect(await call('/garbage')).toMatchObject({ kind: 'unusable', code: 'upstream_invalid_json' });
  });

  it('a name that resolves to a private or metadata address is refused, with no connection', async () => {
    // Prepare: the production client (no private addresses); the name resolves to 10.0.0.7.
    const before = hits;
    const lookup = vi.fn(async () => [{ address: '10.0.0.7', family: 4 as const }]);
    const guarded = new GuardedHttpClient({ lookup });

    // Act
    const privateName = await callExpertOnce(guarded, {
      endpoint: 'https://expert.example.com/v1',
      payload: {},
      headers: {},
      timeoutMs: 1000,
      maxCostUsd: 1,
    });
    const metadata = await callExpertOnce(guarded, {
      endpoint: 'http://169.254.169.254/latest/meta-data/',
      payload: {},
      headers: {},
      timeoutMs: 1000,
      maxCostUsd: 1,
    });

    // Assess
    expect(privateName).toMatchObject({ kind: 'refused', code: 'endpoint_private_address' });
    expect(metadata).toMatchObject({ kind: 'refused', code: 'endpoint_metadata_address' });
    expect(hits).toBe(before);
  });

  it('an unreachable endpoint is unavailable', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(
      await callExpertOnce(local, {
        endpoint: `http://127.0.0.1:${port}/`,
        payload: {},
        headers: {},
        timeoutMs: 1000,
        maxCostUsd: 1,
      }),
    ).toMatchObject({ kind: 'unavailable', code: 'upstream_unreachable' });
  });

  it('a reported cost is taken only as a number within [0, max]', () => {
    expect(reportedCostOf({ costUsd: 0.5 }, {}, 1)).toBe(0.5);
    expect(reportedCostOf({}, { 'x-conductor-cost-usd': '1.25' }, 2)).toBe(1.25);
    expect(reportedCostOf({ costUsd: 3 }, {}, 2)).toBeUndefined();
    expect(reportedCostOf({ costUsd: -1 }, {}, 2)).toBeUndefined();
    expect(reportedCostOf({ costUsd: 5e-324 }, {}, 2)).toBe(0);
  });
});
