import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';

/** What Node's HTTP parser refuses before the gateway sees it still gets the uniform error shape. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.conductor.stop());

const rawGet = (path: string, headers: Record<string, string>) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${h.conductor.apiUrl}${path}`, { headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('a request whose headers are over 16 KiB', () => {
  it('gets 431 request_too_large in the uniform error shape', async () => {
    // Act
    const reply = await rawGet('/health', { 'x-padding': 'x'.repeat(20 * 1024) });

    // Assess
    expect(reply.status).toBe(431);
    expect(JSON.parse(reply.body)).toEqual({
      code: 'request_too_large',
      message: expect.stringContaining('too large'),
      traceId: expect.any(String),
    });
  });
});
