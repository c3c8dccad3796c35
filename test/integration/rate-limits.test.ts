import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

let conductor: RunningConductor;
let acme: string;
let globex: string;
let initech: string;
let acmeAdmin: string;
let acmeRefused: string;
let globexAdmin: string;

beforeAll(async () => {
  // Small per-tenant limits so a test can exhaust them; the stage throttle is out of the way.
  conductor = await startConductor({
    memory: true,
    port: 0,
    throttle: { rateLimit: 100_000, burstLimit: 100_000 },
    rateLimits: { 'experts.read': 5, 'experts.write': 10, refused: 3 },
  });
  acme = await conductor.issuer.mint({ subject: 'a', tenant: 'acme', roles: ['viewer'] });
  globex = await conductor.issuer.mint({ subject: 'g', tenant: 'globex', roles: ['viewer'] });
  initech = await conductor.issuer.mint({ subject: 'i', tenant: 'initech', roles: ['viewer'] });
  const admin = { roles: ['tenant-admin'], amr: ['pwd', 'mfa'] };
  acmeAdmin = await conductor.issuer.mint({ subject: 'acme-admin', tenant: 'acme', ...admin });
  acmeRefused = await conductor.issuer.mint({ subject: 'acme-hammer', tenant: 'acme', roles: ['viewer'] });
  globexAdmin = await conductor.issuer.mint({ subject: 'globex-admin', tenant: 'globex', ...admin });
});
afterAll(async () => {
  await conductor.stop();
});

const list = (token: string) =>
  fetch(`${conductor.apiUrl}/experts`, { headers: { authorization: `Bearer ${token}` } });

let experts = 0;
/** POST /experts (family experts.write, admins only) with a valid body, or the raw text given. */
const create = (token: string, rawBody?: string) => {
  experts += 1;
  const body =
    rawBody ??
    JSON.stringify({
      name: `limited-${experts}`,
      type: 'tool',
      costPerCallUsd: 0,
      endpoint: `https://limited-${experts}.example.com/v1`,
    });
  return fetch(`${conductor.apiUrl}/experts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
};

const remainingOf = (reply: Response): number => Number(reply.headers.get('x-ratelimit-remaining'));

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

describe('refused requests (403, 400) and the tenant’s quota', () => {
  it('leaves the tenant’s quota to its admin, however many requests of one of its viewers are refused', async () => {
    // Prepare
    const before = await create(acmeAdmin);

    // Act: 30 refusals, three times the tenant's experts.write budget of 10.
    const refused: number[] = [];
    for (let i = 0; i < 30; i += 1) refused.push((await create(acmeRefused)).status);
    const after = await create(acmeAdmin);

    // Assess: only the admin's own request was counted (or a minute boundary reopened the window).
    expect(before.status).toBe(201);
    expect(refused.every((status) => status === 403 || status === 429)).toBe(true);
    expect(after.status).toBe(201);
    expect(after.headers.get('x-ratelimit-limit')).toBe('10');
    expect([remainingOf(before) - 1, 9]).toContain(remainingOf(after));
  });

  it('does not spend the tenant’s quota on an admin’s invalid bodies either', async () => {
    // Prepare
    const before = await create(globexAdmin);

    // Act
    const malformed = await create(globexAdmin, '{"name":');
    const invalid = await create(globexAdmin, JSON.stringify({ name: 'no-endpoint' }));
    const after = await create(globexAdmin);

    // Assess
    expect(before.status).toBe(201);
    expect(malformed.status).toBe(400);
    expect(invalid.status).toBe(400);
    expect(after.status).toBe(201);
    expect([remainingOf(before) - 1, 9]).toContain(remainingOf(after));
  });

  it('answers the refused caller itself 429 once over its refused budget, with Retry-After and X-RateLimit-*', async () => {
    // Act: a budget of 3 refusals a minute (a minute boundary may reopen it once: refuse again).
    const replies: Response[] = [];
    for (let i = 0; i < 8 && !replies.some((r) => r.status === 429); i += 1)
      replies.push(await create(acmeRefused));

    // Assess
    const limited = replies.find((r) => r.status === 429);
    expect(limited).toBeDefined();
    const retryAfter = Number(limited?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited?.headers.get('x-ratelimit-limit')).toBe('3');
    expect(limited?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited?.headers.get('x-ratelimit-reset')).toBe(String(retryAfter));
    expect(await limited?.json()).toEqual({
      code: 'rate_limited',
      message: expect.stringContaining('refused'),
      traceId: limited?.headers.get('x-conductor-trace-id'),
    });
  });

  it('keeps each caller’s refused budget its own: another viewer of the tenant is still answered 403', async () => {
    const other = await conductor.issuer.mint({ subject: 'acme-other', tenant: 'acme', roles: ['viewer'] });
    const reply = await create(other);
    expect(reply.status).toBe(403);
  });
});
