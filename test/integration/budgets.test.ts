import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_STATE_TTL_MS } from '../../functions/scheduler/src/domain/budget-ledger.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * Budgets over HTTP on the embedded runtime: PUT budgets/limits and GET budgets/state, admission of
 * jobs against them (the requirements' breach scenario), budget_breach on the local bus, the job
 * lookups, and what another tenant can see or change (nothing).
 */
let h: Harness;
let operator: string;
let admin: string;

const QUEUES = ['high', 'jobs', 'low'].map((name) => `conductor-scheduler-${name}`);

const drainJobs = async (): Promise<void> => {
  for (const queue of QUEUES) await h.conductor.mappings.get(queue)?.drain();
};
const enqueue = (body: unknown, token = operator) => h.call('POST', '/scheduler/enqueue', { token, body });
const putLimits = (body: unknown, token = admin, headers: Record<string, string> = {}) =>
  h.call('PUT', '/budgets/limits', { token, body, headers });
const state = async (token = admin) => {
  const reply = await h.call('GET', '/budgets/state', { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json as { tenantId: string; budgets: Record<string, unknown>[] };
};
/** A budget state without `projectedUsd`, which is extrapolated from the current time. */
const withoutProjection = (s: { tenantId: string; budgets: Record<string, unknown>[] }) => ({
  ...s,
  budgets: s.budgets.map(({ projectedUsd: _moving, ...rest }) => rest),
});
const breaches = (tenantId: string) =>
  h.conductor.bus
    .history(1000)
    .map((entry) => entry.event)
    .filter(
      (event) =>
        event['detail-type'] === 'budget_breach' &&
        (event.detail as { tenantId?: string }).tenantId === tenantId,
    )
    .map((event) => event.detail as Record<string, unknown>);

/** Finished spend, through jobs the worker completes (until jobs call experts, a job costs its estimate). */
const spend = async (usd: number, token = operator): Promise<void> => {
  const reply = await enqueue(
    { queue: 'interactive', payload: { spend: usd }, estimatedCostUsd: usd },
    token,
  );
  expect(reply.status, reply.text).toBe(202);
  await drainJobs();
};

beforeAll(async () => {
  h = await startHarness();
  operator = h.tokens.acmeOperator ?? '';
  admin = h.tokens.acmeAdmin ?? '';
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('PUT budgets/limits and GET budgets/state', () => {
  it('stores a budget with its policy defaults and shows its state', async () => {
    // Act
    const reply = await putLimits({
      tenantId: 'acme',
      window: 'weekly',
      limit: 250,
      timeZone: 'Europe/Berlin',
      policy: { gracePercent: 5, alertThresholds: [80, 50, 80] },
    });
    const current = await state();

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toEqual({
      ok: true,
      budget: {
        tenantId: 'acme',
        window: 'weekly',
        limitUsd: 250,
        timeZone: 'Europe/Berlin',
        policy: {
          gracePercent: 5,
          carryOverCapPercent: 0,
          burstPercent: 0,
          mode: 'throttle',
          alertThresholds: [50, 80],
          priorityCeilingsPercent: { high: 100, normal: 90, low: 0 },
        },
        version: 1,
        updatedAt: expect.any(String),
        changedBy: expect.any(String),
      },
    });
    expect(current.budgets).toEqual([
      expect.objectContaining({
        window: 'weekly',
        windowId: expect.stringMatching(/^weekly:\d{4}-W\d{2}$/),
        timeZone: 'Europe/Berlin',
        limitUsd: 250,
        capUsd: 262.5,
        state: 'ok',
      }),
    ]);
  });

  it('refuses bad input with a clear 4xx and changes nothing', async () => {
    // Prepare
    const before = await state();
    const bodies: [unknown, number, string][] = [
      [{ window: 'monthly', limit: -1 }, 400, 'body.limit'],
      [{ window: 'monthly', limit: 0 }, 400, 'body.limit'],
      [{ window: 'monthly', limit: 5e-324 }, 400, 'body.limit'],
      [{ window: 'monthly', limit: '1000' }, 400, 'body.limit'],
      [{ window: 'hourly', limit: 10 }, 400, 'body.window'],
      [{ window: 'monthly', limit: 10, timeZone: 'Mars/Olympus_Mons' }, 400, 'body.timeZone'],
      [{ window: 'monthly', limit: 10, policy: { gracePercent: 150 } }, 400, 'body.policy.gracePercent'],
      [{ window: 'monthly', limit: 10, policy: { mode: 'panic' } }, 400, 'body.policy.mode'],
      [
        { window: 'monthly', limit: 10, policy: { alertThresholds: [0] } },
        400,
        'body.policy.alertThresholds.0',
      ],
      [{ window: 'monthly', limit: 10, owner: 'me' }, 400, 'body.owner'],
    ];

    // Act
    const replies = await Promise.all(bodies.map(([body]) => putLimits(body)));
    const infinite = await h.call('PUT', '/budgets/limits', {
      token: admin,
      rawBody: '{"window":"monthly","limit":1e999}',
      headers: { 'content-type': 'application/json' },
    });
    const past = await putLimits({ window: 'monthly', limit: 10, effectiveFrom: '2020-01-01T00:00:00Z' });
    const tooLarge = await putLimits({ window: 'monthly', limit: 10, note: 'x'.repeat(9000) });

    // Assess
    replies.forEach((reply, index) => {
      const [, status, path] = bodies[index] ?? [];
      expectUniformError(reply, status ?? 0, 'validation_failed');
      expect(reply.json.details.issues.map((issue: { path: string }) => issue.path)).toContain(path);
    });
    expectUniformError(infinite, 400, 'validation_failed');
    expectUniformError(past, 422, 'window_in_past');
    expectUniformError(tooLarge, 413, 'payload_too_large');
    expect(withoutProjection(await state())).toEqual(withoutProjection(before));
  });

  it('lets only an admin set a budget: a viewer and an operator get 403, and nothing changes', async () => {
    const before = await state();

    const viewer = await putLimits({ window: 'daily', limit: 1 }, h.tokens.acmeViewer);
    const byOperator = await putLimits({ window: 'daily', limit: 1 }, operator);
    const read = await h.call('GET', '/budgets/state', { token: h.tokens.acmeViewer });

    expectUniformError(viewer, 403);
    expectUniformError(byOperator, 403);
    expect(read.status).toBe(200);
    expect(withoutProjection(await state())).toEqual(withoutProjection(before));
  });

  it('never lets one tenant read or change another’s budget', async () => {
    // Prepare
    const before = await state();
    const globexAdmin = h.tokens.globexAdmin ?? '';

    // Act
    const named = await putLimits({ tenantId: 'acme', window: 'daily', limit: 1 }, globexAdmin);
    const header = await putLimits({ window: 'daily', limit: 1 }, globexAdmin, {
      'X-Conductor-Tenant': 'acme',
    });
    const fromAcme = await putLimits({ tenantId: 'globex', window: 'daily', limit: 1 });
    const peek = await h.call('GET', '/budgets/state', {
      token: h.tokens.globexViewer,
      headers: { 'X-Conductor-Tenant': 'acme' },
    });
    const globexState = await state(h.tokens.globexViewer);

    // Assess
    expectUniformError(named, 403, 'tenant_mismatch');
    expectUniformError(header, 403, 'policy_denied');
    expect(header.json.details.obligations).toContain('request_approval');
    expectUniformError(fromAcme, 403, 'tenant_mismatch');
    expectUniformError(peek, 403, 'policy_denied');
    expect(globexState).toEqual({ tenantId: 'globex', budgets: [] });
    expect(withoutProjection(await state())).toEqual(withoutProjection(before));
  });
});

describe('the requirements’ scenario: throttle on budget breach', () => {
  /** A tenant of its own, so no other test's budget takes part. */
  let initechAdmin: string;
  let initechOperator: string;
  beforeAll(async () => {
    initechAdmin = await h.conductor.issuer.mint({
      subject: 'initech-admin',
      tenant: 'initech',
      roles: ['tenant-admin'],
      amr: ['pwd', 'mfa'],
    });
    initechOperator = await h.conductor.issuer.mint({
      subject: 'initech-operator',
      tenant: 'initech',
      roles: ['operator'],
    });
  });

  it('monthly $1000 with 10 % grace: once the projected spend reaches $1100, low work gets 429 with Retry-After within a second, high work keeps flowing, and budget_breach is recorded', async () => {
    // Prepare: the budget, and finished spend that projects to about $1000 (state warning).
    const put = await putLimits(
      { window: 'monthly', limit: 1000, policy: { gracePercent: 10 } },
      initechAdmin,
    );
    expect(put.status, put.text).toBe(200);
    const [initial] = (await state(initechAdmin)).budgets.filter((budget) => budget.window === 'monthly');
    const start = Date.parse(String(initial?.start));
    const end = Date.parse(String(initial?.end));
    const elapsed = Math.max((Date.now() - start) / (end - start), 0.1);
    await spend(Math.floor(1000 * elapsed * 100) / 100, initechOperator);
    const warned = (await state(initechAdmin)).budgets.find((budget) => budget.window === 'monthly');
    expect(warned).toMatchObject({ state: 'warning', thresholdsReached: [50, 80] });
    const lowBefore = await enqueue({ queue: 'batch', payload: { n: 1 } }, initechOperator);
    expect(lowBefore.status, lowBefore.text).toBe(202);
    expect(lowBefore.headers.get('x-conductor-budget-state')).toBe('warning');

    // Act: more finished spend takes the projection past $1100; the API sees it within a second
    // (it decides ceilings on the ledger as its last write left it for LEDGER_STATE_TTL_MS).
    await spend(Math.ceil(150 * elapsed * 100) / 100, initechOperator);
    await new Promise((resolve) => setTimeout(resolve, LEDGER_STATE_TTL_MS));
    const low = await enqueue({ queue: 'batch', payload: { n: 2 }, estimatedCostUsd: 0.5 }, initechOperator);
    const high = await enqueue(
      { queue: 'interactive', payload: { n: 3 }, estimatedCostUsd: 0.5 },
      initechOperator,
    );
    const after = (await state(initechAdmin)).budgets.find((budget) => budget.window === 'monthly');

    // Assess
    expect(after).toMatchObject({ state: 'budget-throttled', limitUsd: 1000, capUsd: 1100 });
    expect(after?.projectedUsd).toBeGreaterThanOrEqual(1100);
    expectUniformError(low, 429, 'budget_throttled');
    expect(Number(low.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(low.headers.get('x-conductor-budget-state')).toBe('budget-throttled');
    expect(low.json.details).toMatchObject({ window: 'monthly', priority: 'low', state: 'budget-throttled' });
    expect(high.status, high.text).toBe(202);
    expect(high.json).toMatchObject({ priority: 'high', budgetState: 'budget-throttled' });
    const recorded = breaches('initech').filter((detail) => detail.window === 'monthly');
    expect(recorded.map((detail) => detail.threshold).sort()).toEqual(['100%', '50%', '80%', 'breach']);
    expect(recorded.find((detail) => detail.threshold === 'breach')).toMatchObject({
      action: 'throttle',
      mode: 'throttle',
      limitUsd: 1000,
      windowId: initial?.windowId,
    });
  });

  it('publishes each threshold once per window, however many jobs follow', async () => {
    const before = breaches('initech').length;

    for (let i = 0; i < 3; i += 1)
      await enqueue({ queue: 'interactive', payload: { again: i } }, initechOperator);
    await drainJobs();

    expect(breaches('initech')).toHaveLength(before);
  });
});

describe('jobs: GET scheduler/jobs/{jobId} and the tenant’s job list', () => {
  it('shows a job’s status, priority and cost to its tenant, and nothing to another', async () => {
    // Prepare
    const accepted = await enqueue({ queue: 'interactive', payload: { look: 1 }, estimatedCostUsd: 0.25 });
    expect(accepted.status, accepted.text).toBe(202);
    await drainJobs();

    // Act
    const own = await h.call('GET', `/scheduler/jobs/${accepted.json.jobId}`, { token: h.tokens.acmeViewer });
    const other = await h.call('GET', `/scheduler/jobs/${accepted.json.jobId}`, {
      token: h.tokens.globexViewer,
    });
    const badId = await h.call('GET', '/scheduler/jobs/not-a-job', { token: h.tokens.acmeViewer });

    // Assess
    expect(own.status, own.text).toBe(200);
    expect(own.json).toMatchObject({
      jobId: accepted.json.jobId,
      queue: 'interactive',
      status: 'completed',
      priority: 'high',
      requestedPriority: 'high',
      payload: { look: 1 },
      estimatedCostUsd: 0.25,
      costUsd: 0.25,
      budgetWindows: [expect.stringMatching(/^weekly:\d{4}-W\d{2}$/)],
    });
    expectUniformError(other, 404, 'job_not_found');
    expectUniformError(badId, 400, 'validation_failed');
  });

  it('pages through the tenant’s jobs and lists none of another tenant’s', async () => {
    for (let i = 0; i < 4; i += 1) {
      const reply = await enqueue({ payload: { page: i } });
      expect(reply.status, reply.text).toBe(202);
    }

    const first = await h.call('GET', '/scheduler/jobs?limit=2', { token: h.tokens.acmeViewer });
    const second = await h.call(
      'GET',
      `/scheduler/jobs?limit=2&cursor=${encodeURIComponent(first.json.nextCursor)}`,
      {
        token: h.tokens.acmeViewer,
      },
    );
    const globex = await h.call('GET', '/scheduler/jobs', { token: h.tokens.globexViewer });

    expect(first.json.items).toHaveLength(2);
    expect(first.json.nextCursor).toEqual(expect.any(String));
    expect(second.json.items).toHaveLength(2);
    const ids = [...first.json.items, ...second.json.items].map((job: { jobId: string }) => job.jobId);
    expect(new Set(ids).size).toBe(4);
    expect(globex.json.items).toEqual([]);
  });
});

describe('POST budgets/what-if', () => {
  const trace = Array.from({ length: 10 }, (_, i) => ({
    at: new Date(Date.parse('2026-12-01T08:00:00Z') + i * 600_000).toISOString(),
    priority: 'high',
    estimatedCostUsd: 1,
  }));

  it('replays a synthetic trace against a policy and changes nothing of the tenant’s budgets', async () => {
    // Prepare
    const before = await state();

    // Act
    const reply = await h.call('POST', '/budgets/what-if', {
      token: h.tokens.acmeViewer,
      body: { budget: { window: 'daily', limit: 5, policy: { gracePercent: 10 } }, trace },
    });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toMatchObject({ jobs: 10, admitted: 5, throttled: 5, spentUsd: 5 });
    expect(reply.json.windows).toEqual([
      { windowId: 'daily:2026-12-01', admitted: 5, refused: 5, spentUsd: 5, breachedAt: expect.any(String) },
    ]);
    // Nothing stored changed; the projection moves with the clock (spend extrapolated to the window's end).
    const after = await state();
    expect(withoutProjection(after)).toEqual(withoutProjection(before));
    after.budgets.forEach((budget, i) => {
      expect(budget.projectedUsd as number).toBeCloseTo(before.budgets[i]?.projectedUsd as number, 3);
    });
  });

  it('replays the tenant’s recorded jobs, and only its own', async () => {
    // Prepare: globex records three jobs of $2.
    const globexOperator = await h.conductor.issuer.mint({
      subject: 'globex-operator-whatif',
      tenant: 'globex',
      roles: ['operator'],
    });
    const from = new Date(Date.now() - 60_000).toISOString();
    for (let i = 0; i < 3; i += 1) {
      const reply = await enqueue({ payload: { whatIf: i }, estimatedCostUsd: 2 }, globexOperator);
      expect(reply.status, reply.text).toBe(202);
    }
    await drainJobs();
    const to = new Date(Date.now() + 60_000).toISOString();

    // Act: a $3 daily limit, no grace, would have let one of them through.
    const reply = await h.call('POST', '/budgets/what-if', {
      token: h.tokens.globexViewer,
      body: { budget: { window: 'daily', limit: 3 }, recorded: { from, to } },
    });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toMatchObject({ jobs: 3, admitted: 1, throttled: 2, spentUsd: 2 });
  });

  it('refuses a request with neither or both of trace and recorded, and a bad trace, with a 400', async () => {
    const budget = { window: 'daily', limit: 5 };
    const bodies = [
      { budget },
      { budget, trace, recorded: { from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' } },
      { budget, trace: [{ at: 'yesterday', estimatedCostUsd: 1 }] },
      { budget, trace: [{ at: '2026-12-01T00:00:00Z', estimatedCostUsd: -1 }] },
      { budget: { window: 'daily', limit: -5 }, trace },
    ];

    const replies = await Promise.all(
      bodies.map((body) => h.call('POST', '/budgets/what-if', { token: h.tokens.acmeViewer, body })),
    );

    for (const reply of replies) expectUniformError(reply, 400, 'validation_failed');
  });
});
