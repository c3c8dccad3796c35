import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

let conductor: RunningConductor;

beforeAll(async () => {
  // A tiny stage throttle so the burst is exhausted within one test.
  conductor = await startConductor({ memory: true, port: 0, throttle: { rateLimit: 1, burstLimit: 5 } });
});
afterAll(async () => {
  await conductor.stop();
});

describe('stage throttling on the embedded gateway', () => {
  it('answers 429 with Retry-After in the uniform shape once the burst is spent', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${conductor.apiUrl}/health`).then(async (r) => ({ r, body: await r.json() })),
      ),
    );

    const limited = replies.filter(({ r }) => r.status === 429);
    const served = replies.filter(({ r }) => r.status === 200);
    expect(served.length).toBeGreaterThanOrEqual(5);
    expect(served.length).toBeLessThanOrEqual(7);
    expect(limited.length).toBe(20 - served.length);
    for (const { r, body } of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(body).toMatchObject({ code: 'rate_limited', traceId: expect.any(String) });
      expect(r.headers.get('x-conductor-api-version')).toBe('v1');
    }
  });
});
