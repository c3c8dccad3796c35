import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

let conductor: RunningConductor;
let acme: string;
let globex: string;
let initech: string;

beforeAll(async () => {
  // Small per-tenant limits so a test can exhaust them; the stage throttle is out of the way.
  conductor = await startConductor({
    memory: true,
    port: 0,
    throttle: { rateLimit: 100_000, burstLimit: 100_000 },
    rateLimits: { 'experts.read': 5, 'experts.write': 2 },
  });
  acme = await conductor.issuer.mint({ subject: 'a', tenant: 'acme', roles: ['viewer'] });
  globex = await conductor.issuer.mint({ subject: 'g', tenant: 'globex', roles: ['viewer'] });
  initech = await conductor.issuer.mint({ subject: 'i', tenant: 'initech', roles: ['viewer'] });
});
afterAll(async () => {
  await conductor.stop();
});

const list = (token: string) =>
  fetch(`${conductor.apiUrl}/experts`, { headers: { authorization: `Bearer ${token}` } });

describe('per-tenant rate limits (the same DynamoDB counters locally and on AWS)', () => {
  it('answers 429 with Retry-After once a tenant spends its family budget, without touching other tenants', async () => {
    const replies = [];
    for (let i = 0; i < 7; i += 1) replies.push(await list(acme));
    const statuses = replies.map((r) => r.status);

    // A minute boundary may fall inside the loop and open a fresh window: allow for one reset.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    const first = limited[0];
    const body = (await first?.json()) as { code: string; message: string };
    expect(body.code).toBe('rate_limited');
    expect(body.message).toContain('experts.read');
    expect(Number(first?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(first?.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(replies[0]?.headers.get('x-ratelimit-limit')).toBe('5');

    expect((await list(globex)).status).toBe(200);
  });

  it('tells a refused client its limit, that nothing remains and when the window resets, as on a 200', async () => {
    // Act: spend the tenant's budget of 5 (a minute boundary may reopen it once: spend again).
    const replies: Response[] = [];
    for (let i = 0; i < 12 && !replies.some((r) => r.status === 429); i += 1)
      replies.push(await list(initech));

    // Assess
    const refused = replies.find((r) => r.status === 429);
    expect(refused).toBeDefined();
    const retryAfter = Number(refused?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused?.headers.get('x-ratelimit-limit')).toBe('5');
    expect(refused?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused?.headers.get('x-ratelimit-reset')).toBe(String(retryAfter));
    expect(await refused?.json()).toEqual({
      code: 'rate_limited',
      message: expect.stringContaining('experts.read'),
      traceId: refused?.headers.get('x-conductor-trace-id'),
    });
  });
});
