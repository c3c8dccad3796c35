import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

const BURST = 5;
let conductor: RunningConductor;

beforeAll(async () => {
  // A burst of 5 and one token back per 1000 s, far longer than this file may run (its hook and test
  // timeouts): exactly the burst is served, however slow the machine. The bucket's timing is tested
  // on a manual clock in infra/local/test/gateway-throttle.test.ts.
  conductor = await startConductor({
    memory: true,
    port: 0,
    throttle: { rateLimit: 0.001, burstLimit: BURST },
  });
});
afterAll(async () => {
  await conductor.stop();
});

describe('stage throttling on the embedded gateway', () => {
  it('serves exactly the burst and answers the rest 429 with Retry-After in the uniform shape', async () => {
    // Act
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${conductor.apiUrl}/health`).then(async (r) => ({ r, body: await r.json() })),
      ),
    );

    // Assess
    const served = replies.filter(({ r }) => r.status === 200);
    const limited = replies.filter(({ r }) => r.status === 429);
    expect(served).toHaveLength(BURST);
    expect(limited).toHaveLength(20 - BURST);
    for (const { r, body } of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(body).toEqual({
        code: 'rate_limited',
        message: expect.any(String),
        traceId: r.headers.get('x-conductor-trace-id'),
      });
      expect(r.headers.get('x-conductor-api-version')).toBe('v1');
    }
  });
});
